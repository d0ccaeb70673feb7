"""Helpers for multi-process system tests: run inspection and orphan checks."""

from __future__ import annotations

import sqlite3
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
