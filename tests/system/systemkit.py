"""Helpers for multi-process system tests: run inspection and orphan checks."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from proctools import processes_mentioning  # noqa: F401  (re-exported to the tests)

from components import SimulatedBroker
from components.datafeed import SimulatedDatafeed
from components.spec import configured
from orchestrator.orchestrator import Orchestrator
from recorder.tables import TABLES, WALL_CLOCK_COLUMNS

HERE = Path(__file__).resolve().parent
EXERCISER = f"{HERE / 'exerciser.py'}"
ADVERSARIES = f"{HERE / 'adversaries.py'}"


def make_orchestrator(secmaster: Path, runs_db: Path, strategies: list[type], *, in_process: bool = False,
                      broker: type = SimulatedBroker, **attrs: Any) -> Orchestrator:
    """A run of the sample publisher/dataset, commission 0.01 per unit; `attrs` configure the
    Orchestrator (transport, broker_in_bus, ...)."""
    feed = configured(SimulatedDatafeed, db_path=str(secmaster), publisher_name="tickbus", dataset="SAMPLE")
    orch_cls = configured(Orchestrator, db_path=str(runs_db), **attrs)
    return orch_cls(strategies, configured(broker, commission_per_unit=0.01), feed, in_process=in_process)


def recorded_events(db: Path, run_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows for a run, wall-clock columns dropped, in a canonical order (rows of
    different strategies at the same market time may be written in either order)."""
    conn = sqlite3.connect(db)
    out = {}
    for table in TABLES.values():
        cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] not in WALL_CLOCK_COLUMNS]
        rows = conn.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE run_id = ?", (run_id,)).fetchall()
        out[table] = sorted(rows, key=repr)
    conn.close()
    return out


def strategy_events(db: Path, run_id: str, strategy_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """What `recorded_events` gives, restricted to one strategy's rows (tables with a strategy id)."""
    conn = sqlite3.connect(db)
    out = {}
    for table in TABLES.values():
        all_cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        if "strategy_id" not in all_cols:
            continue
        cols = [c for c in all_cols if c not in WALL_CLOCK_COLUMNS and c not in ("id", "run_id")]
        rows = conn.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE run_id = ? AND strategy_id = ?",
                            (run_id, strategy_id)).fetchall()
        out[table] = sorted(rows, key=repr)
    conn.close()
    return out


class Background:
    """orch.run() in a thread, so the test can hurt its processes meanwhile."""

    def __init__(self, orch: Any) -> None:
        self.orch = orch
        self.result: Any = None
        self.ended_at = 0.0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        self.result = self.orch.run()
        self.ended_at = time.time()

    def child(self, name: str) -> Any:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            run = self.orch.process_run
            progress = run is not None and (run.run_dir / "progress.json").exists()
            if progress:
                return next(c for c in run.children if c.name == name)
            time.sleep(0.02)
        raise AssertionError("the replay did not start")

    def wait(self) -> Any:
        self.thread.join(60)
        assert not self.thread.is_alive(), "the run did not end"
        return self.result
