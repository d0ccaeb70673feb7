"""Simple moving average, O(1) per bar.

Numerics: the seed computes `sum(window) / period` in full every bar. Here every `period` bars
(and whenever a non-finite value is in the window) the value is computed exactly that way and
becomes the *anchor* `c`; in between, only the offset `sum(x) - period*c` is rolled forward
(`offset += new - old`) and the value is `c + offset / period`. Rounding error therefore scales
with how far prices moved since the last resync, not with the price level, and cannot build up
beyond one window: the result agrees with the seed's formula to ~period * 1e-16 relative (bit for
bit on resync bars). A non-finite input (e.g. NaN volume) makes the value NaN/inf exactly as in the
seed until it leaves the window.
"""

from __future__ import annotations

from collections import deque

from components.events import BarReceived
from components.indicators.base import NAN, IndicatorBase, field_getter
from components.models import BarField


class _RollingMeanState:
    __slots__ = ("window", "anchor", "offset", "bad", "countdown")

    def __init__(self, period: int) -> None:
        self.window: deque[float] = deque(maxlen=period)
        self.anchor: float = 0.0  # the exact window mean at the last resync
        self.offset: float = 0.0  # sum(window) - period * anchor, rolled forward
        self.bad: int = 0  # non-finite values currently in the window
        self.countdown: int = period  # bars until the next exact resync


class SimpleMovingAverage(IndicatorBase):
    """Arithmetic mean of `bar_field` over the last `period` bars; NaN until `period` values."""

    def __init__(
        self,
        period: int = 200,
        max_history: int = 100,
        bar_field: BarField = BarField.CLOSE,
    ) -> None:
        super().__init__(max_history=max_history)
        self.period: int = max(1, int(period))
        self.bar_field: BarField = bar_field
        self._get = field_getter(bar_field)
        self._states: dict[str, _RollingMeanState] = {}

    @property
    def name(self) -> str:
        return f"SMA_{self.period}_{self.bar_field.name}"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        state = self._states.get(incoming_bar.symbol)
        if state is None:
            state = self._states[incoming_bar.symbol] = _RollingMeanState(self.period)
        value = self._get(incoming_bar)
        window = state.window
        period = self.period
        if len(window) < period:  # warming up
            window.append(value)
            if value - value != 0.0:  # NaN or inf
                state.bad += 1
            return NAN if len(window) < period else self._resync(state)
        old = window[0]
        window.append(value)
        diff = value - old
        if diff - diff != 0.0 or state.bad:  # a NaN/inf entered, left, or is still inside
            if value - value != 0.0:
                state.bad += 1
            if old - old != 0.0:
                state.bad -= 1
            return self._resync(state)
        countdown = state.countdown - 1
        if countdown <= 0:
            return self._resync(state)
        state.countdown = countdown
        offset = state.offset = state.offset + diff
        return state.anchor + offset / period

    def _resync(self, state: _RollingMeanState) -> float:
        """The seed's exact formula; re-anchors the rolling offset when the window is finite."""
        mean = sum(state.window) / self.period
        if not state.bad:
            state.anchor = mean
            state.offset = 0.0
            state.countdown = self.period
        return mean
