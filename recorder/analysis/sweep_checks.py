"""A sweep's out-of-sample checks read back from runs.db: each top in-sample variant next to its
run on the held-out period (`--holdout`), the rank correlation of the two, and the walk-forward
windows (`--walk-forward`): each window's best variant, its run on the next window, and the
stitched out-of-sample equity.

Spearman's rank correlation is the Pearson correlation of the two lists' ranks (ties get their
average rank); None with fewer than two pairs or when either side is constant.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import numpy as np

from recorder.analysis.sweep_surface import figure
from recorder.analysis.sweeps import Variant, variants
from recorder.metrics import stored_equity


@dataclass(frozen=True)
class HoldoutPair:
    in_sample: Variant  # the grid variant (ranked on the in-sample period)
    out_of_sample: Variant | None  # its run on the held-out period (None: not run)


def out_of_sample(conn: sqlite3.Connection, sweep_id: str, metric: str = "sharpe") -> dict[int, Variant]:
    """The held-out runs by the grid variant each runs again."""
    return {v.source: v for v in variants(conn, sweep_id, metric, phase="oos") if v.source is not None}


def holdout(conn: sqlite3.Connection, sweep_id: str, metric: str = "sharpe") -> list[HoldoutPair]:
    """The variants run again on the held-out period, in in-sample rank order."""
    oos = out_of_sample(conn, sweep_id, metric)
    if not oos:
        return []
    return [HoldoutPair(v, oos[v.variant]) for v in variants(conn, sweep_id, metric) if v.variant in oos]


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=float)
    for value in np.unique(x):  # ties: their average rank
        same = x == value
        ranks[same] = ranks[same].mean()
    return ranks


def spearman(a: list[float], b: list[float]) -> float | None:
    if len(a) != len(b) or len(a) < 2:
        return None
    ra, rb = _ranks(np.asarray(a, float)), _ranks(np.asarray(b, float))
    if ra.std() == 0 or rb.std() == 0:
        return None
    return round(float(np.corrcoef(ra, rb)[0, 1]), 12)


def rank_correlation(pairs: list[HoldoutPair], metric: str = "sharpe") -> float | None:
    """Spearman over the pairs with a figure on both sides."""
    both = [(x, y) for p in pairs if p.out_of_sample is not None
            for x, y in [(figure(p.in_sample, metric), figure(p.out_of_sample, metric))] if x is not None and y is not None]
    return spearman([x for x, _ in both], [y for _, y in both])


@dataclass(frozen=True)
class Window:
    window: int  # 1-based
    start_ns: int
    end_ns: int  # inclusive
    best: Variant | None  # the window's best grid variant (None: nothing ranked, or the last window)
    next_run: Variant | None  # the run of the previous window's best on this window (None for window 1)

    def to_dict(self) -> dict[str, Any]:
        return {"window": self.window, "start_ns": self.start_ns, "end_ns": self.end_ns,
                "best": None if self.best is None else {"params": self.best.params, **self.best.metrics()},
                "out_of_sample": None if self.next_run is None else {"params": self.next_run.params, **self.next_run.metrics()}}


def walk_forward(conn: sqlite3.Connection, sweep_id: str, spec: dict[str, Any], metric: str = "sharpe") -> list[Window]:
    """The walk-forward windows of a sweep (none without --walk-forward). A window's best is the
    variant the sweep chose there (by its --sort) and ran on the next window; `metric` orders
    nothing here, it only picks which figures callers show."""
    bounds = (spec.get("walk_forward") or {}).get("bounds") or []
    wf = {v.variant: v for v in variants(conn, sweep_id, metric, phase="wf")}
    ran = {v.wf_window: v for v in variants(conn, sweep_id, metric, phase="wf_oos")}
    out = []
    for k, (start, end) in enumerate(bounds, 1):
        nxt = ran.get(k + 1)
        out.append(Window(k, int(start), int(end), None if nxt is None or nxt.source is None else wf.get(nxt.source),
                          ran.get(k)))
    return out


def stitch(conn: sqlite3.Connection, run_ids: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """The equity curves of consecutive runs as one: each starts where the previous ended."""
    ts_parts, net_parts, offset = [], [], 0.0
    for run_id in run_ids:
        curve = stored_equity(conn, run_id) if run_id else None
        if curve is None:
            continue
        ts, net = curve
        ts_parts.append(ts)
        net_parts.append(net + offset)
        offset += float(net[-1])
    if not ts_parts:
        return np.empty(0, np.int64), np.empty(0)
    return np.concatenate(ts_parts), np.concatenate(net_parts)


def rebased(conn: sqlite3.Connection, run_id: str | None, from_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """A run's equity from `from_ns` on, starting at 0 there (the full-period variant over the
    walk-forward's out-of-sample span; from its thinned curve, so the start is its first kept
    point at or after `from_ns`)."""
    curve = stored_equity(conn, run_id) if run_id else None
    if curve is None:
        return np.empty(0, np.int64), np.empty(0)
    ts, net = curve
    keep = ts >= from_ns
    if not keep.any():
        return np.empty(0, np.int64), np.empty(0)
    return ts[keep], net[keep] - float(net[keep][0])
