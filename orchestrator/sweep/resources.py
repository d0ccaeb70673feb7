"""What a sweep needs before its first variant runs, acquired the same way by `tickbus sweep` and
the dashboard: the executor (local workers or a Dask scheduler), the runs database and the
adaptive search. Each one that cannot be had is a UsageError (one line, exit 2) before anything
is recorded.
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
