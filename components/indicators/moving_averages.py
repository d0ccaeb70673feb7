"""Simple moving average, O(1) per bar, exact (see `components.indicators.exact`).

The window sum is kept as an exact integer in the secmaster's fixed-point units (1e-9) and the
value is the correctly rounded float of the exact mean: two SMAs that are equal in decimals are
the same float, and no value depends on the order of a summation. This applies to any price with
at most 9 decimals and a magnitude below 2**23 (8,388,608), so to every secmaster price below that
magnitude; other values still give the correctly rounded mean of the values, on a slower path. A
non-finite input (e.g. NaN volume) makes the value NaN/inf, as `sum(window) / period` would, until
it leaves the window.
"""

from __future__ import annotations

from collections import deque

from components.events import BarReceived
from components.indicators.base import NAN, IndicatorBase, field_getter
from components.indicators.exact import UNITS, ExactWindow
from components.models import BarField


class _RollingMeanState(ExactWindow):
    __slots__ = ("history",)

    def __init__(self, period: int, history: deque[float]) -> None:
        super().__init__(period)
        self.history: deque[float] = history  # the symbol's value history (IndicatorBase._history)


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
        self._divisor: int = self.period * UNITS  # the exact mean is units / _divisor
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
        """`_compute_indicator` + append in one call: the steady-state step (full window of
        fixed-point values, and the new value fixed-point too) is `ExactWindow.push` and `mean`
        inlined, with `fixed_point`'s first guess; every other bar goes through `_step`. Saves
        several Python calls per bar on every strategy's hot path."""
        try:
            state = self._states[incoming_bar.symbol]
        except KeyError:
            state = self._state(incoming_bar.symbol)
        value = self._get(incoming_bar)
        if state.ready:
            try:
                units = round(value * 1e9)
                exact = units / 1_000_000_000 == value
            except (OverflowError, ValueError):  # inf, NaN
                exact = False
            if exact:
                window = state.values
                total = state.units = state.units + units - window[0]  # type: ignore[assignment]  # ready: ints
                window.append(units)
                state.history.append(total / self._divisor)
                return
        state.history.append(self._step(state, value))

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        state = self._states.get(incoming_bar.symbol)
        if state is None:
            state = self._state(incoming_bar.symbol)
        return self._step(state, self._get(incoming_bar))

    def _step(self, state: _RollingMeanState, value: float) -> float:
        """Advance one symbol's window by `value` and return the mean (NaN while warming up)."""
        state.push(value)
        return state.mean() if state.full else NAN
