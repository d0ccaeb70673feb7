"""SMA-X, the reference workload of scripts/bench.py, as a tickbus strategy.

    tickbus run --secmaster DB --runs-db DB --strategy scripts/smax.py:SMAX --param fast=10 --param slow=30

The workload: one-minute bars priced in cents (scripts/gen_bars.py) and, per symbol,
independently, fast = the mean of the last `fast` closes, slow = of the last `slow` (each defined
once that many closes exist). After bar t closes, cross up (fast_t > slow_t and
fast_{t-1} <= slow_{t-1}, both SMAs defined at t-1) sets the target position to +1, cross down
(fast_t < slow_t and fast_{t-1} >= slow_{t-1}) to -1; the order is one market order for
target - position (so a reversal is one order of size 2, the first entry size 1, a repeated cross
in the same direction trades nothing). The simulated broker fills it at the next bar's open; an
order placed on the last bar never fills; no commission. Every engine reports its fills and the
realized plus open PnL at the last close.

The comparisons are decided in exact decimal arithmetic, ties included: tickbus's SMAs are the
correctly rounded exact means of the cent prices (components/indicators/exact.py), so two equal
means are the same float.
"""

from __future__ import annotations

from components.events import BarReceived
from components.indicators import SimpleMovingAverage
from components.models import OrderType, TradeSide
from components.params import ParamSpec
from components.strategy import StrategyBase


class SMAX(StrategyBase):
    name = "SMA-X"
    parameters = {
        "fast": ParamSpec(default=10, min=1, max=100_000, step=1),
        "slow": ParamSpec(default=30, min=1, max=100_000, step=1),
    }

    def setup(self) -> None:
        # Only the latest two values are ever read.
        self.fast_sma = self.add_indicator(SimpleMovingAverage(period=self.fast, max_history=2))
        self.slow_sma = self.add_indicator(SimpleMovingAverage(period=self.slow, max_history=2))

    def on_bar(self, bar: BarReceived) -> None:
        sym = bar.symbol
        fast, slow = self.fast_sma.latest(sym), self.slow_sma.latest(sym)
        fast_prev, slow_prev = self.fast_sma[sym, -2], self.slow_sma[sym, -2]
        # NaN (an SMA not yet defined) compares False everywhere: no signal until both are
        # defined at t-1.
        if fast > slow and fast_prev <= slow_prev:
            target = 1.0
        elif fast < slow and fast_prev >= slow_prev:
            target = -1.0
        else:
            return
        qty = target - self.position_of(sym)
        if qty > 0:
            self.submit_order(OrderType.MARKET, TradeSide.BUY, qty, symbol=sym)
        elif qty < 0:
            self.submit_order(OrderType.MARKET, TradeSide.SELL, -qty, symbol=sym)
