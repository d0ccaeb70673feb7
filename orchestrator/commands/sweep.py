"""`tickbus sweep`: a strategy over a grid of parameters, each variant an ordinary run.

    tickbus sweep --secmaster DB --runs-db DB --strategy SPEC --grid fast=5:40:5 --grid slow=20,40,60,80 \\
        [--where "fast < slow"] [--param NAME=V ...] [--random N --seed S] \\
        [--workers N | --scheduler tcp://HOST:PORT] [--record summary|trades|all] [--sort METRIC] [--json]
    tickbus sweep SWEEP.toml                       # the same settings in a file ([strategy], [grid])
    tickbus sweep resume SWEEP_ID --runs-db DB     # runs only the variants not yet recorded
    tickbus sweep list --runs-db DB
    tickbus sweep show SWEEP_ID|latest --runs-db DB [--sort METRIC] [--top N] [--json]
    tickbus sweep report SWEEP_ID|latest --runs-db DB [-o sweep.html] [--metric sharpe]
    tickbus sweep compare SWEEP_A SWEEP_B --runs-db DB [--metric sharpe] [--json]

Everything is checked before anything runs: every problem is listed, exit status 2, nothing is
recorded. Exit 0 when every variant completed; 1 when some failed or the sweep failed; 130 when
it was cancelled (Ctrl-C: `resume` finishes it).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
from typing import Any

from orchestrator import settings
from orchestrator.commands.run import _Ordered, settings_from
from orchestrator.commands.runs import _finite, _open
from orchestrator.errors import UsageError
from orchestrator.sweep import resources
from recorder.layout import METRIC_COLUMNS

ACTIONS = ("resume", "list", "show", "report", "compare")
DEFAULT_DB = "runs.db"
# the flags each action takes (the others belong to starting a sweep)
_ACTION_FLAGS = {
    "resume": {"runs_db", "workers", "scheduler", "json"},
    "list": {"runs_db", "json"},
    "show": {"runs_db", "sort", "top", "json"},
    "report": {"runs_db", "metric", "output"},
    "compare": {"runs_db", "metric", "json"},
}


def register(sub: Any) -> None:
    p = sub.add_parser("sweep", help="run a strategy over a grid of parameters (locally or on a Dask cluster)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("words", nargs="*", metavar="SWEEP.toml | resume SWEEP_ID | list | show SWEEP_ID")
    p.add_argument("--strategy", dest="strategy", action=_Ordered, metavar="SPEC",
                   help="the strategy: registered name, package.module:Class or path/file.py:Class")
    p.add_argument("--param", dest="param", action=_Ordered, metavar="NAME=VALUE",
                   help="a parameter every variant has (repeatable)")
    settings.add_flags(p, settings.SWEEP_SETTINGS)
    p.add_argument("--metric", choices=list(METRIC_COLUMNS), metavar="METRIC",
                   help="report, compare: the figure of the heatmaps and the robustness (default sharpe)")
    p.add_argument("-o", "--output", metavar="FILE.html", help="report: the report file (default SWEEP_ID.html)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_sweep, items=[])


def cmd_sweep(args: argparse.Namespace) -> int:
    words = list(args.words)
    action = words[0] if words and words[0] in ACTIONS else None
    if action is None:
        if len(words) > 1:
            raise UsageError(f"unexpected arguments {' '.join(words[1:])!r} (give one SWEEP.toml)")
        return start(args, words[0] if words else None)
    given = {k for k, v in vars(args).items() if v not in (None, False, [], ()) and k not in ("words", "func", "command")}
    extra = sorted(given - _ACTION_FLAGS[action])
    if extra:
        flags = ", ".join("--" + k.replace("_", "-") if k != "items" else "--strategy/--param" for k in extra)
        raise UsageError(f"sweep {action} does not take {flags} (a sweep keeps its own settings)")
    if action == "list":
        return show_list(args)
    if action == "compare":
        if len(words) != 3:
            raise UsageError("sweep compare takes two sweep ids (SWEEP_A SWEEP_B; either may be latest)")
        from orchestrator.commands.sweep_compare import compare

        return compare(args, words[1], words[2])
    if action == "report":
        if len(words) != 2:
            raise UsageError("sweep report takes one SWEEP_ID (or latest)")
        return report(args, words[1])
    if len(words) != 2:
        raise UsageError(f"sweep {action} takes one SWEEP_ID{' (or latest)' if action == 'show' else ''}")
    return resume(args, words[1]) if action == "resume" else show(args, words[1])


# --- starting and resuming ------------------------------------------------------------------


def start(args: argparse.Namespace, config: str | None) -> int:
    from orchestrator.sweep import phases, plan as P

    raw = settings_from(args, settings.SWEEP_SETTINGS, config)
    plan = P.prepare(raw, origin=config or "settings")
    path = str(plan.settings.get("runs_db") or DEFAULT_DB)
    running = False
    try:
        resources.check_runs_db(path)
        search = resources.search_for(plan)  # Optuna missing: exit 2, nothing recorded
        executor = resources.executor(plan.settings)  # a scheduler that cannot be reached: exit 2, nothing recorded
        try:
            with resources.runs_db(path) as conn:
                sweep_id = phases.create(conn, plan)
                running = True  # from here on the sweep closes the executor
                outcome = phases.run(plan, conn, sweep_id, executor, _progress_for(plan), search)
                return _report(conn, outcome, plan.settings, args.json)
        finally:
            if not running:
                executor.close(cancel=True)
    finally:
        plan.close()


def _progress_for(plan: Any) -> Any:
    from orchestrator.sweep.progress import SweepProgress

    sort = str(plan.settings.get("sort") or "net_pnl")
    return lambda total, done: SweepProgress(total, done, sort=sort)


def resume(args: argparse.Namespace, sweep_id: str) -> int:
    from orchestrator.sweep import phases, store

    with resources.runs_db(args.runs_db or DEFAULT_DB) as conn:
        info, plan = resources.resume_plan(conn, sweep_id, args.runs_db or DEFAULT_DB, workers=args.workers,
                                           scheduler=args.scheduler)
        try:
            search = resources.search_for(plan)
            executor = resources.executor(plan.settings)
            store.restart(conn, info.sweep_id)
            outcome = phases.run(plan, conn, info.sweep_id, executor, _progress_for(plan), search)
            return _report(conn, outcome, plan.settings, args.json)
        finally:
            plan.close()


def _report(conn: sqlite3.Connection, outcome: Any, s: dict[str, Any], as_json: bool) -> int:
    from orchestrator.sweep.results import results_json
    from recorder.analysis.sweeps import get_sweep, variants

    info = get_sweep(conn, outcome.sweep_id)
    sort = str(s.get("sort") or "net_pnl")
    if as_json:
        print(json.dumps(_finite({"sweep_id": info.sweep_id, "status": info.status, "variants": info.variants,
                                  "completed": info.completed, "failed": info.failed,
                                  "elapsed_s": round(outcome.elapsed_s, 3), "error": info.error,
                                  **results_json(conn, info, sort)}), allow_nan=False))
    else:
        print("\n".join(_summary(conn, info, variants(conn, info.sweep_id, sort), sort, 10, outcome.elapsed_s)))
    return 130 if info.status == "cancelled" else 0 if info.status == "completed" and not info.failed else 1


# --- reading -------------------------------------------------------------------------------------


def show_list(args: argparse.Namespace) -> int:
    from recorder.analysis.sweeps import all_sweeps, variants
    from recorder.report.text import table

    with _open(args.runs_db or DEFAULT_DB) as conn:
        sweeps = all_sweeps(conn)
        best = {s.sweep_id: next(iter(variants(conn, s.sweep_id)), None) for s in sweeps}
    if args.json:
        print(json.dumps(_finite([{**s.to_dict(), "best": None if b is None else b.to_dict()}
                                  for s in sweeps for b in [best[s.sweep_id]]]), allow_nan=False))
        return 0
    if not sweeps:
        print("no sweeps")
        return 0
    rows = [[s.sweep_id, s.shown_status, f"{s.completed:,}/{s.variants:,}", f"{s.failed:,}", _money(b), _params(b),
             f"{s.wall_time_s:,.1f} s"] for s in sweeps for b in [best[s.sweep_id]]]
    print("\n".join(table(["sweep id", "status", "done", "failed", "best net PnL", "best params", "wall time"], rows,
                          align="llrrrlr")))
    return 0


def _sweep(conn: sqlite3.Connection, sweep_id: str) -> Any:
    from recorder.analysis.sweeps import UnknownSweepError, get_sweep

    try:
        return get_sweep(conn, sweep_id)
    except UnknownSweepError as exc:
        raise UsageError(str(exc)) from None


def show(args: argparse.Namespace, sweep_id: str) -> int:
    from orchestrator.sweep.results import results_json
    from recorder.analysis.sweeps import variants

    sort = args.sort or "net_pnl"
    with _open(args.runs_db or DEFAULT_DB) as conn:
        info = _sweep(conn, sweep_id)
        ranked = variants(conn, info.sweep_id, sort)
        if args.json:
            out = results_json(conn, info, sort)
            out["results"] = out["results"][: args.top] if args.top else out["results"]
            print(json.dumps(_finite({**info.to_dict(), **out}), allow_nan=False))
        else:
            print("\n".join(_summary(conn, info, ranked, sort, args.top or 20, info.wall_time_s)))
    return 0


def report(args: argparse.Namespace, sweep_id: str) -> int:
    import time

    from recorder.report import ChartsUnavailable, require_matplotlib
    from recorder.report.sweep_html import write_sweep_report

    started = time.monotonic()
    try:
        require_matplotlib()
    except ChartsUnavailable as exc:
        raise UsageError(str(exc)) from None
    with _open(args.runs_db or DEFAULT_DB) as conn:
        info = _sweep(conn, sweep_id)
        out = args.output or f"{info.sweep_id}.html"
        try:
            path = write_sweep_report(conn, info.sweep_id, out, args.metric or "sharpe")
        except OSError as exc:
            raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:,.1f} MB) in {time.monotonic() - started:,.1f} s")
    return 0


def _summary(conn: sqlite3.Connection, info: Any, ranked: list[Any], sort: str, top: int, elapsed: float) -> list[str]:
    from recorder.analysis.sweep_checks import holdout, out_of_sample, rank_correlation
    from recorder.analysis.sweep_surface import build
    from recorder.analysis.sweeps import variants
    from recorder.report.sweep_table import ranking
    from recorder.report.text import table

    spec = info.spec
    lines = [f"sweep       {info.sweep_id}", f"name        {info.name}", f"status      {info.shown_status}",
             f"variants    {info.variants:,}: {info.completed:,} completed, {info.failed:,} failed, "
             f"{info.variants - info.completed - info.failed:,} pending   wall time {elapsed:,.1f} s",
             f"strategy    {spec.get('strategy')} {json.dumps(spec.get('fixed') or {})}",
             "grid        " + "  ".join(f"{k}={_values(v)}" for k, v in (spec.get("grid") or {}).items())
             + f"  ({spec.get('grid_size', 0):,} points)"]
    s = spec.get("settings") or {}
    if s.get("where"):
        lines.append(f"where       {s['where']}")
    if s.get("random"):
        lines.append(f"random      {s['random']} points, seed {spec.get('seed')}")
    lines.append(f"record      {spec.get('record')}; data {len(spec.get('data', {}).get('symbols') or [])} symbols, "
                 f"{spec.get('data', {}).get('bars', 0):,} bars per variant")
    if info.error:
        lines.append(f"error       {info.error}")
    hold = spec.get("holdout")
    if hold:
        from recorder.analysis.timefmt import iso_ns

        lines.append(f"holdout     {hold.get('given')}: ranked until {iso_ns(hold.get('split_ns'))}, top {hold.get('top')} "
                     "run from then on")
    if spec.get("walk_forward"):
        lines.append(f"walk-fwd    {len(spec['walk_forward'].get('bounds') or [])} windows (sweep report shows them)")
    names = list(spec.get("grid") or {})
    r = ranking(build(info.sweep_id, spec, ranked, sort), names,
                out_of_sample(conn, info.sweep_id, sort), top)
    lines += ["", f"best {min(top, len(ranked))} by {sort}",
              *table(r.header, r.rows, left=0, align="r" * (len(r.header) - 2) + "ll")]
    if hold:
        rho = rank_correlation(holdout(conn, info.sweep_id, sort), sort)
        lines.append(f"rank correlation of {sort}, in sample vs out of sample (Spearman): {'-' if rho is None else f'{rho:.2f}'}")
    return lines


def _values(values: list[Any]) -> str:
    return ",".join(str(v) for v in values) if len(values) <= 8 else f"{values[0]}..{values[-1]} ({len(values)} values)"


def _money(v: Any) -> str:
    return "-" if v is None or v.figures.get("net_pnl") is None else f"{v.figures['net_pnl']:,.2f}"


def _params(v: Any) -> str:
    return "-" if v is None else " ".join(f"{k}={x}" for k, x in v.params.items())
