"""A sweep from start to end, in phases on one executor:

1. the grid (on the sweep's period, or the in-sample part with --holdout) and, with
   --walk-forward, the grid on each window: every row known when the sweep is created;
2. with --holdout, the --top K best grid variants (by --sort) again from the split on (phase
   'oos'); with --walk-forward, each window's best variant on the next window (phase 'wf_oos').
   These rows are added once phase 1 has run (a resumed sweep adds them once, then runs what is
   pending like any other variant).

With --search tpe, phase 1 is the adaptive search (search.py) instead of the full grid.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from orchestrator.sweep import driver, store
from orchestrator.sweep.driver import SweepOutcome
from orchestrator.sweep.plan import SweepPlan
from orchestrator.sweep.progress import SweepProgress
from recorder.analysis.sweep_surface import figure
from recorder.analysis.sweeps import variants

ProgressFor = Callable[[int, int], SweepProgress | None]  # (total, done) -> a progress line (or None)


def create(conn: sqlite3.Connection, plan: SweepPlan) -> str:
    """The sweep's row and its phase-1 variants; its id."""
    points = [] if plan.search == "tpe" else plan.grid.points
    sweep_id = store.create_sweep(conn, plan.name, plan.spec(), points)
    if plan.walk_forward:
        store.add_variants(conn, sweep_id, [{"params": p, "phase": "wf", "wf_window": k, "start_ns": a, "end_ns": b}
                                            for k, (a, b) in enumerate(plan.walk_forward["bounds"], 1)
                                            for p in plan.grid.points])
    return sweep_id


def _next_rows(conn: sqlite3.Connection, plan: SweepPlan, sweep_id: str) -> list[dict[str, Any]]:
    """Phase 2's rows, if they are not there yet."""
    sort = str(plan.settings.get("sort") or "net_pnl")
    if plan.holdout and not variants(conn, sweep_id, sort, phase="oos"):
        ranked = [v for v in variants(conn, sweep_id, sort) if figure(v, sort) is not None]
        return [{"params": v.params, "phase": "oos", "source": v.variant, "start_ns": plan.holdout["split_ns"]}
                for v in ranked[: int(plan.holdout["top"])]]
    if plan.walk_forward and not variants(conn, sweep_id, sort, phase="wf_oos"):
        bounds = plan.walk_forward["bounds"]
        rows = []
        for k in range(1, len(bounds)):
            ranked = [v for v in variants(conn, sweep_id, sort, phase="wf", wf_window=k) if figure(v, sort) is not None]
            if ranked:
                start, end = bounds[k]
                rows.append({"params": ranked[0].params, "phase": "wf_oos", "wf_window": k + 1, "source": ranked[0].variant,
                             "start_ns": start, "end_ns": end})
        return rows
    return []


def run(plan: SweepPlan, conn: sqlite3.Connection, sweep_id: str, executor: Any, progress_for: ProgressFor,
        search: Callable[..., SweepOutcome] | None = None) -> SweepOutcome:
    """Every phase of the sweep; the outcome (its status recorded)."""
    started = time.monotonic()
    open_ = True
    try:
        outcome = SweepOutcome(sweep_id, "completed", None, 0.0)
        if search is not None:
            outcome = search(plan, conn, sweep_id, executor, progress_for)
        todo = store.pending(conn, sweep_id) if outcome.status == "completed" else []  # (resumed: of any phase)
        if todo:
            outcome = _run(plan, conn, sweep_id, todo, executor, progress_for)
        if outcome.status != "completed":
            open_ = False
            return _elapsed(outcome, started)
        rows = _next_rows(conn, plan, sweep_id)
        todo = store.add_variants(conn, sweep_id, rows) if rows else []
        if todo:
            outcome = _run(plan, conn, sweep_id, todo, executor, progress_for)
            open_ = outcome.status == "completed"
        if outcome.status == "completed":
            store.finish(conn, sweep_id, "completed")
        return _elapsed(outcome, started)
    finally:
        if open_:
            executor.close()


def _run(plan: SweepPlan, conn: sqlite3.Connection, sweep_id: str, todo: list[Any], executor: Any,
         progress_for: ProgressFor) -> SweepOutcome:
    total = int(conn.execute("SELECT variants FROM sweeps WHERE sweep_id = ?", (sweep_id,)).fetchone()[0])
    progress = progress_for(total, total - len(todo) - _unfinished_elsewhere(conn, sweep_id, todo))
    return driver.run(plan, conn, sweep_id, todo, executor, progress=progress, keep_open=True, finish=False)


def _unfinished_elsewhere(conn: sqlite3.Connection, sweep_id: str, todo: list[Any]) -> int:
    pending = int(conn.execute("SELECT COUNT(*) FROM sweep_variants WHERE sweep_id = ? AND status = 'pending'",
                               (sweep_id,)).fetchone()[0])
    return max(0, pending - len(todo))


def _elapsed(outcome: SweepOutcome, started: float) -> SweepOutcome:
    return SweepOutcome(outcome.sweep_id, outcome.status, outcome.error, time.monotonic() - started)
