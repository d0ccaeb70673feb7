"""What a sweep needs before its first variant runs, acquired the same way by `tickbus sweep` and
the dashboard: the executor (local workers or a Dask scheduler), the runs database, the
adaptive search, and to resume a sweep its plan as it started. Each one that cannot be had is a
UsageError (one line, exit 2) before anything is recorded.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from orchestrator.errors import UsageError


def executor(s: dict[str, Any]) -> Any:
    """A DaskCluster for `scheduler`, else a LocalPool of `workers` (default: the machine's cores)."""
    if s.get("scheduler"):
        from orchestrator.sweep.cluster import DaskCluster

        return DaskCluster(s["scheduler"])
    from orchestrator.sweep.pool import LocalPool

    return LocalPool(int(s.get("workers") or os.cpu_count() or 1))


def check_runs_db(path: str) -> None:
    """UsageError when the runs database cannot be recorded into (read-only, full, locked...)."""
    from recorder import runsdb

    try:
        runsdb.check_usable(path)
    except runsdb.RunsDbError as exc:
        raise UsageError(str(exc)) from None


@contextmanager
def runs_db(path: str) -> Iterator[sqlite3.Connection]:
    """The runs database to record into (checked; opened, so created, only if usable)."""
    from recorder import runsdb

    check_runs_db(path)
    try:
        conn = runsdb.connect(path)
    except runsdb.RunsDbError as exc:
        raise UsageError(str(exc)) from None
    try:
        yield conn
    finally:
        conn.close()


def search_for(plan: Any) -> Any:
    """The adaptive search driving phase 1, or None (the grid's points); Optuna missing: UsageError."""
    if plan.search != "tpe":
        return None
    from orchestrator.sweep import search

    try:
        search.require_optuna()
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    return search.run_tpe


def resume_plan(conn: sqlite3.Connection, sweep_id: str, runs_db: str, *, workers: int | None = None,
                scheduler: str | None = None) -> tuple[Any, Any]:
    """(the sweep's SweepInfo, its plan as it started) to run its variants not yet recorded; the
    caller closes the plan. `workers`/`scheduler`: where to run them now, instead of where it ran.
    UsageError when it cannot be resumed: unknown, still running, or its data or strategy file
    changed since it started."""
    from orchestrator.sweep import plan as P
    from recorder.analysis.sweeps import UnknownSweepError, get_sweep

    try:
        info = get_sweep(conn, sweep_id)
    except UnknownSweepError as exc:
        raise UsageError(str(exc)) from None
    if info.status == "running" and not info.driver_gone():
        raise UsageError(f"sweep {info.sweep_id} is running (its driver, pid {info.metadata.get('driver_pid')}, is alive)")
    spec = info.spec
    raw = {**spec["settings"], "strategies": [(spec["strategy"], dict(spec.get("fixed") or {}))]}
    raw["runs_db"] = runs_db
    if workers or scheduler:
        raw = {k: v for k, v in raw.items() if k not in ("workers", "scheduler")}
        raw.update({k: v for k, v in (("workers", workers), ("scheduler", scheduler)) if v})
    if spec.get("seed") is not None:
        raw["seed"] = spec["seed"]
    plan = P.prepare(raw, origin=f"sweep {info.sweep_id}")
    problem = None
    if plan.secmaster.digest != spec["data"]["digest"]:
        problem = (f"sweep {info.sweep_id}: the secmaster's data for it changed since it started (content "
                   f"{spec['data']['digest'][:12]}, now {plan.secmaster.digest[:12]}); start a new sweep")
    elif plan.strategy_file is not None and plan.strategy_file.digest != spec.get("strategy_digest"):
        problem = f"sweep {info.sweep_id}: {plan.strategy_file.path} changed since the sweep started; start a new sweep"
    if problem is not None:
        plan.close()
        raise UsageError(problem)
    return info, plan
