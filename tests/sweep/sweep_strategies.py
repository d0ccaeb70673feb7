"""Strategies of the sweep tests (a file named by path, as users name theirs)."""

from __future__ import annotations

import time

from components.events import BarReceived
from components.indicators import SimpleMovingAverage
from components.models import OrderType, TradeSide
from components.params import ParamSpec
from components.strategy import StrategyBase


class SweepCrossing(StrategyBase):
    """SMA-X (scripts/smax.py) with two knobs for the tests: `fail_at` raises in on_bar when it
    equals `fast` (a failing variant), `pause_ms` sleeps at each bar (a variant that lasts).
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
        fast, slow = self.fast_sma.latest(sym), self.slow_sma.latest(sym)
        fast_prev, slow_prev = self.fast_sma[sym, -2], self.slow_sma[sym, -2]
        if fast > slow and fast_prev <= slow_prev:
            target = 1.0
        elif fast < slow and fast_prev >= slow_prev:
            target = -1.0
        else:
            return
        qty = target - self.position_of(sym)
        if qty:
            self.submit_order(OrderType.MARKET, TradeSide.BUY if qty > 0 else TradeSide.SELL, abs(qty), symbol=sym)
