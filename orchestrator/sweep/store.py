"""A sweep's records in the user's runs.db, written by the driver: the sweep row, one row per
variant, and each variant's run merged in from its worker.

Merging a variant is one transaction: its run row (under the run id the sweep gives it), every
row it recorded, its figures, and its variant row. The variant row is checked in that same
transaction, so a variant lands at most once (a variant retried after its worker died, or whose
result arrives twice, is merged the first time only) and nothing is ever half-merged.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sqlite3
import time
from typing import Any

from bus.registry import proc_start_time
from recorder import runsdb

STATUSES = ("running", "completed", "failed", "cancelled")


class MergeError(Exception):
    """A worker's result does not fit this runs.db (a different tickbus on the worker?)."""


def _stem(name: str) -> str:
    return runsdb.id_stem([name], dt.datetime.now(dt.timezone.utc))


def create_sweep(conn: sqlite3.Connection, name: str, spec: dict[str, Any], points: list[dict[str, Any]]) -> str:
    """Insert a `running` sweep with its variants (all pending) under a fresh id; the id."""
    stem = _stem(name)
    pid = os.getpid()
    metadata = json.dumps({"driver_pid": pid, "host": platform.node(), "driver_start": proc_start_time(pid)})
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        for n in range(1, 10_000):
            sweep_id = stem if n == 1 else f"{stem}-{n}"
            if conn.execute("SELECT 1 FROM sweeps WHERE sweep_id = ?", (sweep_id,)).fetchone() is None:
                break
        conn.execute("INSERT INTO sweeps (sweep_id, name, ts_start, status, spec, variants, metadata)"
                     " VALUES (?, ?, ?, 'running', ?, ?, ?)",
                     (sweep_id, name, time.time_ns(), json.dumps(spec), len(points), metadata))
        conn.executemany("INSERT INTO sweep_variants (sweep_id, variant, params, status) VALUES (?, ?, ?, 'pending')",
                         [(sweep_id, i, json.dumps(p)) for i, p in enumerate(points, 1)])
    return sweep_id


def restart(conn: sqlite3.Connection, sweep_id: str) -> None:
    """Mark a sweep `running` again (resume), under this driver."""
    pid = os.getpid()
    metadata = json.dumps({"driver_pid": pid, "host": platform.node(), "driver_start": proc_start_time(pid)})
    with conn:
        conn.execute("UPDATE sweeps SET status = 'running', ts_end = NULL, error = NULL, metadata = ? WHERE sweep_id = ?",
                     (metadata, sweep_id))


Todo = tuple[int, dict[str, Any], tuple[int | None, int | None]]  # variant, params, (start_ns, end_ns)


def pending(conn: sqlite3.Connection, sweep_id: str, phase: str | None | bool = False) -> list[Todo]:
    """(variant, params, bounds) of every variant not yet recorded, in order; of one phase
    (None: the grid) unless `phase` is False."""
    sql = ("SELECT variant, params, start_ns, end_ns FROM sweep_variants WHERE sweep_id = ? AND status = 'pending'")
    args: list[Any] = [sweep_id]
    if phase is None:
        sql += " AND phase IS NULL"
    elif phase is not False:
        sql += " AND phase = ?"
        args.append(phase)
    rows = conn.execute(sql + " ORDER BY variant", args)
    return [(int(v), json.loads(p), (a, b)) for v, p, a, b in rows]


def add_variants(conn: sqlite3.Connection, sweep_id: str, rows: list[dict[str, Any]]) -> list[Todo]:
    """Append pending variants (each: params, and optionally phase, wf_window, source, start_ns,
    end_ns) numbered after the sweep's last; what to run."""
    out: list[Todo] = []
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        last = int(conn.execute("SELECT COALESCE(MAX(variant), 0) FROM sweep_variants WHERE sweep_id = ?",
                                (sweep_id,)).fetchone()[0])
        for n, r in enumerate(rows, last + 1):
            conn.execute("INSERT INTO sweep_variants (sweep_id, variant, params, status, phase, wf_window, source, start_ns,"
                         " end_ns) VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?)",
                         (sweep_id, n, json.dumps(r["params"]), r.get("phase"), r.get("wf_window"), r.get("source"),
                          r.get("start_ns"), r.get("end_ns")))
            out.append((n, r["params"], (r.get("start_ns"), r.get("end_ns"))))
        conn.execute("UPDATE sweeps SET variants = (SELECT COUNT(*) FROM sweep_variants WHERE sweep_id = ?1)"
                     " WHERE sweep_id = ?1", (sweep_id,))
    return out


def variant_run_id(sweep_id: str, variant: int, total: int) -> str:
    return f"{sweep_id}_v{variant:0{len(str(total))}d}"


def _count(conn: sqlite3.Connection, sweep_id: str) -> None:
    conn.execute("UPDATE sweeps SET completed = (SELECT COUNT(*) FROM sweep_variants WHERE sweep_id = ?1"
                 " AND status = 'completed'), failed = (SELECT COUNT(*) FROM sweep_variants WHERE sweep_id = ?1"
                 " AND status = 'failed') WHERE sweep_id = ?1", (sweep_id,))


def merge(conn: sqlite3.Connection, sweep_id: str, total: int, label: str, result: dict[str, Any],
          sweep_info: dict[str, Any]) -> bool:
    """Record one variant's result (one transaction); False if it was already recorded."""
    variant = int(result["variant"])
    status = "completed" if result["status"] == "completed" else "failed"
    with conn:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute("SELECT status FROM sweep_variants WHERE sweep_id = ? AND variant = ?", (sweep_id, variant)).fetchone()
        if row is None or row[0] != "pending":
            conn.execute("ROLLBACK")
            return False
        run_id = None
        if result.get("run") is not None:
            run_id = variant_run_id(sweep_id, variant, total)
            _insert_run(conn, run_id, label, result, sweep_info)
        conn.execute("UPDATE sweep_variants SET status = ?, run_id = ?, error = ?, bars = ?, elapsed_s = ?, worker = ?"
                     " WHERE sweep_id = ? AND variant = ?",
                     (status, run_id, result.get("error"), result.get("bars"), result.get("elapsed_s"),
                      result.get("worker"), sweep_id, variant))
        _count(conn, sweep_id)
    return True


def _insert_run(conn: sqlite3.Connection, run_id: str, label: str, result: dict[str, Any], sweep_info: dict[str, Any]) -> None:
    name, ts_start, ts_end, status, config, metadata, error = result["run"]
    config = {**json.loads(config or "{}"), "sweep": sweep_info}
    conn.execute("INSERT INTO runs (run_id, name, ts_start, ts_end, status, config, metadata, error)"
                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (run_id, label, ts_start, ts_end, status, json.dumps(config), metadata, error))
    schema = runsdb.reference_tables()
    for table, (cols, rows) in result["tables"].items():
        known = {c for c, _ in schema[table].columns} if table in schema and schema[table].of_run else set()
        unknown = [c for c in cols if c not in known]
        if unknown:
            raise MergeError(f"the worker recorded {table}.{', '.join(unknown)}, which this runs.db does not have "
                             "(is the worker's tickbus the driver's?)")
        sql = f"INSERT INTO {table} (run_id, {', '.join(cols)}) VALUES (?, {', '.join('?' * len(cols))})"
        conn.executemany(sql, [(run_id, *r) for r in rows])


def fail_variant(conn: sqlite3.Connection, sweep_id: str, variant: int, error: str) -> bool:
    """A variant that produced no result (its worker died twice, say): recorded failed."""
    return merge(conn, sweep_id, 0, "", {"variant": variant, "status": "failed", "error": error}, {})


def finish(conn: sqlite3.Connection, sweep_id: str, status: str, error: str | None = None) -> None:
    if status not in STATUSES:
        raise ValueError(f"unknown sweep status {status!r}")
    with conn:
        _count(conn, sweep_id)
        conn.execute("UPDATE sweeps SET status = ?, ts_end = ?, error = ? WHERE sweep_id = ?",
                     (status, time.time_ns(), error, sweep_id))
