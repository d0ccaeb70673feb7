"""Rate of change, O(1) per bar."""

from __future__ import annotations

from collections import deque

from components.events import BarReceived
from components.indicators.base import NAN, IndicatorBase, field_getter
from components.models import BarField


class ROC(IndicatorBase):
    """(x - x[-period]) / x[-period] * 100 of `bar_field`; NaN for the first `period` bars and
    when x[-period] == 0. Name `ROC({period})` (onesecondtrader's format, which omits the field)."""

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
        self._windows: dict[str, deque[float]] = {}

    @property
    def name(self) -> str:
        return f"ROC({self.period})"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        window = self._windows.get(incoming_bar.symbol)
        if window is None:
            window = self._windows[incoming_bar.symbol] = deque(maxlen=self.period + 1)
        value = self._get(incoming_bar)
        window.append(value)
        if len(window) <= self.period:
            return NAN
        previous = window[0]
        if previous == 0:
            return NAN
        return (value - previous) / previous * 100
