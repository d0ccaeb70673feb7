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
    __slots__ = ("window", "anchor", "offset", "bad", "countdown", "history")

    def __init__(self, period: int, history: deque[float]) -> None:
        self.history: deque[float] = history  # the symbol's value history (IndicatorBase._history)
        self.window: deque[float] = deque(maxlen=period)
        self.anchor: float = 0.0  # the exact window mean at the last resync
        self.offset: float = 0.0  # sum(window) - period * anchor, rolled forward
        self.bad: int = 0  # non-finite values currently in the window
        # Bars until the next exact resync. Only read once the window is full and has been
        # resynced with no NaN/inf in it (which sets it to `period`); 0 until then, so `update`'s
        # steady-state test (`countdown - 1 > 0`) also means "warmed up".
        self.countdown: int = 0


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

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls._compute_indicator is not SimpleMovingAverage._compute_indicator and cls.update is SimpleMovingAverage.update:
            cls.update = IndicatorBase.update  # type: ignore[method-assign]  # keep the override in the loop

    def _state(self, symbol: str) -> _RollingMeanState:
        """A new symbol's state; its history deque is also the one `latest` and `[]` read."""
        history = self._history.get(symbol)
        if history is None:
            history = self._history[symbol] = deque(maxlen=self._max_history)
        state = self._states[symbol] = _RollingMeanState(self.period, history)
        return state

    def update(self, incoming_bar: BarReceived) -> None:
        """`_compute_indicator` + append in one call: the steady-state step (full window, all finite,
        no resync due) is inlined with exactly `_step`'s arithmetic; every other bar goes through
        `_step`. Saves two Python calls and a dict lookup per bar on every strategy's hot path."""
        try:
            state = self._states[incoming_bar.symbol]
        except KeyError:
            state = self._state(incoming_bar.symbol)
        value = self._get(incoming_bar)
        countdown = state.countdown - 1
        if countdown > 0 and not state.bad:  # warmed up, finite window, no resync due
            window = state.window
            diff = value - window[0]
            if diff - diff == 0.0:
                window.append(value)
                state.countdown = countdown
                offset = state.offset = state.offset + diff
                state.history.append(state.anchor + offset / self.period)
                return
        state.history.append(self._step(state, value))

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        state = self._states.get(incoming_bar.symbol)
        if state is None:
            state = self._state(incoming_bar.symbol)
        return self._step(state, self._get(incoming_bar))

    def _step(self, state: _RollingMeanState, value: float) -> float:
        """Advance one symbol's window by `value` and return the mean (see the module docstring)."""
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
