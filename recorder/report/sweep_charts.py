"""The sweep report's charts (matplotlib, the `report` extra, as in charts.py): a heatmap per pair
of parameters, a line for one parameter, the metric's distribution, equity curves overlaid.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from recorder.analysis.sweep_surface import Heatmap, Line
from recorder.report.charts import HEIGHT_IN, _figure, _png, _style, _times

_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def _label(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def heatmap_png(hm: Heatmap, title: str, peaks: set[tuple[Any, Any]] | None = None, *, more_is_better: bool = True) -> bytes:
    """Cells coloured by value (empty cells blank), values written in when the grid is small;
    `peaks` ((x, y) values) are outlined in red."""
    fig = _figure(max(HEIGHT_IN, min(9.0, 1.2 + 0.32 * len(hm.ys))))
    fig.subplots_adjust(left=0.08, right=0.97, top=0.9, bottom=0.14)
    ax = fig.add_subplot()
    data = np.array([[np.nan if v is None else v for v in row] for row in hm.values], dtype=float)
    cmap = "RdYlGn" if more_is_better else "RdYlGn_r"
    finite = data[np.isfinite(data)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, aspect="auto", origin="lower", vmin=vmin,
                      vmax=vmax if vmax > vmin else vmin + 1e-9, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.03, pad=0.01)
    ax.set_xticks(range(len(hm.xs)), [_label(x) for x in hm.xs], fontsize=8, rotation=45 if len(hm.xs) > 12 else 0)
    ax.set_yticks(range(len(hm.ys)), [_label(y) for y in hm.ys], fontsize=8)
    ax.set_xlabel(hm.x, fontsize=9)
    ax.set_ylabel(hm.y, fontsize=9)
    ax.set_title(title, fontsize=10, loc="left")
    if len(hm.xs) * len(hm.ys) <= 300:
        for i in range(len(hm.ys)):
            for j in range(len(hm.xs)):
                if math.isfinite(data[i, j]):
                    ax.text(j, i, f"{data[i, j]:.2g}", ha="center", va="center", fontsize=7)
    for px, py in peaks or ():
        if px in hm.xs and py in hm.ys:
            j, i = hm.xs.index(px), hm.ys.index(py)
            ax.add_patch(_rect(j, i))
    return _png(fig)


def _rect(j: int, i: int) -> Any:
    from matplotlib.patches import Rectangle

    return Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.0)


def line_png(ln: Line, title: str, neighbour: Line | None = None) -> bytes:
    """The metric over one parameter (and the neighbour medians, dashed)."""
    fig = _figure()
    ax = fig.add_subplot()
    x = np.arange(len(ln.xs))
    y = np.array([np.nan if v is None else v for v in ln.values], dtype=float)
    ax.plot(x, y, marker="o", color="black", linewidth=1.2, label=ln.metric)
    if neighbour is not None:
        yn = np.array([np.nan if v is None else v for v in neighbour.values], dtype=float)
        ax.plot(x, yn, linestyle="--", color="#1f77b4", linewidth=1.0, label="neighbour median")
        ax.legend(fontsize=8, loc="upper left")
    ax.set_xticks(x, [_label(v) for v in ln.xs], fontsize=8)
    ax.set_xlabel(ln.param, fontsize=9)
    _style(ax, title, ln.metric)
    return _png(fig)


def histogram_png(values: list[float], metric: str, title: str) -> bytes:
    fig = _figure()
    ax = fig.add_subplot()
    if values:
        ax.hist(values, bins=min(40, max(5, int(math.sqrt(len(values))) * 2)), color="#607d8b", edgecolor="white")
        ax.axvline(float(np.median(values)), color="black", linewidth=1.0, linestyle="--", label="median")
        ax.legend(fontsize=8)
    _style(ax, title, "variants", zero=False)
    ax.set_xlabel(metric, fontsize=9)
    return _png(fig)


def curves_png(curves: list[tuple[str, np.ndarray, np.ndarray]], title: str, *, marks: list[int] | None = None) -> bytes:
    """Equity curves (label, times ns, net PnL) overlaid; `marks`: vertical lines at times (ns)."""
    fig = _figure()
    ax = fig.add_subplot()
    for k, (label, ts, net) in enumerate(curves):
        if len(ts):
            ax.plot(_times(ts), net, linewidth=1.3 if k == 0 else 0.9, color=_COLOURS[k % len(_COLOURS)], label=label)
    for t in marks or []:
        ax.axvline(np.datetime64(int(t), "ns"), color="#999", linewidth=0.6, linestyle=":")
    if any(len(ts) for _, ts, _ in curves):
        ax.legend(fontsize=7, loc="upper left")
    _style(ax, title, "net PnL")
    return _png(fig)


def pairs_png(pairs: list[tuple[str, float | None, float | None]], metric: str, title: str) -> bytes:
    """In-sample vs out-of-sample figure per variant, side by side bars."""
    fig = _figure()
    ax = fig.add_subplot()
    x = np.arange(len(pairs))
    ins = [np.nan if a is None else a for _, a, _ in pairs]
    outs = [np.nan if b is None else b for _, _, b in pairs]
    ax.bar(x - 0.2, ins, width=0.4, color="#90a4ae", label="in sample")
    ax.bar(x + 0.2, outs, width=0.4, color="#1f77b4", label="out of sample")
    ax.set_xticks(x, [label for label, _, _ in pairs], fontsize=7)
    ax.legend(fontsize=8)
    _style(ax, title, metric)
    return _png(fig)
