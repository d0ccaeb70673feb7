"""Example: trade the crossing of a fast and a slow simple moving average."""

from __future__ import annotations

from components.events import BarReceived
from components.indicators import SimpleMovingAverage
from components.models import ActionType, BarPeriod
from components.params import ParamSpec
from components.strategy import StrategyBase


class SMACrossover(StrategyBase):
    """Cross up with position <= 0: BUY `quantity`; cross down with position >= 0: SELL it.

    There is no reversal sizing: from long one signal goes flat, from flat it opens the other side.
    """

    name = "SMA Crossover"
    bar_period = ParamSpec(default=BarPeriod.MINUTE)  # the sample data are minute bars
    fast_period = ParamSpec(default=20, min=5, max=100, step=1)
    slow_period = ParamSpec(default=100, min=10, max=500, step=1)
    quantity = ParamSpec(default=1.0, min=0.1, max=100.0, step=0.1)

    def setup(self) -> None:
        self.fast_sma = self.add_indicator(SimpleMovingAverage(period=self.fast_period))
        self.slow_sma = self.add_indicator(SimpleMovingAverage(period=self.slow_period))

    def on_bar(self, bar: BarReceived) -> None:
        sym = bar.symbol
        fast_prev, slow_prev = self.fast_sma[sym, -2], self.slow_sma[sym, -2]
        fast, slow = self.fast_sma.latest(sym), self.slow_sma.latest(sym)
        position = self.position
        # NaN (warming up) compares False everywhere, so no signal until both are defined.
        if fast_prev <= slow_prev and fast > slow and position <= 0:
            action = ActionType.ENTRY_LONG if position == 0 else ActionType.EXIT_SHORT
            self.buy(self.quantity, action=action, signal="sma_crossover_up")
        elif fast_prev >= slow_prev and fast < slow and position >= 0:
            action = ActionType.ENTRY_SHORT if position == 0 else ActionType.EXIT_LONG
            self.sell(self.quantity, action=action, signal="sma_crossover_down")
