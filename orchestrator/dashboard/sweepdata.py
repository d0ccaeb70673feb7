"""Sweeps as the dashboard's pages and JSON API show them, read from runs.db alone (with the
dashboard's own sweep jobs, for a sweep not yet recorded). The surface (heatmaps, lines,
robustness) is recorder/analysis/sweep_surface.py's; nothing here computes it again.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from orchestrator.dashboard.jobs import Job
from recorder.analysis import sweep_checks as SC, sweep_surface as SS
from recorder.analysis.sweeps import SweepInfo, Variant, all_sweeps, get_sweep, variants
from recorder.layout import METRIC_COLUMNS

LIVE = ("queued", "starting", "running")
FINAL = ("completed", "failed", "cancelled", "abandoned")
#: The figures of the variants table (every run_metrics column), and their labels.
METRICS = {"net_pnl": "net PnL", "sharpe": "Sharpe", "sortino": "Sortino", "max_drawdown": "max drawdown",
           "max_drawdown_pct": "max drawdown %", "fills": "fills", "round_trips": "round trips", "win_rate": "win rate",
           "profit_factor": "profit factor", "exposure": "exposure"}
assert set(METRICS) == set(METRIC_COLUMNS)


def entry(info: SweepInfo | None, job: Job | None) -> dict[str, Any]:
    """One sweep for the list and its page: its runs.db row when there is one, else the job's."""
    job_error = None if job is None else job.error or (job.result or {}).get("error")  # ended before its row existed
    if info is not None:
        e = info.to_dict()
        spec = info.spec
        e["strategy"] = str(spec.get("strategy") or "").rpartition(":")[2] or spec.get("strategy")
        e["grid"] = spec.get("grid") or {}
    else:
        assert job is not None
        e = {"sweep_id": None, "name": job.label, "status": job.status, "variants": None, "completed": 0, "failed": 0,
             "pending": None, "ts_start": int(job.created * 1e9), "ts_end": None, "wall_time_s": None,
             "error": job_error, "spec": {}, "strategy": str((job.settings.get("strategies") or [[""]])[0][0]).rpartition(":")[2],
             "grid": job.settings.get("grid") or {}}
    if job_error and not e.get("error"):
        e["error"] = job_error
    e["job_id"] = job.job_id if job else None
    e["cancellable"] = job is not None and job.state != "done" and e["status"] in LIVE
    e["key"] = e.get("sweep_id") or e["job_id"]
    done = (e["completed"] or 0) + (e["failed"] or 0)
    e["progress"] = done / e["variants"] if e.get("variants") else 0.0
    return e


def list_entries(conn: sqlite3.Connection, jobs: list[Job]) -> list[dict[str, Any]]:
    """Every sweep of runs.db and every sweep job not in it yet, newest first."""
    by_sweep = {j.run_id: j for j in sorted(jobs, key=lambda j: j.created) if j.run_id}  # the newest (a resume's)
    infos = all_sweeps(conn)
    out = [entry(i, by_sweep.get(i.sweep_id)) for i in infos]
    known = {i.sweep_id for i in infos}
    out += [entry(None, j) for j in jobs if not (j.run_id and j.run_id in known) and (j.state != "done" or not j.run_id)]
    out.sort(key=lambda e: e["ts_start"], reverse=True)
    return out


def find(conn: sqlite3.Connection, key: str, job: Job | None) -> SweepInfo | None:
    from recorder.analysis.sweeps import UnknownSweepError

    sweep_id = job.run_id if job is not None else key
    if not sweep_id:
        return None
    try:
        return get_sweep(conn, sweep_id)
    except UnknownSweepError:
        return None


def _row(v: Variant, robust: SS.Robust | None, oos: Variant | None) -> dict[str, Any]:
    error = (v.error or "").strip().splitlines()
    row: dict[str, Any] = {"variant": v.variant, "params": v.params, "status": v.status, "run_id": v.run_id,
                           "error": error[-1] if error else None, "bars": v.bars, "elapsed_s": v.elapsed_s,
                           **{k: v.figures.get(k) for k in METRIC_COLUMNS}}
    row["neighbour_median"] = robust.neighbour_median if robust else None
    row["isolated_peak"] = bool(robust and robust.isolated_peak)
    if oos is not None:
        row["oos"] = {"variant": oos.variant, **oos.metrics()}
    return row


def table(conn: sqlite3.Connection, info: SweepInfo, metric: str) -> dict[str, Any]:
    """The variants table: every grid variant (ranked by `metric`), its robustness by that metric,
    and the out-of-sample run of it when the sweep has one (--holdout, with the rank correlation
    of the two); the walk-forward windows (--walk-forward)."""
    if metric not in METRIC_COLUMNS:
        raise ValueError(f"unknown metric {metric!r} (one of {', '.join(METRIC_COLUMNS)})")
    ranked = variants(conn, info.sweep_id, sort=metric)
    axes = SS.varying(info.spec, ranked)
    robust = {r.variant: r for r in SS.robustness(ranked, axes, metric)}
    oos = SC.out_of_sample(conn, info.sweep_id, metric)
    pairs = SC.holdout(conn, info.sweep_id, metric) if oos else []
    windows = SC.walk_forward(conn, info.sweep_id, info.spec, metric)
    return {"metric": metric, "more_is_better": METRIC_COLUMNS[metric], "params": list((info.spec.get("grid") or {})),
            "axes": axes, "has_oos": bool(oos), "holdout": info.spec.get("holdout"),
            "rank_correlation": SC.rank_correlation(pairs, metric) if pairs else None,
            "walk_forward": [w.to_dict() for w in windows],
            "variants": [_row(v, robust.get(v.variant), oos.get(v.variant)) for v in ranked]}


def surface(conn: sqlite3.Connection, info: SweepInfo, metric: str, how: str, x: str | None, y: str | None) -> dict[str, Any]:
    """The heatmap of the pair (x, y) of varying parameters, or the line of x (when only one
    varies, or x == y); ValueError for an unknown metric, aggregation or parameter."""
    if metric not in METRIC_COLUMNS:
        raise ValueError(f"unknown metric {metric!r} (one of {', '.join(METRIC_COLUMNS)})")
    if how not in SS.HOWS:
        raise ValueError(f"unknown aggregation {how!r} (one of {', '.join(SS.HOWS)})")
    ranked = variants(conn, info.sweep_id, sort=metric)
    axes = SS.varying(info.spec, ranked)
    names = list(axes)
    for given in (x, y):
        if given and given not in axes:
            raise ValueError(f"{given!r} is not a varying parameter of the sweep (varying: {', '.join(names) or 'none'})")
    out: dict[str, Any] = {"metric": metric, "how": how, "axes": axes, "heatmap": None, "line": None}
    if not names:
        return out
    x = x or names[0]
    if y is None and len(names) > 1:
        y = next(n for n in names if n != x)
    if y and y != x:
        out["heatmap"] = SS.heatmap(ranked, x, y, axes, metric, how).to_dict()
    else:
        out["line"] = SS.line(ranked, x, axes, metric, how).to_dict()
    return out
