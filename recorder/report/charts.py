"""The report's charts, drawn by matplotlib (the optional `tickbus[report]` extra) as PNG bytes.

Figures are built with `matplotlib.figure.Figure` on the Agg canvas, never pyplot: no GUI
backend, no global state, safe in any process. Long series are thinned by `downsample` first.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from recorder.analysis.analyse import RunAnalysis
from recorder.report.downsample import minmax_indices

WIDTH_IN, HEIGHT_IN, DPI = 11.0, 3.4, 90
INSTALL_HINT = "matplotlib is not installed; install the report extra: pip install 'tickbus[report]'"


class ChartsUnavailable(ImportError):
    """matplotlib is missing; the message says how to install it."""


def _figure(height: float = HEIGHT_IN) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ChartsUnavailable(INSTALL_HINT) from None
    fig = Figure(figsize=(WIDTH_IN, height), dpi=DPI)
    # Fixed margins: the constrained layout engine would double the drawing time.
    fig.subplots_adjust(left=0.065, right=0.99, top=0.86, bottom=0.13, wspace=0.16)
    FigureCanvasAgg(fig)
    return fig


def require_matplotlib() -> None:
    """Fail early (before loading a big run) when the charts cannot be drawn."""
    _figure()


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _times(ts: np.ndarray) -> np.ndarray:
    return ts.astype("datetime64[ns]")


def _line(ax: Any, ts: np.ndarray, y: np.ndarray, **kw: Any) -> None:
    keep = minmax_indices(y)
    ax.plot(_times(ts[keep]), y[keep], **kw)


def _style(ax: Any, title: str, ylabel: str, *, zero: bool = True) -> None:
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, linewidth=0.4, alpha=0.5)
    if zero:
        ax.axhline(0.0, color="#888", linewidth=0.6)


def equity_png(a: RunAnalysis) -> bytes:
    """Net PnL marked to market at every bar close: the run, and each strategy when several."""
    fig = _figure()
    ax = fig.add_subplot()
    ts = a.curve.ts
    if len(ts):
        _line(ax, ts, a.curve.equity, color="black", linewidth=1.4, label="total")
        if len(a.strategies) > 1:
            for sid, r in a.strategies.items():
                _line(ax, ts, r.curve.equity, linewidth=0.9, label=sid)
        ax.legend(fontsize=8, loc="upper left")
    _style(ax, "Equity: net PnL at every bar close", "net PnL")
    return _png(fig)


def drawdown_png(a: RunAnalysis) -> bytes:
    """Drawdown below the running peak of net PnL (underwater chart)."""
    from recorder.analysis.stats import drawdown

    fig = _figure(HEIGHT_IN * 0.8)
    ax = fig.add_subplot()
    ts = a.curve.ts
    if len(ts):
        _, dd = drawdown(a.curve.equity)
        keep = minmax_indices(-dd)
        ax.fill_between(_times(ts[keep]), -dd[keep], 0.0, color="#c0392b", alpha=0.35, linewidth=0, label="total")
        if len(a.strategies) > 1:
            for sid, r in a.strategies.items():
                _line(ax, ts, -drawdown(r.curve.equity)[1], linewidth=0.9, label=sid)
        ax.legend(fontsize=8, loc="lower left")
    _style(ax, "Drawdown from the peak of net PnL", "drawdown")
    return _png(fig)


ZOOM_BARS = 400


def _price_panel(ax: Any, a: RunAnalysis, symbol: int, lo: int, hi: int, *, label: bool) -> None:
    """Closes of bars [lo, hi) of the symbol's span and the fills in that time range."""
    bars, fills = a.data.bars, a.data.fills
    ts, close = bars.ts[lo:hi], bars.close[lo:hi]
    if len(ts):
        _line(ax, ts, close, color="#444", linewidth=0.8, label="close" if label else None)
    mine = fills.symbol == symbol
    if len(ts):
        mine &= (fills.ts >= ts[0]) & (fills.ts <= ts[-1])
    size = 30.0 if mine.sum() <= 300 else 6.0
    for code, sid in enumerate(a.data.strategies):
        sel = mine & (fills.strategy == code)
        if not sel.any():
            continue
        colour = _COLOURS[code % len(_COLOURS)]
        for side, marker, mask in (("buy", "^", fills.quantity > 0), ("sell", "v", fills.quantity < 0)):
            m = sel & mask
            if m.any():
                ax.scatter(_times(fills.ts[m]), fills.price[m], marker=marker, s=size, color=colour, edgecolors="none",
                           alpha=0.8, label=f"{sid} {side}" if label else None, zorder=3)


_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def price_png(a: RunAnalysis, symbol: int) -> bytes:
    """Closes of one symbol with every fill marked (^ buy, v sell; one colour per strategy).

    A long run gets a second panel with its last ZOOM_BARS bars, where single fills are visible.
    """
    fig = _figure()
    span = a.data.bars.span(symbol)
    name = a.data.symbols[symbol]
    long_run = span.stop - span.start > 4 * ZOOM_BARS
    if long_run:
        grid = fig.add_gridspec(1, 3)
        ax, zoom = fig.add_subplot(grid[0, :2]), fig.add_subplot(grid[0, 2])
        _price_panel(zoom, a, symbol, span.stop - ZOOM_BARS, span.stop, label=False)
        _style(zoom, f"last {ZOOM_BARS} bars", "", zero=False)
        zoom.tick_params(axis="x", labelrotation=20)
    else:
        ax = fig.add_subplot()
    _price_panel(ax, a, symbol, span.start, span.stop, label=True)
    _style(ax, f"{name}: closes and fills", "price", zero=False)
    if ax.get_legend_handles_labels()[0]:
        fig.legend(fontsize=7, loc="upper right", bbox_to_anchor=(0.99, 1.0), ncol=5, frameon=False, markerscale=1.5)
    return _png(fig)
