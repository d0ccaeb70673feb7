"""A sweep, checked before anything runs: its settings (orchestrator/settings.py SWEEP_SETTINGS),
the strategy and its fixed parameters, the grid (grid.py), the data every variant replays (by
building one variant's run exactly as `tickbus run` would), and what the workers are sent
(shipping.py). Every problem found is reported at once (UsageError, exit 2); nothing is recorded.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator import settings as S
from orchestrator.errors import UsageError
from orchestrator.sweep import grid as G
from orchestrator.sweep import periods
from orchestrator.sweep.shipping import Shipment, cut_slice, shipment_of

#: Run settings a variant takes from the sweep (the rest of the sweep's settings are its own).
RUN_KEYS = tuple(k for k in S.SWEEP_SETTINGS if k in S.SETTINGS and k not in ("strategy", "record"))


@dataclass
class SweepPlan:
    settings: dict[str, Any]  # the checked sweep settings, as given (JSON-able: stored with the sweep)
    strategy: str  # the spec as given
    strategy_class: type
    fixed: dict[str, Any]  # --param values (JSON-able)
    grid: G.Grid
    run_settings: dict[str, Any]  # what every variant's run is built from (secmaster: the slice)
    secmaster: Shipment
    strategy_file: Shipment | None
    total_bars: int
    symbols: list[str]
    workdir: Path  # the driver's own files for the sweep (the slice): removed by close()
    base_settings: dict[str, Any] | None = None  # run_settings before a holdout cut them (bounded rows start here)
    holdout: dict[str, Any] | None = None  # periods.holdout_spec
    walk_forward: dict[str, Any] | None = None  # {"windows": N, "bounds": [[start_ns, end_ns], ...]}

    @property
    def record(self) -> str:
        return str(self.settings.get("record") or "summary")

    @property
    def name(self) -> str:
        from components.strategy_classes import display_name

        return str(self.settings.get("name") or f"sweep-{display_name(self.strategy_class)}")

    def spec(self) -> dict[str, Any]:
        """What the sweeps table keeps: enough to resume it and to read it back."""
        return {
            "settings": self.settings, "strategy": self.strategy, "fixed": self.fixed,
            "grid": self.grid.axes, "grid_size": self.grid.size, "seed": self.grid.seed, "record": self.record,
            "data": {"digest": self.secmaster.digest, "bars": self.total_bars, "symbols": self.symbols},
            "strategy_digest": None if self.strategy_file is None else self.strategy_file.digest,
            "holdout": self.holdout, "walk_forward": self.walk_forward,
            "search": {"method": self.search, "trials": self.settings.get("trials") or self.settings.get("random")},
        }

    @property
    def search(self) -> str:
        return str(self.settings.get("search") or ("random" if self.settings.get("random") else "grid"))

    def task(self, sweep_id: str, variant: int, params: dict[str, Any],
             bounds: tuple[int | None, int | None] = (None, None)) -> dict[str, Any]:
        """A variant's task; `bounds` (start_ns, end_ns) replace the period the grid runs on."""
        ref = self.strategy if self.strategy_file is None else f"{self.strategy_file.name}:{self.strategy.rpartition(':')[2]}"
        settings = self.run_settings
        if bounds != (None, None):
            settings = {**(self.base_settings or self.run_settings), **periods.bounds_settings(*bounds)}
        return {"sweep_id": sweep_id, "variant": variant, "params": params, "fixed": self.fixed, "strategy": ref,
                "settings": settings}

    def close(self) -> None:
        import shutil

        shutil.rmtree(self.workdir, ignore_errors=True)


def prepare(raw: dict[str, Any], *, origin: str = "settings") -> SweepPlan:
    """The checked plan of a sweep from its settings (flags or SWEEP.toml merged, unchecked)."""
    from orchestrator import strategies as strat

    strategy_list = raw.get("strategies")
    problems: list[str] = []
    s: dict[str, Any] = {}
    for key, value in raw.items():  # each on its own, so that the grid is checked too
        if value is not None and key != "strategies":
            try:
                s.update(S.validate({key: value}, origin, S.SWEEP_SETTINGS))
            except UsageError as exc:
                problems += str(exc).splitlines()
    if s.get("workers") is not None and s.get("scheduler") is not None:
        problems.append("--workers and --scheduler: give one (local worker processes, or a Dask cluster)")
    if not s.get("secmaster"):
        problems.append("--secmaster is required")
    problems += search_problems(s)
    if not strategy_list or len(strategy_list) != 1:
        problems.append("give exactly one --strategy (the one whose parameters the sweep varies)")
        raise UsageError("\n".join(problems))
    spec, given = strategy_list[0]
    try:
        cls = strat.resolve(spec)
    except ValueError as exc:
        raise UsageError("\n".join([*problems, str(exc)])) from None
    parameters = dict(getattr(cls, "parameters", {}) or {})
    fixed: dict[str, Any] = {}
    for name, value in given.items():
        if name not in parameters:
            problems.append(f"--param {name}: {cls.__name__} has no parameter {name!r} (parameters: {', '.join(sorted(parameters))})")
            continue
        try:
            fixed[name] = G.plain(parameters[name].validate(name, value))
        except ValueError as exc:
            problems.append(f"--param {exc}")
    g, bad = G.build(parameters, s.get("grid") or {}, {n: parameters[n].validate(n, v) for n, v in fixed.items()},
                     where=s.get("where"), sample=sample_size(s), seed=s.get("seed"), strategy=cls.__name__)
    problems += bad
    if problems or g is None:
        raise UsageError("\n".join(problems))
    if s.get("search") == "tpe":
        import dataclasses
        import random

        g = dataclasses.replace(g, seed=s["seed"] if s.get("seed") is not None else random.SystemRandom().randrange(2**31))
    run_settings = {k: s[k] for k in RUN_KEYS if k in s}
    run_settings["in_process"] = not s.get("multi_process")
    run_settings["record"] = s.get("record") or "summary"
    workdir = Path(tempfile.mkdtemp(prefix="tickbus-sweep-"))
    try:
        return _with_data(s, spec, cls, fixed, g, run_settings, workdir)
    except BaseException:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
        raise


def _with_data(s: dict[str, Any], spec: str, cls: type, fixed: dict[str, Any], g: G.Grid, run_settings: dict[str, Any],
               workdir: Path) -> SweepPlan:
    """The data check (one variant's run, built as `tickbus run` builds it) and the shipments."""
    from orchestrator.commands.run import build_orchestrator

    probe = build_orchestrator({**run_settings, "runs_db": str(workdir / "probe.db"),
                                "strategies": [(spec, {**fixed, **g.points[0]})]})
    plan = probe.prepare()
    feed = plan.datafeed()
    feed.open()
    try:
        period = feed.active_bar_period
        publisher, dataset, symbol_type = feed.publisher_name, feed.dataset, feed.symbol_type
    finally:
        feed.close()
    assert period is not None
    start = getattr(plan.datafeed, "start_ts", None)
    end = getattr(plan.datafeed, "end_ts", None)
    slice_path = cut_slice(s["secmaster"], workdir / "secmaster.db", publisher=publisher, dataset=dataset,
                           symbol_type=symbol_type, symbols=list(plan.symbols), rtype=period.rtype,
                           start_ns=0 if start is None else int(start), end_ns=2**63 - 1 if end is None else int(end))
    run_settings = {**run_settings, "publisher": publisher, "dataset": dataset}
    where, _, name = spec.rpartition(":")
    by_path = ":" in spec and (where.endswith(".py") or "/" in where or os.sep in where)  # (as spec.import_class)
    hold = wf = None
    base = run_settings
    if s.get("holdout") or s.get("walk_forward"):
        ts = periods.bar_times(plan.datafeed)
        if s.get("holdout"):
            hold = periods.holdout_spec(str(s["holdout"]), ts, int(s.get("top") or 5), s.get("start"), s.get("end"))
            run_settings = {**run_settings, "end": hold["in_sample_end"]}
        else:
            wf = {"windows": int(s["walk_forward"]), "bounds": [list(b) for b in periods.windows(ts, int(s["walk_forward"]))]}
    return SweepPlan(settings=_json_settings(s), strategy=f"{Path(where).resolve()}:{name}" if by_path else spec,
                     strategy_class=cls, fixed=fixed, grid=g, run_settings=run_settings,
                     secmaster=shipment_of(slice_path),
                     strategy_file=shipment_of(where).by_content() if by_path else None,  # as it is now, everywhere
                     total_bars=plan.total_bars, symbols=list(plan.symbols), workdir=workdir,
                     base_settings=base, holdout=hold, walk_forward=wf)


def sample_size(s: dict[str, Any]) -> int | None:
    """How many grid points a random sample draws (`--random N`, or `--search random --trials N`);
    None: every point."""
    n = s.get("random") or (s.get("trials") if s.get("search") == "random" else None)
    return None if n is None else int(n)


def search_problems(s: dict[str, Any]) -> list[str]:
    """The sweep settings that do not go together."""
    problems = []
    search = s.get("search") or "grid"
    if s.get("holdout") and s.get("walk_forward"):
        problems.append("--holdout and --walk-forward: give one (a held-out period, or walk-forward windows)")
    if s.get("top") is not None and not s.get("holdout"):
        problems.append("--top: only with --holdout (how many in-sample best run out of sample)")
    if search == "tpe" and not s.get("trials"):
        problems.append("--search tpe needs --trials N")
    if search == "tpe" and s.get("random"):
        problems.append("--random N: not with --search tpe (give --trials N)")
    if search == "grid" and (s.get("trials") or s.get("random")) and s.get("search"):
        problems.append("--search grid runs every point: drop --trials/--random, or use --search random")
    if search == "grid" and s.get("trials") and not s.get("search"):
        problems.append("--trials N: with --search random or --search tpe")
    if search == "random" and s.get("random") and s.get("trials") and s["random"] != s["trials"]:
        problems.append("--search random: give the number of points once (--trials N or --random N)")
    if search == "random" and not (s.get("random") or s.get("trials")):
        problems.append("--search random needs --trials N (or --random N)")
    if search == "tpe" and s.get("walk_forward"):
        problems.append("--walk-forward ranks the whole grid in each window: use --search grid or random")
    return problems


def _json_settings(s: dict[str, Any]) -> dict[str, Any]:
    """The settings as stored with the sweep (paths absolute, so `resume` works from anywhere)."""
    out = dict(s)
    for key in ("secmaster", "runs_db"):
        if out.get(key):
            out[key] = str(Path(out[key]).resolve())
    return out
