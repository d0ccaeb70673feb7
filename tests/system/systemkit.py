"""Helpers for multi-process system tests: run inspection and orphan checks."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from proctools import processes_mentioning  # noqa: F401  (re-exported to the tests)

from recorder.tables import TABLES, WALL_CLOCK_COLUMNS

HERE = Path(__file__).resolve().parent
EXERCISER = f"{HERE / 'exerciser.py'}"


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
