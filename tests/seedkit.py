"""The seed (onesecondtrader 0.75.0, in the test extra) as the tests use it: runs recorded by its
own orchestrator into a runs.db, and its own dashboard server reading the files tickbus writes.

Everything of the seed runs in a child process: its components are non-daemon threads, and its
dashboard reads its paths from the environment at import time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import pytest
from proctools import free_port

ROOT = Path(__file__).resolve().parents[1]


def require_seed() -> None:
    if find_spec("onesecondtrader") is None:
        pytest.skip("onesecondtrader 0.75.0 is not installed (it is in the test extra: pip install -e '.[test]')")


RUN_SEED = r'''
import json, sys
from onesecondtrader import models
from onesecondtrader.brokers.simulated import SimulatedBroker
from onesecondtrader.datafeeds.simulated import SimulatedDatafeed
from onesecondtrader.orchestrator import Orchestrator
from onesecondtrader.strategies.base import ParamSpec
from onesecondtrader.strategies.examples import SMACrossover

a = json.loads(sys.argv[1])
strategies = []
for i, (fast, slow) in enumerate(a["smas"]):
    params = dict(SMACrossover.parameters)
    params.update(bar_period=ParamSpec(default=models.BarPeriod[a["bar_period"]]),
                  fast_period=ParamSpec(default=fast), slow_period=ParamSpec(default=slow))
    # as the seed's dashboard configures a run: type() subclasses with new class attributes
    strategies.append(type(f"_ConfiguredSMA{i}", (SMACrossover,), {
        "symbols": a["symbols"], "parameters": params, "name": f"SMA {fast}/{slow}"}))
feed = type("ConfiguredDatafeed", (SimulatedDatafeed,), {
    "db_path": a["secmaster"], "publisher_name": a["publisher"], "dataset": a["dataset"],
    "symbol_type": a["symbol_type"]})
broker = type("Broker", (SimulatedBroker,), {"commission_per_unit": a["commission"]})
orch_cls = type("ConfiguredOrchestrator", (Orchestrator,), {
    "db_path": a["runs_db"], "start_date": a["start_date"], "end_date": a["end_date"]})
orch = orch_cls(strategies=strategies, broker=broker, datafeed=feed)
orch.run()
print(orch.run_id)
'''


def seed_run(
    secmaster: Path,
    runs_db: Path,
    symbols: list[str],
    smas: list[tuple[int, int]] = [(5, 20)],  # noqa: B006 - read only
    *,
    start_date: str = "2024-01-02",
    end_date: str = "2024-01-02",
    commission: float = 0.01,
    bar_period: str = "MINUTE",
    publisher: str = "tickbus",
    dataset: str = "SAMPLE",
    symbol_type: str = "raw_symbol",
) -> str:
    """Record one backtest with the seed's own orchestrator (its SMA crossover example, one
    strategy per (fast, slow)); returns the seed's run id."""
    args = {
        "secmaster": str(secmaster), "runs_db": str(runs_db), "symbols": symbols, "smas": smas,
        "start_date": start_date, "end_date": end_date, "commission": commission, "bar_period": bar_period,
        "publisher": publisher, "dataset": dataset, "symbol_type": symbol_type,
    }
    out = subprocess.run([sys.executable, "-c", RUN_SEED, json.dumps(args)], capture_output=True, text=True,
                         timeout=120, cwd=runs_db.parent)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().splitlines()[-1]


@dataclass
class SeedDashboard:
    url: str

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def get(self, path: str) -> Any:
        status, body = self.call("GET", path)
        assert status == 200, (path, status, body)
        return body


@contextmanager
def seed_dashboard(runs_db: Path, secmaster: Path, presets_db: Path, workdir: Path) -> Iterator[SeedDashboard]:
    """The seed's own dashboard server (FastAPI under uvicorn) on the given files."""
    port = free_port()
    env = dict(os.environ, RUNS_DB_PATH=str(runs_db), SECMASTER_DB_PATH=str(secmaster), PRESETS_DB_PATH=str(presets_db))
    log = open(workdir / "seed-dashboard.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "onesecondtrader.dashboard.app:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    dash = SeedDashboard(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if dash.call("GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the seed's dashboard did not start:\n{(workdir / 'seed-dashboard.log').read_text()}")
            time.sleep(0.2)
        yield dash
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def build_continuous(secmaster: Path, publisher_id: int, root: str) -> int:
    """The seed's own continuous-contract builder (calendar roll, `ROOT.c.0`); entries made."""
    code = ("import pathlib, sys; from onesecondtrader.secmaster.continuous import build_continuous_symbology as b;"
            " print(b(pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], 'c'))")
    out = subprocess.run([sys.executable, "-c", code, str(secmaster), str(publisher_id), root],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return int(out.stdout.strip().splitlines()[-1])


def futures_secmaster(root: Path) -> Path:
    """ESH4 and ESM4 as daily and 6-hourly bars (imported by tickbus, 2024-03-11 .. 03-22), plus
    the front-month continuous contract ES.c.0 built by the seed's tools (rolling on 2024-03-15)."""
    import datetime as dt

    db = root / "secmaster.db"
    for period, step in (("1d", dt.timedelta(days=1)), ("1h", dt.timedelta(hours=6))):
        rows = ["timestamp,symbol,open,high,low,close,volume"]
        t = dt.datetime(2024, 3, 11, tzinfo=dt.timezone.utc)
        while t < dt.datetime(2024, 3, 23, tzinfo=dt.timezone.utc):
            for sym, base in (("ESH4", 5100.0), ("ESM4", 5200.0)):
                c = base + t.day + t.hour / 100
                rows.append(f"{t.isoformat().replace('+00:00', 'Z')},{sym},{c},{c + 2},{c - 2},{c + 1},{1000 + t.day}")
            t += step
        csv = root / f"es_{period}.csv"
        csv.write_text("\n".join(rows) + "\n")
        r = subprocess.run([sys.executable, "-m", "orchestrator.cli", "secmaster", "import-csv", str(csv), "--db", str(db),
                            "--publisher", "databento", "--dataset", "GLBX.MDP3", "--bar-period", period],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
    import sqlite3

    with sqlite3.connect(db) as conn:
        [pid] = conn.execute("SELECT publisher_id FROM publishers").fetchone()
    assert build_continuous(db, pid, "ES") == 2
    return db
