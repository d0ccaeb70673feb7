"""Strategies of the sweep tests (a file named by path, as users name theirs)."""

from __future__ import annotations

import time

from components.events import BarReceived
from components.indicators import SimpleMovingAverage
from components.params import ParamSpec
from components.strategy import StrategyBase


class SweepCrossing(StrategyBase):
    """Long one unit while the fast SMA is above the slow one, flat otherwise. Two knobs for the
    tests: `fail_at` raises in on_bar when it equals `fast` (a failing variant), `pause_ms` sleeps
    at each bar (a variant that lasts).
    Its `name` is the strategy id its runs record, also for a copy of it under another class name."""

    name = "Crossing"

    fast = ParamSpec(default=5, min=1, max=100, step=1)
    slow = ParamSpec(default=20, min=2, max=200, step=5)
    fail_at = ParamSpec(default=0, min=0, max=100)
    pause_ms = ParamSpec(default=0.0, min=0.0, max=100.0)

    def setup(self) -> None:
        self.fast_sma = self.add_indicator(SimpleMovingAverage(period=self.fast))
        self.slow_sma = self.add_indicator(SimpleMovingAverage(period=self.slow))
        self.seen = 0

    def on_bar(self, bar: BarReceived) -> None:
        self.seen += 1
        if self.fail_at == self.fast and self.seen > 50:
            raise RuntimeError(f"variant fast={self.fast} fails on purpose")
        if self.pause_ms:
            time.sleep(self.pause_ms / 1000)
        sym = bar.symbol
        if self.open_orders_of(sym):
            return  # the last order fills at the next open
        above = self.fast_sma.latest(sym) > self.slow_sma.latest(sym)  # (NaN while warming up: False)
        held = self.position_of(sym)
        if above and held <= 0:
            self.buy(1 - held, symbol=sym)
        elif not above and held > 0:
            self.sell(held, symbol=sym)
