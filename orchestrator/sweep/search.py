"""Adaptive search (`--search tpe --trials N [--seed S]`): Optuna's TPE sampler picks the grid
points to run, through its ask/tell interface, in batches of the executor's size (its workers);
each batch runs on the same local pool or Dask cluster as a grid sweep, and each variant is
recorded like a grid variant (phase 1 of phases.py).

* The search space is the grid: a numeric parameter is the index into its grid values (so TPE
  sees their order and only proposes grid values), any other an unordered choice of its values.
* A proposed point that --where excludes is told failed and not run; a point already run is told
  its figure again and not run again. `--trials N` is the number of distinct points run (at
  most the grid's), asked for at most ASKS_PER_TRIAL x N times.
* Reproducible: the sampler is seeded (--seed, else drawn and recorded with the sweep), each
  batch is asked for before any of it is told, and told in the order asked, whatever order its
  variants finish in; so the same seed gives the same trials.
* Resumed, the points already run are told to a fresh study first; the search goes on from there.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from orchestrator.sweep import driver, store
from orchestrator.sweep.driver import SweepOutcome
from recorder.analysis.sweep_surface import figure
from recorder.analysis.sweeps import variants
from recorder.layout import METRIC_COLUMNS

ASKS_PER_TRIAL = 20
INSTALL_HINT = "--search tpe needs Optuna: pip install 'tickbus[optimize]'"


def require_optuna() -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ImportError(INSTALL_HINT) from None


def _numeric(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def space(axes: dict[str, list[Any]]) -> dict[str, Any]:
    """Optuna distributions of the grid's axes (numeric axes by index)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    return {n: IntDistribution(0, len(vs) - 1) if _numeric(vs) else CategoricalDistribution(vs) for n, vs in axes.items()}


def _point(axes: dict[str, list[Any]], raw: dict[str, Any]) -> dict[str, Any]:
    return {n: vs[raw[n]] if _numeric(vs) else raw[n] for n, vs in axes.items()}


def _raw(axes: dict[str, list[Any]], point: dict[str, Any]) -> dict[str, Any]:
    return {n: vs.index(point[n]) if _numeric(vs) else point[n] for n, vs in axes.items()}


def _key(point: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted(point.items()))


def run_tpe(plan: Any, conn: sqlite3.Connection, sweep_id: str, executor: Any, progress_for: Any) -> SweepOutcome:
    """Phase 1 of a TPE sweep: ask, run a batch, tell, until --trials distinct points ran."""
    import optuna
    from optuna.trial import TrialState, create_trial

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sort = str(plan.settings.get("sort") or "net_pnl")
    axes = plan.grid.axes
    dists = space(axes)
    allowed = {_key(p) for p in plan.grid.points}
    trials = min(int(plan.settings["trials"]), len(allowed))
    sampler = optuna.samplers.TPESampler(seed=plan.grid.seed, n_startup_trials=max(1, min(10, trials // 2)))
    study = optuna.create_study(direction="maximize" if METRIC_COLUMNS[sort] else "minimize", sampler=sampler)

    def value_of(v: Any) -> float | None:
        return figure(v, sort)

    # resumed: run what is pending, then tell the study every point run
    todo = store.pending(conn, sweep_id, phase=None)
    outcome = SweepOutcome(sweep_id, "completed", None, 0.0)
    if todo:
        outcome = _batch(plan, conn, sweep_id, todo, executor, progress_for)
        if outcome.status != "completed":
            return outcome
    seen: dict[tuple[Any, ...], float | None] = {}
    for v in sorted(variants(conn, sweep_id, sort), key=lambda v: v.variant):
        x = value_of(v)
        seen[_key(v.params)] = x
        study.add_trial(create_trial(params=_raw(axes, v.params), distributions=dists, value=x,
                                     state=TrialState.COMPLETE if x is not None else TrialState.FAIL))
    asks = 0
    batch_size = max(1, int(getattr(executor, "size", 1) or 1))
    while len(seen) < trials and asks < ASKS_PER_TRIAL * trials:
        batch: list[tuple[Any, dict[str, Any]]] = []
        while len(batch) < min(batch_size, trials - len(seen)) and asks < ASKS_PER_TRIAL * trials:
            asks += 1
            trial = study.ask(dists)
            point = _point(axes, trial.params)
            key = _key(point)
            if key not in allowed:
                study.tell(trial, state=TrialState.FAIL)
            elif key in seen or any(_key(p) == key for _, p in batch):
                known = seen.get(key)
                study.tell(trial, known) if known is not None else study.tell(trial, state=TrialState.FAIL)
            else:
                batch.append((trial, point))
        if not batch:
            break
        rows = store.add_variants(conn, sweep_id, [{"params": p} for _, p in batch])
        outcome = _batch(plan, conn, sweep_id, rows, executor, progress_for)
        if outcome.status != "completed":
            return outcome
        found = {v.variant: v for v in variants(conn, sweep_id, sort)}
        for (trial, point), (number, _, _) in zip(batch, rows):
            x = value_of(found[number])
            seen[_key(point)] = x
            study.tell(trial, x) if x is not None else study.tell(trial, state=TrialState.FAIL)
    return outcome


def _batch(plan: Any, conn: sqlite3.Connection, sweep_id: str, todo: list[Any], executor: Any,
           progress_for: Any) -> SweepOutcome:
    total = int(conn.execute("SELECT variants FROM sweeps WHERE sweep_id = ?", (sweep_id,)).fetchone()[0])
    progress = progress_for(int(plan.settings["trials"]), total - len(todo))
    return driver.run(plan, conn, sweep_id, todo, executor, progress=progress, keep_open=True, finish=False)
