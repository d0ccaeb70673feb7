"""Two sweeps over the same grid, variant by variant (`tickbus sweep compare A B`): did a code or
data change move the surface?

Variants are matched by their parameters (the grid variants only: phase NULL). A variant
*changed* when its status differs, or any figure of run_metrics' columns differs by more than
TOLERANCE (relative, or absolute near zero). The grids must be the same: the same parameters with
the same values (a sampled or filtered sweep matches the points both ran).
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from typing import Any

from recorder.analysis.sweep_checks import spearman
from recorder.analysis.sweep_surface import figure
from recorder.analysis.sweeps import SweepInfo, Variant, get_sweep, variants
from recorder.layout import METRIC_COLUMNS

TOLERANCE = 1e-9


class GridMismatch(ValueError):
    """The two sweeps' grids differ; the message says how."""


@dataclass(frozen=True)
class Pair:
    params: dict[str, Any]
    a: Variant | None
    b: Variant | None
    changed: list[str]  # the figures (or "status", "missing") that differ

    def delta(self, metric: str) -> float | None:
        x = None if self.a is None else figure(self.a, metric)
        y = None if self.b is None else figure(self.b, metric)
        return None if x is None or y is None else y - x


@dataclass(frozen=True)
class SweepComparison:
    a: SweepInfo
    b: SweepInfo
    metric: str
    pairs: list[Pair]  # in A's rank order by the metric, then B's own points

    @property
    def changed(self) -> list[Pair]:
        return [p for p in self.pairs if p.changed]

    @property
    def rank_correlation(self) -> float | None:
        both = [(x, y) for p in self.pairs if p.a is not None and p.b is not None
                for x, y in [(figure(p.a, self.metric), figure(p.b, self.metric))] if x is not None and y is not None]
        return spearman([x for x, _ in both], [y for _, y in both])

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a.sweep_id, "b": self.b.sweep_id, "metric": self.metric, "variants": len(self.pairs),
                "changed": len(self.changed), "rank_correlation": self.rank_correlation,
                "pairs": [{"params": p.params, "a_run_id": p.a.run_id if p.a else None,
                           "b_run_id": p.b.run_id if p.b else None,
                           "a": None if p.a is None else p.a.figures.get(self.metric),
                           "b": None if p.b is None else p.b.figures.get(self.metric),
                           "delta": p.delta(self.metric), "changed": p.changed} for p in self.pairs]}


def _same(x: Any, y: Any) -> bool:
    if x is None or y is None:
        return x is y
    if isinstance(x, (int, float)) and isinstance(y, (int, float)):
        return math.isclose(float(x), float(y), rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return bool(x == y)


def _key(params: dict[str, Any]) -> str:
    return json.dumps({k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                       for k, v in sorted(params.items())})


def check_grids(a: SweepInfo, b: SweepInfo) -> None:
    ga, gb = a.spec.get("grid") or {}, b.spec.get("grid") or {}
    problems = []
    for name in sorted(set(ga) | set(gb)):
        if name not in ga or name not in gb:
            problems.append(f"{name} is in the grid of {a.sweep_id if name in ga else b.sweep_id} only")
        elif [_key({"v": v}) for v in ga[name]] != [_key({"v": v}) for v in gb[name]]:
            problems.append(f"{name}: {ga[name]} vs {gb[name]}")
    if a.spec.get("strategy") != b.spec.get("strategy"):
        problems.append(f"strategy {a.spec.get('strategy')} vs {b.spec.get('strategy')}")
    if problems:
        raise GridMismatch(f"sweeps {a.sweep_id} and {b.sweep_id} are not over the same grid: " + "; ".join(problems))


def compare_sweeps(conn: sqlite3.Connection, sweep_a: str, sweep_b: str, metric: str = "sharpe") -> SweepComparison:
    a, b = get_sweep(conn, sweep_a), get_sweep(conn, sweep_b)
    check_grids(a, b)
    va, vb = variants(conn, a.sweep_id, metric), variants(conn, b.sweep_id, metric)
    by_b = {_key(v.params): v for v in vb}
    pairs, seen = [], set()
    for v in va:
        k = _key(v.params)
        seen.add(k)
        other = by_b.get(k)
        if other is None:
            pairs.append(Pair(v.params, v, None, ["missing"]))
            continue
        changed = [] if v.status == other.status else ["status"]
        changed += [c for c in METRIC_COLUMNS if not _same(v.figures.get(c), other.figures.get(c))]
        pairs.append(Pair(v.params, v, other, changed))
    pairs += [Pair(v.params, None, v, ["missing"]) for v in vb if _key(v.params) not in seen]
    return SweepComparison(a, b, metric, pairs)
