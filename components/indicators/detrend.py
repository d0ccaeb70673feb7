"""Detrend oscillator SMA(short) - SMA(long), O(1) per bar.

Same numerics as `SimpleMovingAverage`: the seed's exact formula every max(short, long) bars (and
while a non-finite value is in the window); in between, the value is that exact difference plus
the change of the two rolled-forward sum offsets, so the price level never enters the rounding.
"""

from __future__ import annotations

from collections import deque
from itertools import islice

from components.events import BarReceived
from components.indicators.base import NAN, IndicatorBase, field_getter
from components.models import BarField


class _DetrendState:
    __slots__ = ("window", "base", "short_off", "long_off", "bad", "countdown")

    def __init__(self, size: int) -> None:
        self.window: deque[float] = deque(maxlen=size)
        self.base: float = 0.0  # exact SMA(short) - SMA(long) at the last resync
        self.short_off: float = 0.0  # rolled-forward sum offsets since then
        self.long_off: float = 0.0
        self.bad: int = 0
        self.countdown: int = size


class DetrendOscillator(IndicatorBase):
    """SMA(short_period) - SMA(long_period) of `bar_field`; NaN until both windows are full.
    Name `DETREND({short},{long})` (the seed's format, which omits the field)."""

    def __init__(
        self,
        short_period: int = 3,
        long_period: int = 7,
        max_history: int = 100,
        bar_field: BarField = BarField.CLOSE,
    ) -> None:
        super().__init__(max_history=max_history)
        self.short_period: int = max(1, int(short_period))
        self.long_period: int = max(1, int(long_period))
        self.bar_field: BarField = bar_field
        self._get = field_getter(bar_field)
        self._size: int = max(self.short_period, self.long_period)
        self._states: dict[str, _DetrendState] = {}

    @property
    def name(self) -> str:
        return f"DETREND({self.short_period},{self.long_period})"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        state = self._states.get(incoming_bar.symbol)
        if state is None:
            state = self._states[incoming_bar.symbol] = _DetrendState(self._size)
        value = self._get(incoming_bar)
        window = state.window
        size = self._size
        if len(window) < size:
            window.append(value)
            if value - value != 0.0:
                state.bad += 1
            return NAN if len(window) < size else self._resync(state)
        short = self.short_period
        long = self.long_period
        old_short = window[-short]  # the values leaving each window
        old_long = window[-long]
        oldest = window[0]
        window.append(value)
        diff = value - oldest
        if diff - diff != 0.0 or state.bad:  # a NaN/inf entered, left, or is still inside
            if value - value != 0.0:
                state.bad += 1
            if oldest - oldest != 0.0:
                state.bad -= 1
            return self._resync(state)
        countdown = state.countdown - 1
        if countdown <= 0:
            return self._resync(state)
        state.countdown = countdown
        short_off = state.short_off = state.short_off + (value - old_short)
        long_off = state.long_off = state.long_off + (value - old_long)
        return state.base + (short_off / short - long_off / long)

    def _resync(self, state: _DetrendState) -> float:
        window = state.window
        size = self._size
        short = self.short_period
        long = self.long_period
        short_mean = sum(islice(window, size - short, size)) / short
        long_mean = sum(islice(window, size - long, size)) / long
        if not state.bad:
            state.base = short_mean - long_mean
            state.short_off = 0.0
            state.long_off = 0.0
            state.countdown = size
        return short_mean - long_mean
