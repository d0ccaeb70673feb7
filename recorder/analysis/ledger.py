"""Position accounting over recorded fills: the book after every fill, and round trips.

Same average-cost rules as the engine (components/positions.py), so the figures here match what
strategies saw: adding averages the entry price, reducing books `(fill - avg) * closed` as
realized PnL and keeps the average, and a fill that crosses zero closes the old position and
opens the remainder at the fill price.

Round trips fix onesecondtrader's defect (a reversal produced none): every fill that reduces a position
closes one round trip of the quantity it closed, so
* a reversal (long 2, sell 5) closes a 2-lot long trip and opens a 3-lot short position;
* partial exits (long 2, sell 1, sell 1) give two 1-lot trips, each at its own exit price.
A trip's entry time is when its position was opened (left flat or reversed), its entry price the
average cost at the exit, so round-trip gross PnLs sum exactly to realized PnL. Commissions are
allocated pro rata by quantity: an exit's share of the entry fills' commissions plus the closing
part of its own fill's commission (a reversing fill's commission is split between the trip it
closes and the position it opens).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.positions import FLAT_EPSILON
from recorder.analysis.load import Fills


@dataclass(frozen=True)
class RoundTrips:
    """Closed round trips in exit order per (strategy, symbol) group; columns of equal length."""

    strategy: np.ndarray  # int32 codes
    symbol: np.ndarray  # int32 codes
    direction: np.ndarray  # int8: +1 long, -1 short
    entry_ts: np.ndarray  # int64 ns
    exit_ts: np.ndarray
    entry_price: np.ndarray  # average cost of the position at the exit
    exit_price: np.ndarray
    quantity: np.ndarray  # closed quantity (> 0)
    gross_pnl: np.ndarray
    commission: np.ndarray

    @property
    def net_pnl(self) -> np.ndarray:
        return self.gross_pnl - self.commission

    def __len__(self) -> int:
        return len(self.quantity)

    def select(self, mask: np.ndarray) -> RoundTrips:
        return RoundTrips(*(getattr(self, f)[mask] for f in self.__dataclass_fields__))


@dataclass(frozen=True)
class Ledger:
    """The (strategy, symbol) book after each fill, aligned with `Fills` (index i = after fill i).

    realized and commission are cumulative within the fill's (strategy, symbol); `open_commission`
    is the part of those commissions not yet assigned to a round trip (the open position's).
    """

    position: np.ndarray
    avg_price: np.ndarray
    realized: np.ndarray
    commission: np.ndarray
    open_commission: np.ndarray
    round_trips: RoundTrips


def group_order(fills: Fills) -> np.ndarray:
    """Fill indexes grouped by (strategy, symbol), time order kept within a group."""
    return np.lexsort((np.arange(len(fills)), fills.symbol, fills.strategy))


def build_ledger(fills: Fills) -> Ledger:
    """Walk every (strategy, symbol)'s fills in order; one pass, O(fills)."""
    n = len(fills)
    position, avg_out, realized_out, comm_out, pool_out = (np.zeros(n) for _ in range(5))
    trips: list[tuple[int, int, int, int, int, float, float, float, float, float]] = []
    order = group_order(fills).tolist()
    ts_l, sym_l, strat_l = fills.ts.tolist(), fills.symbol.tolist(), fills.strategy.tolist()
    qty_l, px_l, fee_l = fills.quantity.tolist(), fills.price.tolist(), fills.commission.tolist()
    key: tuple[int, int] | None = None
    pos = avg = realized = comm = pool = 0.0
    opened = 0
    for i in order:
        k = (strat_l[i], sym_l[i])
        if k != key:
            key, pos, avg, realized, comm, pool, opened = k, 0.0, 0.0, 0.0, 0.0, 0.0, 0
        delta, price, fee, ts = qty_l[i], px_l[i], fee_l[i], ts_l[i]
        size = abs(delta)
        comm += fee
        if size <= FLAT_EPSILON:
            pool += fee
        elif pos == 0.0 or (pos > 0.0) == (delta > 0.0):  # open or add
            if pos == 0.0:
                opened = ts
            new = pos + delta
            avg = (avg * abs(pos) + price * size) / abs(new)
            pos = new
            pool += fee
        else:  # reduce, close or reverse
            closed = min(size, abs(pos))
            sign = 1.0 if pos > 0.0 else -1.0
            gross = closed * (price - avg) * sign
            entry_fee = pool * closed / abs(pos)
            exit_fee = fee * closed / size
            trips.append((k[0], k[1], int(sign), opened, ts, avg, price, closed, gross, entry_fee + exit_fee))
            realized += gross
            pool -= entry_fee
            new = pos + delta
            if abs(new) <= FLAT_EPSILON:
                pos, avg, pool = 0.0, 0.0, 0.0
            elif (new > 0.0) != (pos > 0.0):  # reversed: the remainder opens at the fill price
                pos, avg, pool, opened = new, price, fee - exit_fee, ts
            else:
                pos = new
        position[i], avg_out[i], realized_out[i], comm_out[i], pool_out[i] = pos, avg, realized, comm, pool
    cols = list(zip(*trips)) if trips else [()] * 10
    dtypes = (np.int32, np.int32, np.int8, np.int64, np.int64, float, float, float, float, float)
    rt = RoundTrips(*(np.array(c, dtype=d) for c, d in zip(cols, dtypes)))
    return Ledger(position, avg_out, realized_out, comm_out, pool_out, rt)
