"""The runs database: opening it, run ids, and the run row's life cycle.

The schema is onesecondtrader's (runs + one table per event type) plus `strategy_id` columns; see
runs_schema.sql. WAL lets readers (reports, the dashboard) read while a run is being recorded.

A runs.db onesecondtrader made lacks tickbus's columns. Opened to write (`connect`), it is upgraded in
place: the missing tables and columns are added (nullable, so onesecondtrader's own code keeps writing
and reading it) and the schema version is bumped; every seed row stays. Opened to read
(`connect_readonly`), nothing is written: temporary views in the connection supply the missing
columns as NULL, so every reader sees one layout.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2
NS_PER_DAY = 86_400 * 1_000_000_000
MIN_FREE_BYTES = 1 << 20  # a run needs room for at least its run row, its journal and a first batch
STATUSES = ("running", "completed", "failed", "cancelled")


class RunsDbError(Exception):
    """The file is not a runs database tickbus can use."""


def schema_sql() -> str:
    return resources.files("recorder").joinpath("runs_schema.sql").read_text()


def connect(path: str | Path, *, create: bool = True, timeout: float = 30.0) -> sqlite3.Connection:
    """Open (and if needed create, or upgrade) a runs database with WAL and foreign keys on."""
    p = Path(path)
    if not create and not p.exists():
        raise RunsDbError(f"{p}: no such runs database")
    if create:
        p.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(str(p), timeout=timeout, isolation_level=None)
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.OperationalError as exc:  # locked, unreadable, a folder that cannot be created
        raise RunsDbError(f"{p}: cannot open: {exc}") from None
    except sqlite3.DatabaseError as exc:
        raise RunsDbError(f"{p}: not a runs database ({exc})") from None
    version, tables = _inspect(p, conn)
    if not tables:
        if not create:
            conn.close()
            raise RunsDbError(f"{p}: empty file, not a runs database")
        _while_locked(p, conn, timeout, lambda: (conn.execute("PRAGMA journal_mode = WAL"), conn.executescript(schema_sql())))
    else:
        if version < SCHEMA_VERSION:
            _while_locked(p, conn, timeout, lambda: _upgrade(conn), f"upgrading it from schema version {version} to {SCHEMA_VERSION}")
        elif set(_reference()) - tables:  # a table added to the schema since the file was made (all optional)
            _while_locked(p, conn, timeout, lambda: _upgrade(conn), "adding the tables it lacks")
        _while_locked(p, conn, timeout, lambda: conn.execute("PRAGMA journal_mode = WAL"))
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def connect_readonly(path: str | Path, *, timeout: float = 30.0) -> sqlite3.Connection:
    """Open an existing runs database for reading only: the file is never written, whichever
    tool made it (a seed-made file is read through views that add tickbus's columns as NULL)."""
    p = Path(path)
    if not p.is_file():
        raise RunsDbError(f"{p}: no such runs database")
    try:
        conn = sqlite3.connect(p.absolute().as_uri() + "?mode=ro", uri=True, timeout=timeout, isolation_level=None)
    except sqlite3.DatabaseError as exc:
        raise RunsDbError(f"{p}: cannot open ({exc})") from None
    _, tables = _inspect(p, conn)
    if not tables:
        conn.close()
        raise RunsDbError(f"{p}: empty file, not a runs database")
    lacking_tables, lacking_columns = _lacking(conn)
    ref = _reference()
    for table, cols in lacking_columns.items():
        extra = ", ".join(f"NULL AS {name}" for name, _ in cols)
        conn.execute(f"CREATE TEMP VIEW {table} AS SELECT *, {extra} FROM main.{table}")
    for table in lacking_tables:
        nulls = ", ".join(f"NULL AS {name}" for name, _ in ref[table].columns)
        conn.execute(f"CREATE TEMP VIEW {table} AS SELECT {nulls} WHERE 0")
    return conn


def _inspect(p: Path, conn: sqlite3.Connection) -> tuple[int, set[str]]:
    """(schema version, tables) of a file that may be a runs database; RunsDbError if it is not."""
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = {r[0] for r in conn.execute("SELECT name FROM main.sqlite_master WHERE type='table'")}
    except sqlite3.OperationalError as exc:  # locked, unreadable
        conn.close()
        raise RunsDbError(f"{p}: cannot open: {exc}") from None
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise RunsDbError(f"{p}: not a runs database ({exc})") from None
    if version > SCHEMA_VERSION:
        conn.close()
        raise RunsDbError(f"{p}: runs database schema version {version} is newer than this tickbus ({SCHEMA_VERSION})")
    if tables and "runs" not in tables:
        conn.close()
        raise RunsDbError(f"{p}: not a runs database (no 'runs' table)")
    return version, tables


@dataclass(frozen=True)
class _Table:
    create: str
    columns: tuple[tuple[str, str], ...]  # (name, declared type)
    indexes: tuple[str, ...]
    of_run: bool  # its rows belong to a run (run_id REFERENCES runs): deleted with it


@functools.cache
def _reference() -> dict[str, _Table]:
    """Every table of runs_schema.sql as SQLite itself describes it (from an in-memory copy)."""
    mem = sqlite3.connect(":memory:")
    try:
        mem.executescript(schema_sql())
        out = {}
        for name, create in mem.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall():
            cols = tuple((r[1], r[2]) for r in mem.execute(f"PRAGMA table_info({name})"))
            idx = tuple(r[0] for r in mem.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", (name,)))
            of_run = any(r[2] == "runs" for r in mem.execute(f"PRAGMA foreign_key_list({name})"))
            out[name] = _Table(create, cols, idx, of_run)
        return out
    finally:
        mem.close()


def reference_tables() -> dict[str, _Table]:
    """Every table of the schema: its CREATE statement, columns, indexes, and whether its rows
    belong to a run."""
    return _reference()


def _lacking(conn: sqlite3.Connection) -> tuple[list[str], dict[str, list[tuple[str, str]]]]:
    """Tables of the schema the file lacks, and the columns its tables lack."""
    have = {r[0] for r in conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")}
    tables: list[str] = []
    columns: dict[str, list[tuple[str, str]]] = {}
    for name, table in _reference().items():
        if name not in have:
            tables.append(name)
            continue
        present = {r[1] for r in conn.execute(f"PRAGMA main.table_info({name})")}
        missing = [c for c in table.columns if c[0] not in present]
        if missing:
            columns[name] = missing
    return tables, columns


def _upgrade(conn: sqlite3.Connection) -> None:
    """Add what the schema has and the file lacks, in one transaction (re-checked under the write
    lock, so two processes upgrading at once add each column once)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        tables, columns = _lacking(conn)
        ref = _reference()
        for name in tables:
            conn.execute(ref[name].create)
            for index in ref[name].indexes:
                conn.execute(index)
        for name, cols in columns.items():
            for column, declared in cols:
                conn.execute(f"ALTER TABLE {name} ADD COLUMN {column} {declared}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def check_usable(path: str | Path) -> None:
    """RunsDbError (one line naming the file) unless a run can be recorded at `path`: an existing
    file must be a runs database this tickbus reads, readable and writable, and the folder must
    take SQLite's journal files, on a writable filesystem with space left."""
    p = Path(path)
    folder = p.parent if str(p.parent) else Path(".")
    while not folder.exists() and folder != folder.parent:  # connect() creates missing folders
        folder = folder.parent
    if p.exists():
        if not p.is_file():
            raise RunsDbError(f"{p}: not a file")
        if not os.access(p, os.R_OK | os.W_OK):
            raise RunsDbError(f"{p}: read-only (a run needs to write to it)")
        if p.stat().st_size:
            connect(p, create=False, timeout=1.0).close()  # is it a runs database at all?
    try:
        fs = os.statvfs(folder)
    except OSError as exc:
        raise RunsDbError(f"{p}: cannot use folder {folder}: {exc.strerror}") from None
    if fs.f_flag & os.ST_RDONLY:
        raise RunsDbError(f"{p}: {folder} is on a read-only filesystem")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise RunsDbError(f"{p}: folder {folder} is not writable (SQLite keeps its journal files beside the database)")
    if fs.f_bavail * fs.f_frsize < MIN_FREE_BYTES:
        raise RunsDbError(f"{p}: no space left on the filesystem of {folder} "
                          f"({fs.f_bavail * fs.f_frsize // 1024:,} KiB free)")


def _while_locked(p: Path, conn: sqlite3.Connection, timeout: float, step: Callable[[], object], what: str = "") -> None:
    """Retry `step` while another process holds the lock: switching to WAL (and the schema that
    goes with a new file) does not wait for SQLite's busy timeout, so two runs started at once into
    a new runs.db would otherwise have one fail with 'database is locked'. The schema is
    idempotent (IF NOT EXISTS), so a retry after the other process created it is harmless."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if "readonly" in str(exc):  # "attempt to write a readonly database"
                conn.close()
                doing = f" ({what})" if what else ""
                raise RunsDbError(f"{p}: the file is read-only, and recording into it needs a write{doing}; "
                                  "make it writable (reading it works as it is: tickbus runs list/show)") from None
            if "locked" not in str(exc) or time.monotonic() > deadline:
                conn.close()
                raise RunsDbError(f"{p}: cannot set up the runs database: {exc}") from None
            time.sleep(0.02)


def id_stem(strategy_names: list[str], now: dt.datetime) -> str:
    names = "_".join(strategy_names) or "run"
    names = re.sub(r"[^A-Za-z0-9_+-]+", "-", names).strip("-") or "run"
    return f"{now.strftime('%Y-%m-%d_%H-%M-%S')}_{names}"


def create_run(
    conn: sqlite3.Connection,
    strategy_names: list[str],
    config: dict[str, Any],
    metadata: dict[str, Any] | None = None,
    *,
    name: str | None = None,
) -> str:
    """Insert a `running` run row under a fresh id `{UTC time}_{names}`, suffixed `-2`, `-3`, ...

    when another run (in any process) took that id in the same second: the primary key decides
    atomically, so two runs never share an id.
    """
    stem = id_stem(strategy_names, dt.datetime.now(dt.timezone.utc))
    display = name or "_".join(strategy_names) or "run"
    for n in range(1, 10_000):
        run_id = stem if n == 1 else f"{stem}-{n}"
        try:
            conn.execute(
                "INSERT INTO runs (run_id, name, ts_start, status, config, metadata) VALUES (?, ?, ?, 'running', ?, ?)",
                (run_id, display, time.time_ns(), json.dumps(config), json.dumps(metadata) if metadata else None),
            )
            return run_id
        except sqlite3.IntegrityError:
            continue
    raise RunsDbError("could not allocate a run id")


def finish_run(conn: sqlite3.Connection, run_id: str, status: str, error: str | None = None,
               failure: dict[str, Any] | None = None) -> None:
    """The run's final status; `failure` (its root cause, bus/run_contract.py) goes into metadata.
    RunsDbError if the file holds no such run (it was replaced during the run)."""
    if status not in STATUSES:
        raise ValueError(f"unknown run status {status!r}")
    with conn:
        row = conn.execute("SELECT metadata FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise RunsDbError(f"no run {run_id!r} in this runs database (was the file replaced during the run?)")
        metadata = json.loads(row[0]) if row[0] else {}
        if failure is not None:
            metadata["failure"] = failure
        conn.execute(
            "UPDATE runs SET status = ?, ts_end = ?, error = ?, metadata = ? WHERE run_id = ?",
            (status, time.time_ns(), error, json.dumps(metadata) if metadata else None, run_id),
        )


def count_events(conn: sqlite3.Connection, run_id: str) -> tuple[int, int, int]:
    """(bars, all events, fills) recorded for a run."""
    from recorder.tables import TABLES

    counts = {
        t: conn.execute(f"SELECT COUNT(*) FROM {t} WHERE run_id = ?", (run_id,)).fetchone()[0]
        for t in TABLES.values()
    }
    return counts["bars"], sum(counts.values()), counts["fills"]


def update_config(conn: sqlite3.Connection, run_id: str, update: dict[str, Any]) -> None:
    """Merge keys into a run's config JSON (e.g. an attached strategy)."""
    with conn:
        row = conn.execute("SELECT config FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        config = json.loads(row[0]) if row and row[0] else {}
        config.update(update)
        conn.execute("UPDATE runs SET config = ? WHERE run_id = ?", (json.dumps(config), run_id))


def range_config(start_ns: int | None, end_ns: int | None) -> dict[str, Any]:
    """The replay range as a run's config records it, readable by both tools: `start_date` and
    `end_date` as onesecondtrader writes them (a UTC date, "YYYY-MM-DD", when the bound is a whole day;
    else ISO-8601), and the exact bounds in tickbus's own `start_ns` / `end_ns` (inclusive)."""
    from recorder.analysis.timefmt import iso_ns

    def text(ns: int | None, end: bool) -> str | None:
        if ns is None:
            return None
        whole = (ns + 1 if end else ns) % NS_PER_DAY == 0
        return iso_ns(ns)[:10] if whole else iso_ns(ns)

    return {"start_date": text(start_ns, False), "end_date": text(end_ns, True), "start_ns": start_ns, "end_ns": end_ns}


def delete_runs(conn: sqlite3.Connection, run_ids: list[str]) -> int:
    """Delete runs and every row they recorded, in one transaction; how many runs were deleted.
    (Child rows are deleted explicitly: a seed-made file has no ON DELETE CASCADE.)"""
    if not run_ids:
        return 0
    marks = ", ".join("?" * len(run_ids))
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        for table, ref in _reference().items():
            if ref.of_run:
                conn.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", run_ids)
        return int(conn.execute(f"DELETE FROM runs WHERE run_id IN ({marks})", run_ids).rowcount)
