"""A sweep's results as `tickbus sweep --json` and `sweep show --json` print them: the grid's
variants ranked, each with its figures; with a holdout, per variant `in_sample` and
`out_of_sample` (the same metric keys and each run's id) and the sweep's `rank_correlation`
(Spearman, in sample vs out of sample over the top K); with walk-forward, its windows."""

from __future__ import annotations

import sqlite3
from typing import Any

from recorder.analysis.sweep_checks import holdout, out_of_sample, rank_correlation, walk_forward
from recorder.analysis.sweeps import SweepInfo, variants


def results_json(conn: sqlite3.Connection, info: SweepInfo, sort: str) -> dict[str, Any]:
    ranked = variants(conn, info.sweep_id, sort)
    out: dict[str, Any] = {"sort": sort, "results": [v.to_dict() for v in ranked]}
    if info.spec.get("holdout"):
        oos = out_of_sample(conn, info.sweep_id, sort)
        for v, r in zip(ranked, out["results"]):
            o = oos.get(v.variant)
            r["in_sample"] = v.metrics()
            r["out_of_sample"] = None if o is None else o.metrics()
        out["holdout"] = info.spec["holdout"]
        out["rank_correlation"] = rank_correlation(holdout(conn, info.sweep_id, sort), sort)
    if info.spec.get("walk_forward"):
        out["walk_forward"] = [w.to_dict() for w in walk_forward(conn, info.sweep_id, info.spec, sort)]
    if info.spec.get("search"):
        out["search"] = info.spec["search"]
    return out
