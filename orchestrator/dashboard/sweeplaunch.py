"""Turning the New run form's sweep request into `tickbus sweep` settings, or into errors per field;
and the dashboard's sweep jobs.

The form sends the run form's fields plus, for its one strategy, `grid` (parameter -> "A:B:STEP"
or "V1,V2,..." text, as `--grid` takes it) beside `params` (the fixed values), and the sweep's
own settings (OWN: where, random, seed, workers or scheduler, multi_process, record, name, sort,
max_failures, holdout, top, walk_forward, search, trials). Nothing is checked here
that the command line does not check: the data and fixed values by the run form's own check
(launch.py), the settings by orchestrator/settings.py, the grid by orchestrator/sweep/grid.py,
and the whole by orchestrator/sweep/plan.py `prepare`, exactly as `tickbus sweep` does before
anything runs. Each problem is put next to its input where it names one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator import settings as S
from orchestrator.dashboard.catalog import StrategyCatalog, StrategyEntry
from orchestrator.dashboard.jobs import Job, JobManager
from orchestrator.dashboard.launch import Errors, check as check_run
from orchestrator.dashboard.secmaster import Offer
from orchestrator.errors import UsageError
from orchestrator.sweep import grid as G

#: The sweep's own settings the form offers (the rest are the run form's).
OWN = ("where", "random", "seed", "workers", "scheduler", "multi_process", "record", "name", "sort", "max_failures",
       "holdout", "top", "walk_forward", "search", "trials")
#: Run settings a sweep's variants take from the run form's checked settings.
SHARED = ("secmaster", "runs_db", "publisher", "dataset", "symbol_type", "bar_period", "symbols", "start", "end",
          "commission_per_unit")


class SweepJobs(JobManager):
    """Sweeps launched from the dashboard, one process each (sweepworker.py), in their own queue;
    a job's `run_id` is its sweep id."""

    WORKER = "orchestrator.dashboard.sweepworker"
    FOLDER = "sweeps"

    def _mark_dead_runs(self, known: Any) -> None:
        """Nothing to mark: a sweep whose driver is gone reads `abandoned` (recorder.analysis.sweeps)."""

    def _close_run(self, job: Job) -> None:
        """A driver that died without a result leaves its sweep `running`: end it honestly."""
        from orchestrator.sweep import store
        from recorder import runsdb

        if not job.run_id:
            return
        conn = runsdb.connect(self.runs_db)
        try:
            row = conn.execute("SELECT status FROM sweeps WHERE sweep_id = ?", (job.run_id,)).fetchone()
            if row and row[0] == "running":
                store.finish(conn, job.run_id, "cancelled" if job.cancel_requested is not None else "failed", job.error)
        finally:
            conn.close()


@dataclass
class SweepLaunch:
    settings: dict[str, Any]  # what sweepworker.py hands to plan.prepare (JSON-able)
    label: str
    variants: int


def _strategy(payload: dict[str, Any], catalog: StrategyCatalog, errors: Errors) -> tuple[StrategyEntry | None, dict[str, Any], dict[str, Any]]:
    """The one strategy of the sweep, its fixed values as given, and its grid as given."""
    chosen = payload.get("strategies")
    if not isinstance(chosen, list) or len(chosen) != 1 or not isinstance(chosen[0], dict):
        errors.fields["strategies"] = "a sweep varies one strategy: choose exactly one"
        return None, {}, {}
    item = chosen[0]
    entry = catalog.get(str(item.get("key", "")))
    if entry is None:
        errors.fields["strategies"] = f"unknown strategy {item.get('key')!r}"
        return None, {}, {}
    params, grid = item.get("params") or {}, item.get("grid") or {}
    if not isinstance(params, dict) or not isinstance(grid, dict):
        errors.fields["strategies"] = "params and grid must be objects"
        return None, {}, {}
    return entry, {k: v for k, v in params.items() if k not in grid}, grid


def _own(payload: dict[str, Any], errors: Errors) -> dict[str, Any]:
    """The sweep's own settings, each checked by its setting (an empty input is not given)."""
    out: dict[str, Any] = {}
    for key in OWN:
        value = payload.get(key)
        if value is None or value == "":
            continue
        try:
            out.update(S.validate({key: value}, "form", S.SWEEP_SETTINGS))
        except UsageError as exc:
            errors.fields[key] = str(exc).removeprefix(f"form:{key}: ")
    return out


_GRID = re.compile(r"^--grid (\w+)(?:=\S*)?: ")


def _place(problem: str, key: str, errors: Errors) -> None:
    """A problem of grid.py / plan.py next to the input it names, else for the whole form."""
    m = _GRID.match(problem)
    if m:
        name = m.group(1)
        text = problem[m.end():].removeprefix(f"parameter {name!r}: ")
        params = errors.params.setdefault(key, {})
        params[name] = f"{params[name]}; {text}" if name in params else text
        return
    for flag in OWN:
        shown = "--" + flag.replace("_", "-")
        if problem.startswith((shown + " ", shown + ":")) or (flag == "where" and shown in problem):
            text = problem.split(": ", 1)[-1] if problem.startswith(shown) else problem
            errors.fields[flag] = f"{errors.fields[flag]}; {text}" if flag in errors.fields else text
            return
    errors.form = f"{errors.form}\n{problem}" if errors.form else problem


def _grid(entry: StrategyEntry, fixed: dict[str, Any], grid: dict[str, Any], own: dict[str, Any],
          errors: Errors) -> G.Grid | None:
    """The grid as `tickbus sweep` builds it (fixed values checked by the run form's check)."""
    parameters = dict(getattr(entry.cls, "parameters", {}) or {})
    if not grid:
        errors.fields["grid"] = "vary at least one parameter (give it a range or a list)"
        return None
    try:
        axes = S.grid(dict(grid))
    except ValueError as exc:
        errors.fields["grid"] = str(exc)
        return None
    checked = {}
    for name, value in fixed.items():
        try:
            checked[name] = parameters[name].validate(name, value)
        except (KeyError, ValueError):
            pass  # reported by the run form's check
    from orchestrator.sweep.plan import sample_size, search_problems

    for p in search_problems(own):  # the settings that do not go together, as plan.prepare says
        _place(p, entry.key, errors)
    g, problems = G.build(parameters, axes, checked, where=own.get("where"), sample=sample_size(own),
                          seed=own.get("seed"), strategy=entry.cls.__name__)
    for p in problems:
        _place(p, entry.key, errors)
    return g


def count(payload: dict[str, Any], catalog: StrategyCatalog) -> dict[str, Any]:
    """The live count of the form: how many variants the grid has (or why it has none)."""
    errors = Errors()
    entry, fixed, grid = _strategy(payload, catalog, errors)
    own = _own(payload, errors)
    g = _grid(entry, fixed, grid, own, errors) if entry is not None else None
    variants = len(g.points) if g is not None and not errors else None
    if variants is not None and own.get("search") == "tpe" and own.get("trials"):
        variants = min(variants, int(own["trials"]))  # the trials the search asks for, among the grid's points
    return {"variants": variants, "grid_size": g.size if g is not None else None,
            "axes": {n: len(v) for n, v in g.axes.items()} if g is not None else {},
            "out_of_sample": int(own.get("top") or 5) if own.get("holdout") else None,
            "walk_forward": own.get("walk_forward"), "errors": errors.to_dict()}


def check(payload: dict[str, Any], catalog: StrategyCatalog, offer: Offer, secmaster: Path, runs_db: Path) -> tuple[SweepLaunch | None, Errors]:
    """Validate a sweep request as `tickbus sweep` would; a SweepLaunch only when nothing is wrong."""
    from components.strategy_classes import display_name
    from orchestrator.sweep.resources import search_for
    from orchestrator.sweep import plan as P

    errors = Errors()
    entry, fixed, grid = _strategy(payload, catalog, errors)
    own = _own(payload, errors)
    if entry is None:
        return None, errors
    g = _grid(entry, fixed, grid, own, errors)
    ok, run_errors = check_run({**payload, "strategies": [{"key": entry.key, "params": fixed}]}, catalog, offer, secmaster, runs_db)
    errors.fields = {**run_errors.fields, **errors.fields}
    for key, params in run_errors.params.items():
        errors.params.setdefault(key, {}).update(params)
    errors.form = errors.form or run_errors.form
    if ok is None or g is None or errors:
        return None, errors
    ((spec, values),) = ok.settings["strategies"]
    raw = {k: ok.settings[k] for k in SHARED if ok.settings.get(k) is not None}
    raw.update(own)
    raw["grid"] = dict(grid)
    raw["strategies"] = [(spec, values)]
    try:
        plan = P.prepare(raw, origin="form")  # the data, the grid and the shipments, as `tickbus sweep` checks them
    except UsageError as exc:
        for line in str(exc).splitlines():
            _place(line.removeprefix("form:"), entry.key, errors)
        return None, errors
    try:
        try:
            search_for(plan)  # --search tpe needs Optuna
        except UsageError as exc:
            errors.fields["search"] = str(exc)
            return None, errors
        variants = int(own["trials"]) if plan.search == "tpe" else len(plan.grid.points)
        if plan.grid.seed is not None:
            raw["seed"] = plan.grid.seed  # the sample drawn here is the one that runs
    finally:
        plan.close()
    raw["strategies"] = [[spec, values]]
    return SweepLaunch(raw, str(own.get("name") or f"sweep-{display_name(entry.cls)}"), variants), errors
