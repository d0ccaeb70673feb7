"""Helpers for multi-process system tests: run inspection and orphan checks."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from recorder.tables import TABLES, WALL_CLOCK_COLUMNS

HERE = Path(__file__).resolve().parent
EXERCISER = f"{HERE / 'exerciser.py'}"


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention `text` (a run dir): orphans if any."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        cmd = raw.replace(b"\0", b" ").decode(errors="replace")
        if text in cmd and int(pid) != os.getpid():
            found.append(f"{pid}: {cmd}")
    return found


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
