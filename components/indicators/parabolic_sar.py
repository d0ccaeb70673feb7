"""Wilder's Parabolic SAR, O(1) per bar."""

from __future__ import annotations

from components.events import BarReceived
from components.indicators.base import NAN, IndicatorBase


class _SARState:
    __slots__ = ("count", "is_long", "sar", "ep", "af", "high1", "high2", "low1", "low2")

    def __init__(self, high: float, low: float) -> None:
        self.count: int = 1
        self.is_long: bool = True
        self.sar: float = 0.0
        self.ep: float = 0.0  # extreme point of the current trend
        self.af: float = 0.0  # acceleration factor
        self.high1: float = high  # previous bar's high / low
        self.low1: float = low
        self.high2: float = high  # the bar before that
        self.low2: float = low


class ParabolicSAR(IndicatorBase):
    """Parabolic stop-and-reverse.

    * Bar 1: NaN.
    * Bar 2: uptrend if high >= previous high (SAR = previous low, EP = high), else downtrend
      (SAR = previous high, EP = low); AF = af_start. The value is that SAR.
    * Then SAR = SAR + AF * (EP - SAR), clamped to the previous two bars' lows (uptrend) or highs
      (downtrend). If the bar pierces it, the trend reverses: SAR = EP, EP = this bar's low (high),
      AF = af_start. Otherwise a new extreme moves EP and raises AF by af_step, capped at af_max.
    """

    def __init__(
        self,
        af_start: float = 0.02,
        af_step: float = 0.02,
        af_max: float = 0.2,
        max_history: int = 100,
    ) -> None:
        super().__init__(max_history=max_history)
        self.af_start: float = af_start
        self.af_step: float = af_step
        self.af_max: float = af_max
        self._states: dict[str, _SARState] = {}

    @property
    def name(self) -> str:
        return f"PSAR_{self.af_start}_{self.af_step}_{self.af_max}"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        high = incoming_bar.high
        low = incoming_bar.low
        s = self._states.get(incoming_bar.symbol)
        if s is None:
            self._states[incoming_bar.symbol] = _SARState(high, low)
            return NAN
        if s.count == 1:
            s.count = 2
            if high >= s.high1:
                s.is_long = True
                sar = s.low1
                s.ep = high
            else:
                s.is_long = False
                sar = s.high1
                s.ep = low
            s.af = self.af_start
        else:
            ep = s.ep
            sar = s.sar + s.af * (ep - s.sar)
            if s.is_long:
                floor = s.low1 if s.low1 < s.low2 else s.low2
                if floor < sar:
                    sar = floor
                if low < sar:
                    s.is_long = False
                    sar = ep
                    s.ep = low
                    s.af = self.af_start
                elif high > ep:
                    s.ep = high
                    af = s.af + self.af_step
                    s.af = af if af < self.af_max else self.af_max
            else:
                ceiling = s.high1 if s.high1 > s.high2 else s.high2
                if ceiling > sar:
                    sar = ceiling
                if high > sar:
                    s.is_long = True
                    sar = ep
                    s.ep = high
                    s.af = self.af_start
                elif low < ep:
                    s.ep = low
                    af = s.af + self.af_step
                    s.af = af if af < self.af_max else self.af_max
        s.sar = sar
        s.high2 = s.high1
        s.low2 = s.low1
        s.high1 = high
        s.low1 = low
        return sar
