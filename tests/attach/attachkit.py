"""Helpers for attach/monitor tests: `tickbus` subprocesses, waiting on live runs, orphan checks."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from proctools import kill_hard, processes_mentioning  # noqa: F401  (processes_mentioning: re-exported to the tests)

from orchestrator.rundir import RunInfo, live_runs

HERE = Path(__file__).resolve().parent
STRATEGIES = HERE / "strategies.py"


class Cli:
    """Every `tickbus` process a test starts; cleanup SIGCONTs and SIGKILLs stragglers."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        p = subprocess.Popen([sys.executable, "-m", "orchestrator.cli", *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                             env={**os.environ, **(env or {})})
        self.procs.append(p)
        return p

    def run(self, *args: str, timeout: float = 30, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        p = self.start(*args, env=env)
        out, err = p.communicate(timeout=timeout)
        return subprocess.CompletedProcess(p.args, p.returncode, out, err)

    def cleanup(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                kill_hard(p.pid)
                p.communicate(timeout=10)


def finish(p: subprocess.Popen[str], timeout: float = 30) -> tuple[int, str, str]:
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def last_json(text: str) -> dict[str, Any]:
    return json.loads(text.strip().splitlines()[-1])


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0, every: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


def wait_live(n: int = 1, timeout: float = 45.0, runs: Sequence[subprocess.Popen[str]] = ()) -> list[RunInfo]:
    """Until n runs are live (a generous bound: CI's first test starts cold). On timeout, what the
    `runs` (their `tickbus run` processes) said, if they ended."""
    try:
        return wait_for(f"{n} live run(s)", lambda: (lambda r: r if len(r) >= n else None)(live_runs(clean=False)), timeout)
    except AssertionError as exc:
        said = [f"pid {p.pid}: rc={p.poll()} {(p.communicate(timeout=5)[1] or '')[-800:] if p.poll() is not None else 'running'}"
                for p in runs]
        raise AssertionError(f"{exc}; live: {[r.run_id for r in live_runs(clean=False)]}; " + "; ".join(said)) from None


def members(info: RunInfo) -> dict[str, Any]:
    from bus import ControlClient

    try:
        with ControlClient(info.endpoints, timeout=2.0) as ctl:
            return ctl.members()
    except Exception:  # noqa: BLE001 - the bus is starting or gone
        return {}


def market_messages(info: RunInfo) -> int:
    """Timestamps the datafeed has published so far (bus counters); -1 if the bus does not answer."""
    from bus import ControlClient

    try:
        with ControlClient(info.endpoints, timeout=2.0) as ctl:
            return int(ctl.stats()["topics"].get("BarReceived.feed.", {}).get("messages", 0))
    except Exception:  # noqa: BLE001
        return -1


def config(db: Path, run_id: str) -> dict[str, Any]:
    conn = sqlite3.connect(db)
    try:
        return json.loads(conn.execute("SELECT config FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0])
    finally:
        conn.close()


def query(db: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


