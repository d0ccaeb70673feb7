"""A sweep's metric surface: which grid parameters vary, a heatmap of a metric for each pair of
them (a line for one), and how robust each variant is (its metric next to its grid neighbours').

    from recorder.analysis.sweep_surface import surface
    s = surface(conn, "latest", metric="sharpe")
    s.axes                       # varying parameters -> their grid values, in grid order
    hm = s.heatmaps[0]           # hm.x, hm.y, hm.xs, hm.ys, hm.values[row(y)][col(x)], hm.cells[..][..]
    hm.cells[0][0].run_id        # the run whose figure the cell shows (None for an empty cell)
    s.robust[0].neighbour_median, s.robust[0].isolated_peak

Definitions (everything is computed from the variants' stored figures, no run is re-read):

* A parameter *varies* when the sweep's grid gives it more than one value. Its axis is the grid's
  values in the order given; a sweep without a stored grid takes the sorted values the variants
  hold.
* A heatmap cell (x = a, y = b) stands for every variant with x = a and y = b, whatever the other
  varying parameters are. With `how="best"` (the default) the cell shows the best figure among
  them (by the metric's direction: the most for Sharpe, the least for max drawdown) and `run_id`
  names that variant's run; with `how="median"` it shows their median and `run_id` is the run
  whose figure is closest to the median (ties: lowest variant number). `variants` and `run_ids`
  list every variant a cell stands for. A cell with no variant, or none with a figure (failed,
  pending, excluded by --where or --random), is None. A line is the same over one parameter.
* A variant's *neighbours* are the grid points one step away in one varying parameter, the
  others equal (up to 2 per varying parameter), that the sweep ran and that have a figure. `neighbour_median` is the median of their figures (None without neighbours).
* A variant is an *isolated peak* when its figure is in the sweep's top decile (rank <=
  max(1, ceil(10 % of the variants with a figure))) and its neighbour median is no better than the
  median of all variants (its surroundings are ordinary: the figure is likely an overfit spike, not
  a plateau). Without neighbours a variant is never flagged.
"""

from __future__ import annotations

import math
import sqlite3
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any

from recorder.analysis.sweeps import Variant, get_sweep, variants as load_variants
from recorder.layout import METRIC_COLUMNS

HOWS = ("best", "median")
TOP_FRACTION = 0.10


def figure(v: Variant, metric: str) -> float | None:
    """The variant's finite figure for `metric`, or None."""
    x = v.figures.get(metric)
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
        return None
    return float(x)


def _better(metric: str) -> bool:
    if metric not in METRIC_COLUMNS:
        raise ValueError(f"unknown metric {metric!r} (one of {', '.join(METRIC_COLUMNS)})")
    return METRIC_COLUMNS[metric]


def _key(value: Any) -> Any:
    """A parameter value as an axis key (1 and 1.0 are the same grid point)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def varying(spec: dict[str, Any], vs: Sequence[Variant]) -> dict[str, list[Any]]:
    """The parameters that vary, each with its axis values (grid order)."""
    grid = spec.get("grid") if isinstance(spec.get("grid"), dict) else None
    if grid:
        return {name: list(values) for name, values in grid.items() if isinstance(values, list) and len(values) > 1}
    seen: dict[str, list[Any]] = {}
    for v in vs:
        for name, value in v.params.items():
            if value not in seen.setdefault(name, []):
                seen[name].append(value)
    out = {}
    for name, values in seen.items():
        if len(values) > 1:
            try:
                out[name] = sorted(values)
            except TypeError:
                out[name] = values
    return out


@dataclass(frozen=True)
class Cell:
    """One point of a heatmap or line."""

    value: float | None  # the figure shown (None: no variant with a figure)
    run_id: str | None  # the run whose figure is shown (best), or nearest the median
    variants: tuple[int, ...]  # every variant the cell stands for
    run_ids: tuple[str, ...]  # their runs (variants that have one)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "run_id": self.run_id, "variants": list(self.variants), "run_ids": list(self.run_ids)}


def _cell(group: list[Variant], metric: str, how: str) -> Cell:
    more = _better(metric)
    scored = [(figure(v, metric), v) for v in group]
    has = [(x, v) for x, v in scored if x is not None]
    ids = tuple(v.variant for v in group)
    runs = tuple(v.run_id for v in group if v.run_id)
    if not has:
        return Cell(None, None, ids, runs)
    if how == "best":
        x, v = sorted(has, key=lambda p: (-p[0] if more else p[0], p[1].variant))[0]
        return Cell(x, v.run_id, ids, runs)
    med = statistics.median(x for x, _ in has)
    _, v = sorted(has, key=lambda p: (abs(p[0] - med), p[1].variant))[0]
    return Cell(med, v.run_id, ids, runs)


@dataclass(frozen=True)
class Heatmap:
    metric: str
    how: str
    x: str
    y: str
    xs: list[Any]
    ys: list[Any]
    cells: list[list[Cell]]  # [row: index in ys][column: index in xs]

    @property
    def values(self) -> list[list[float | None]]:
        return [[c.value for c in row] for row in self.cells]

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "how": self.how, "x": self.x, "y": self.y, "xs": self.xs, "ys": self.ys,
                "values": self.values, "cells": [[c.to_dict() for c in row] for row in self.cells]}


@dataclass(frozen=True)
class Line:
    metric: str
    how: str
    param: str
    xs: list[Any]
    cells: list[Cell]

    @property
    def values(self) -> list[float | None]:
        return [c.value for c in self.cells]

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "how": self.how, "param": self.param, "xs": self.xs, "values": self.values,
                "cells": [c.to_dict() for c in self.cells]}


def _check_how(how: str) -> None:
    if how not in HOWS:
        raise ValueError(f"unknown aggregation {how!r} (one of {', '.join(HOWS)})")


def heatmap(vs: Iterable[Variant], x: str, y: str, axes: dict[str, list[Any]], metric: str = "sharpe",
            how: str = "best") -> Heatmap:
    """The metric over parameters x (columns) and y (rows); see the module's docstring."""
    _check_how(how)
    _better(metric)
    xs, ys = axes[x], axes[y]
    groups: dict[tuple[Any, Any], list[Variant]] = {}
    for v in vs:
        if x in v.params and y in v.params:
            groups.setdefault((_key(v.params[x]), _key(v.params[y])), []).append(v)
    cells = [[_cell(groups.get((_key(a), _key(b)), []), metric, how) for a in xs] for b in ys]
    return Heatmap(metric, how, x, y, list(xs), list(ys), cells)


def line(vs: Iterable[Variant], param: str, axes: dict[str, list[Any]], metric: str = "sharpe", how: str = "best") -> Line:
    """The metric over one parameter; see the module's docstring."""
    _check_how(how)
    _better(metric)
    groups: dict[Any, list[Variant]] = {}
    for v in vs:
        if param in v.params:
            groups.setdefault(_key(v.params[param]), []).append(v)
    xs = axes[param]
    return Line(metric, how, param, list(xs), [_cell(groups.get(_key(a), []), metric, how) for a in xs])


@dataclass(frozen=True)
class Robust:
    """A variant's figure next to its grid neighbours'."""

    variant: int
    run_id: str | None
    params: dict[str, Any]
    value: float | None
    neighbour_median: float | None
    neighbours: tuple[int, ...]  # the neighbours with a figure (variant numbers)
    isolated_peak: bool

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "run_id": self.run_id, "params": self.params, "value": self.value,
                "neighbour_median": self.neighbour_median, "neighbours": list(self.neighbours),
                "isolated_peak": self.isolated_peak}


def robustness(vs: Sequence[Variant], axes: dict[str, list[Any]], metric: str = "sharpe") -> list[Robust]:
    """Each variant (in the order given) with its neighbour median and isolated-peak flag."""
    more = _better(metric)
    names = list(axes)
    index = {n: {_key(val): i for i, val in enumerate(axes[n])} for n in names}

    def position(v: Variant) -> tuple[int, ...] | None:
        try:
            return tuple(index[n][_key(v.params[n])] for n in names)
        except (KeyError, TypeError):
            return None

    at: dict[tuple[int, ...], list[Variant]] = {}
    for v in vs:
        pos = position(v)
        if pos is not None:
            at.setdefault(pos, []).append(v)
    scored = sorted((x for v in vs if (x := figure(v, metric)) is not None), reverse=more)
    top_n = max(1, math.ceil(TOP_FRACTION * len(scored))) if scored else 0
    threshold = scored[top_n - 1] if scored else None
    overall = statistics.median(scored) if scored else None
    steps = [tuple(d if i == k else 0 for i in range(len(names))) for k in range(len(names)) for d in (-1, 1)]
    out = []
    for v in vs:
        value, pos = figure(v, metric), position(v)
        near: list[Variant] = []
        if pos is not None:
            for s in steps:
                near += at.get(tuple(p + d for p, d in zip(pos, s)), [])
        near_scored = [(u.variant, x) for u in near if (x := figure(u, metric)) is not None]
        med = statistics.median(x for _, x in near_scored) if near_scored else None
        peak = False
        if value is not None and med is not None and threshold is not None and overall is not None:
            in_top = value >= threshold if more else value <= threshold
            ordinary = med <= overall if more else med >= overall
            peak = in_top and ordinary
        out.append(Robust(v.variant, v.run_id, dict(v.params), value, med, tuple(sorted(u for u, _ in near_scored)), peak))
    return out


@dataclass(frozen=True)
class Surface:
    sweep_id: str
    metric: str
    how: str
    axes: dict[str, list[Any]]  # the varying parameters
    variants: list[Variant]  # ranked by the metric, best first
    heatmaps: list[Heatmap] = field(default_factory=list)  # one per pair of varying parameters
    lines: list[Line] = field(default_factory=list)  # one per varying parameter
    robust: list[Robust] = field(default_factory=list)  # in the order of `variants`

    def robust_of(self, variant: int) -> Robust | None:
        return next((r for r in self.robust if r.variant == variant), None)

    def neighbour_variants(self) -> list[Variant]:
        """The variants with each one's neighbour median as its figure (for a robustness heatmap)."""
        med = {r.variant: r.neighbour_median for r in self.robust}
        return [replace(v, figures={**v.figures, self.metric: med.get(v.variant)}) for v in self.variants]

    def robustness_heatmap(self, x: str, y: str) -> Heatmap:
        """The neighbour medians over parameters x and y (cells aggregated as `how`)."""
        return heatmap(self.neighbour_variants(), x, y, self.axes, self.metric, self.how)

    def robustness_line(self, param: str) -> Line:
        return line(self.neighbour_variants(), param, self.axes, self.metric, self.how)

    def peaks(self) -> list[Robust]:
        return [r for r in self.robust if r.isolated_peak]

    def to_dict(self) -> dict[str, Any]:
        return {"sweep_id": self.sweep_id, "metric": self.metric, "how": self.how, "axes": self.axes,
                "heatmaps": [h.to_dict() for h in self.heatmaps], "lines": [ln.to_dict() for ln in self.lines],
                "robustness": [r.to_dict() for r in self.robust]}


def build(sweep_id: str, spec: dict[str, Any], vs: Sequence[Variant], metric: str = "sharpe", how: str = "best") -> Surface:
    """The surface of the given (ranked) variants."""
    axes = varying(spec, vs)
    pairs = [heatmap(vs, x, y, axes, metric, how) for x, y in combinations(axes, 2)]
    lines = [line(vs, p, axes, metric, how) for p in axes]
    return Surface(sweep_id, metric, how, axes, list(vs), pairs, lines, robustness(vs, axes, metric))


def surface(conn: sqlite3.Connection, sweep_id: str, metric: str = "sharpe", how: str = "best") -> Surface:
    """The surface of a sweep in runs.db (its grid variants, ranked by `metric`)."""
    info = get_sweep(conn, sweep_id)
    return build(info.sweep_id, info.spec, load_variants(conn, info.sweep_id, sort=metric), metric, how)
