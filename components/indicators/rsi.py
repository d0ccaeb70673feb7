"""Relative Strength Index (Wilder), O(1) per bar."""

from __future__ import annotations

from components.events import BarReceived
from components.indicators.base import NAN, IndicatorBase, field_getter
from components.models import BarField

_EPS = 1e-12


class _RSIState:
    __slots__ = ("prev", "count", "avg_gain", "avg_loss")

    def __init__(self, price: float) -> None:
        self.prev: float = price
        self.count: int = 0  # price changes seen
        self.avg_gain: float = 0.0  # running sum of gains until `period` changes, then the average
        self.avg_loss: float = 0.0


class RSI(IndicatorBase):
    """Wilder's RSI of `bar_field`.

    The first bar only seeds the previous price. After `period` changes the averages are the
    simple means of the gains and losses; afterwards avg = (1 - 1/period) * avg + (1/period) * x.
    RSI = 100 - 100 / (1 + avg_gain / avg_loss); 100 if avg_loss <= 1e-12 < avg_gain, 50 if both
    are <= 1e-12. A non-finite price yields NaN and leaves the state untouched (as onesecondtrader).
    """

    def __init__(
        self,
        period: int = 14,
        max_history: int = 100,
        bar_field: BarField = BarField.CLOSE,
    ) -> None:
        super().__init__(max_history=max_history)
        self.period: int = max(1, int(period))
        self.bar_field: BarField = bar_field
        self._get = field_getter(bar_field)
        self._alpha: float = 1.0 / self.period
        self._states: dict[str, _RSIState] = {}

    @property
    def name(self) -> str:
        return f"RSI_{self.period}_{self.bar_field.name}"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        price = self._get(incoming_bar)
        if price - price != 0.0:  # NaN or inf
            return NAN
        state = self._states.get(incoming_bar.symbol)
        if state is None:
            self._states[incoming_bar.symbol] = _RSIState(price)
            return NAN
        change = price - state.prev
        state.prev = price
        gain = change if change > 0.0 else 0.0
        loss = -change if change < 0.0 else 0.0
        count = state.count + 1
        state.count = count
        period = self.period
        if count > period:
            alpha = self._alpha
            avg_gain = state.avg_gain = (1.0 - alpha) * state.avg_gain + alpha * gain
            avg_loss = state.avg_loss = (1.0 - alpha) * state.avg_loss + alpha * loss
        elif count == period:
            avg_gain = state.avg_gain = (state.avg_gain + gain) / period
            avg_loss = state.avg_loss = (state.avg_loss + loss) / period
        else:
            state.avg_gain += gain
            state.avg_loss += loss
            return NAN
        if avg_loss <= _EPS:
            return 100.0 if avg_gain > _EPS else 50.0
        return 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
