"""Helpers of the dashboard tests: a real dashboard server (`tickbus dashboard` in a child process on a
free port) over tiny data, its HTTP calls, the test strategies' file, waits. Here, not in conftest:
`conftest` is whichever folder's pytest loaded last."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from proctools import free_port

FINAL = ("completed", "failed", "cancelled")

STRATEGIES = textwrap.dedent('''
    """Test strategies: every parameter kind the form generates, a slow one and a crashing one."""
    import enum
    import time

    from components import OrderType, ParamSpec, StrategyBase, TradeSide
    from components.indicators import SimpleMovingAverage


    class Mode(enum.Enum):
        TREND = 1
        REVERT = 2


    class Knobs(StrategyBase):
        """Trades closes against an SMA; `delay_ms` slows every bar, `crash_at` raises at that bar."""

        name = "Knobs"
        parameters = {
            "period": ParamSpec(default=10, min=2, max=50, step=1),
            "quantity": ParamSpec(default=1.0, min=0.5, max=10.0, step=0.5),
            "long_only": ParamSpec(default=True),
            "mode": ParamSpec(default=Mode.TREND),
            "size_class": ParamSpec(default="small", choices=["small", "large"]),
            "delay_ms": ParamSpec(default=0, min=0, max=1000),
            "crash_at": ParamSpec(default=0, min=0),
        }

        def setup(self):
            self.sma = self.add_indicator(SimpleMovingAverage(period=self.period))
            self.seen = 0

        def on_bar(self, bar):
            self.seen += 1
            if self.crash_at and self.seen >= self.crash_at:
                raise RuntimeError(f"knobs crashed on purpose at bar {self.seen}")
            if self.delay_ms:
                time.sleep(self.delay_ms / 1000)
            above = bar.close > self.sma.latest(bar.symbol)
            if self.mode is Mode.REVERT:
                above = not above
            if above and self.position <= 0:
                self.submit_order(OrderType.MARKET, TradeSide.BUY, self.quantity - self.position)
            elif not above and self.position > 0:
                qty = self.position if self.long_only else self.position + self.quantity
                self.submit_order(OrderType.MARKET, TradeSide.SELL, qty)
''')


@dataclass
class Dashboard:
    url: str
    runs_db: Path
    strategies: Path
    state_dir: Path
    pid: int = 0  # the server's

    def call(self, method: str, path: str, body: Any = None, timeout: float = 30.0) -> tuple[int, Any]:
        data = json.dumps(body if body is not None else {}).encode() if method in ("POST", "PUT", "DELETE") else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw, status = r.read(), r.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode()

    def get(self, path: str) -> Any:
        status, body = self.call("GET", path)
        assert status == 200, (path, status, body)
        return body

    def knobs_key(self) -> str:
        return f"{self.strategies.resolve() / 'test_strats.py'}:Knobs"

    def wait(self, key: str, statuses: tuple[str, ...], timeout: float = 60.0) -> dict[str, Any]:
        return self.wait_for(f"/api/runs/{key}", key, statuses, timeout)

    def wait_for(self, path: str, what: str, statuses: tuple[str, ...], timeout: float) -> dict[str, Any]:
        """GET `path` until its status is one of `statuses` (bounded)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.get(path)
            if got["status"] in statuses:
                return got  # type: ignore[no-any-return]
            assert time.monotonic() < deadline, f"{what} still {got['status']} after {timeout} s"
            time.sleep(0.2)


@contextmanager
def serve(root: Path, secmaster: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[tuple[Dashboard, subprocess.Popen[bytes]]]:
    """`tickbus dashboard` on ROOT/runs.db in a child process, until the block ends (Ctrl-C, bounded);
    `env`: added to its environment."""
    strategies = root / "strategies"
    port = free_port()
    log = open(root / "dashboard.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "dashboard", "--runs-db", str(root / "runs.db"),
         "--secmaster", str(secmaster), "--port", str(port), *args],
        stdout=log, stderr=subprocess.STDOUT, cwd=root, env={**os.environ, **(env or {})},
    )
    dash = Dashboard(f"http://127.0.0.1:{port}", root / "runs.db", strategies, root / "runs.db.dashboard", proc.pid)
    deadline = time.monotonic() + 20
    while True:
        try:
            if dash.call("GET", "/health", timeout=1)[0] == 200:
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the dashboard did not start:\n{(root / 'dashboard.log').read_text()}")
        time.sleep(0.1)
    try:
        yield dash, proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


SWEEP_TAG = f"dashboard-sweeps-{os.getpid()}"  # each pytest worker starts a sweep dashboard of its own


def wait_sweep(dash: Dashboard, key: str, statuses: tuple[str, ...], timeout: float = 90.0) -> dict[str, Any]:
    return dash.wait_for(f"/api/sweeps/{key}", f"sweep {key}", statuses, timeout)


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True
