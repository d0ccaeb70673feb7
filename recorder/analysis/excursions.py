"""How far each round trip went for and against it while it was open, in money.

A trip is open from its entry bar up to (not including) its exit bar: a fill happens at its bar's
open, so the exit bar's range comes after the exit, and the entry bar's after the entry. Within a
bar the best price is assumed to come before the worst (the cautious order, as onesecondtrader assumes).
* best (maximum favourable excursion, >= 0): the largest open P&L reached, or the exit's P&L;
* worst (maximum adverse excursion, <= 0): the lowest open P&L reached, or the exit's;
* drawdown (>= 0): the largest fall of open P&L from its running peak (from 0 at entry).
P&L here is gross: quantity x price move from the trip's entry price.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recorder.analysis.ledger import RoundTrips
from recorder.analysis.load import Bars


@dataclass(frozen=True)
class Excursions:
    best: np.ndarray
    worst: np.ndarray
    drawdown: np.ndarray
    bars: np.ndarray  # bars the trip was open (entry bar to the bar before the exit)


def excursions(trips: RoundTrips, bars: Bars) -> Excursions:
    """Per trip, from the bars' highs and lows (`bars` loaded with all of OHLCV)."""
    if bars.high is None or bars.low is None:
        raise ValueError("excursions need the bars' highs and lows: load the run with ohlv=True")
    n = len(trips)
    best, worst, dd = np.zeros(n), np.zeros(n), np.zeros(n)
    count = np.zeros(n, dtype=np.int64)
    for i in range(n):
        span = bars.span(int(trips.symbol[i]))
        ts = bars.ts[span]
        a, b = np.searchsorted(ts, [trips.entry_ts[i], trips.exit_ts[i]], side="left")
        q, entry, side = float(trips.quantity[i]), float(trips.entry_price[i]), int(trips.direction[i])
        high, low = bars.high[span][a:b], bars.low[span][a:b]
        up, down = (high, low) if side > 0 else (low, high)
        good = np.r_[(up - entry) * side * q, float(trips.gross_pnl[i])]
        bad = np.r_[(down - entry) * side * q, float(trips.gross_pnl[i])]
        peak = np.maximum.accumulate(np.maximum(good, 0.0))
        best[i], worst[i] = max(0.0, float(good.max())), min(0.0, float(bad.min()))
        dd[i] = max(0.0, float((peak - bad).max()))
        count[i] = b - a
    return Excursions(best, worst, dd, count)
