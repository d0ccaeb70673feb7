"""The recorder's confirmation: what it wrote, and into which file.

A run is reported completed only if this holds: the recorder confirms (after its last write) how
many events it stored and the identity (device, inode) of the runs database it stored them in,
and the orchestrator finds that same file at its path, holding that many events of the run. A
runs.db deleted or replaced during the run, or a recorder that ended without confirming, fails
the run instead of reporting success over lost events. Multi-process, the confirmation travels
as recorded.json in the run directory (bus/run_contract.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def file_identity(path: str | os.PathLike[str]) -> tuple[int, int]:
    """(device, inode) of the file at `path`: OSError if there is none."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


def confirmation(run_id: str, db_path: str | os.PathLike[str], identity: tuple[int, int], rows: int) -> dict[str, Any]:
    return {"run_id": run_id, "db": str(Path(db_path).absolute()), "dev": identity[0], "ino": identity[1], "rows": rows}


def read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check(conf: dict[str, Any] | None, db_path: str | os.PathLike[str], run_id: str) -> str | None:
    """Why the run cannot be reported completed, or None when every event is where it belongs."""
    from recorder import runsdb

    if conf is None:
        return "the recorder ended without confirming what it recorded"
    if conf.get("run_id") != run_id:
        return f"the recorder confirmed run {conf.get('run_id')!r}, not {run_id!r}"
    try:
        identity = file_identity(db_path)
    except OSError:
        return f"{db_path} is gone: it was deleted during the run, with every event the recorder wrote"
    if identity != (conf.get("dev"), conf.get("ino")):
        return f"{db_path} is not the file the recorder wrote into: it was replaced during the run"
    conn = runsdb.connect(Path(db_path), create=False)
    try:
        stored = runsdb.count_events(conn, run_id)[1]
    finally:
        conn.close()
    if stored != conf.get("rows"):
        return f"{db_path} holds {stored:,} events of the run; the recorder wrote {conf.get('rows'):,}"
    return None
