"""The ranking of a sweep's variants as one table: `tickbus sweep show` prints it and `tickbus
sweep report` renders it, so both list the same rows and columns.

Columns: rank, variant number, the varying grid parameters, the figures (net PnL, Sharpe,
Sortino, max drawdown, fills, win rate, exposure), the ranking metric's grid-neighbour median
and an isolated-peak flag (recorder/analysis/sweep_surface.py), the held-out run's metric and net
PnL when the sweep has a holdout, status and run id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recorder.analysis.sweep_surface import Robust, Surface
from recorder.analysis.sweeps import Variant

FIGURES = (("net_pnl", "net PnL"), ("sharpe", "Sharpe"), ("sortino", "Sortino"), ("max_drawdown", "max DD"),
           ("fills", "fills"), ("win_rate", "win rate"), ("exposure", "exposure"))
LABELS = dict(FIGURES) | {"max_drawdown_pct": "max DD %", "round_trips": "round trips", "profit_factor": "profit factor"}


def fmt(key: str, x: Any) -> str:
    if x is None or isinstance(x, float) and x != x:
        return "-"
    if key in ("fills", "round_trips"):
        return f"{int(x):,}"
    if key in ("win_rate", "exposure", "max_drawdown_pct"):
        return f"{100 * x:.1f}%"
    return f"{x:,.2f}"


@dataclass(frozen=True)
class Ranking:
    header: list[str]
    rows: list[list[str]]
    numeric: list[bool]  # per column: sorts as a number
    peaks: list[bool]  # per row: flagged an isolated peak

    @property
    def params_end(self) -> int:
        """Index of the first column after the parameters."""
        return self.header.index(LABELS["net_pnl"])


def ranking(s: Surface, grid_names: list[str], oos: dict[int, Variant] | None = None, top: int | None = None) -> Ranking:
    """The table of `s.variants` (ranked), the first `top` of them when given."""
    metric = LABELS.get(s.metric, s.metric)
    header = ["rank", "#", *grid_names, *(label for _, label in FIGURES), f"nbr median {metric}", "peak"]
    numeric = [True, True, *([True] * len(grid_names)), *([True] * len(FIGURES)), True, False]
    oos_keys = list(dict.fromkeys([s.metric, "net_pnl"]))  # the metric, and net PnL when it is another
    if oos:
        header += [f"OOS {LABELS.get(k, k)}" for k in oos_keys]
        numeric += [True] * len(oos_keys)
    header += ["status", "run id"]
    numeric += [False, False]
    robust: dict[int, Robust] = {r.variant: r for r in s.robust}
    rows, peaks = [], []
    for rank, v in enumerate(s.variants[:top] if top else s.variants, 1):
        r = robust.get(v.variant)
        row = [str(rank), str(v.variant), *(str(v.params.get(n, "")) for n in grid_names),
               *(fmt(k, v.figures.get(k)) for k, _ in FIGURES),
               fmt(s.metric, None if r is None else r.neighbour_median), "PEAK" if r is not None and r.isolated_peak else ""]
        if oos:
            o = oos.get(v.variant)
            row += [fmt(k, None if o is None else o.figures.get(k)) for k in oos_keys]
        row += [v.status, v.run_id or _last_line(v.error)]
        rows.append(row)
        peaks.append(r is not None and r.isolated_peak)
    return Ranking(header, rows, numeric, peaks)


def _last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else "-"
