"""Detrend oscillator SMA(short) - SMA(long), O(1) per bar, exact (see
`components.indicators.exact`).

Both window sums are exact, so the value is the correctly rounded exact difference of the two
means: 0.0 exactly when they are equal in decimals, whatever the price level.
"""

from __future__ import annotations

from components.events import BarReceived
from components.indicators.base import NAN, IndicatorBase, field_getter
from components.indicators.exact import UNITS, ExactWindow
from components.models import BarField


class DetrendOscillator(IndicatorBase):
    """SMA(short_period) - SMA(long_period) of `bar_field`; NaN until both windows are full.
    Name `DETREND({short},{long})` (onesecondtrader's format, which omits the field)."""

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
        self._divisor: int = self.short_period * self.long_period * UNITS
        self._windows: dict[str, tuple[ExactWindow, ExactWindow]] = {}

    @property
    def name(self) -> str:
        return f"DETREND({self.short_period},{self.long_period})"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        windows = self._windows.get(incoming_bar.symbol)
        if windows is None:
            windows = self._windows[incoming_bar.symbol] = (
                ExactWindow(self.short_period),
                ExactWindow(self.long_period),
            )
        short, long = windows
        value = self._get(incoming_bar)
        short.push(value)
        long.push(value)
        n_short, n_long = self.short_period, self.long_period
        if short.ready and long.ready:
            return (short.units * n_long - long.units * n_short) / self._divisor
        if not long.full or not short.full:
            return NAN
        if short.nonfinite or long.nonfinite:
            return short.mean() - long.mean()
        short_sum, short_den = short.exact_sum()
        long_sum, long_den = long.exact_sum()
        return (short_sum * long_den * n_long - long_sum * short_den * n_short) / (
            short_den * long_den * n_short * n_long
        )
