"""Bollinger bands (upper, lower) and bandwidth, O(1) per bar, exact (see
`components.indicators.exact`).

mean = sum(window) / n and sigma = sqrt(sum((x - mean)^2) / n) (population standard deviation),
over the last n = `period` values of `bar_field`. The window keeps sum(x) and sum(x^2) as exact
integers in the secmaster's fixed-point units, so the middle band is the correctly rounded exact
mean (the same float as `SimpleMovingAverage`'s) and the variance, (n * sum(x^2) - sum(x)^2) / n^2,
is computed without cancellation however high the price level: no drift, no resync.
"""

from __future__ import annotations

import math

from components.events import BarReceived
from components.indicators.base import NAN, IndicatorBase, field_getter
from components.indicators.exact import ExactWindow
from components.models import BarField

_sqrt = math.sqrt


class _BollingerBase(IndicatorBase):
    """Rolling mean and population standard deviation of `bar_field` (not registered)."""

    _label: str = ""

    def __init__(
        self,
        period: int = 20,
        num_std: float = 2.0,
        max_history: int = 100,
        bar_field: BarField = BarField.CLOSE,
    ) -> None:
        super().__init__(max_history=max_history)
        self.period: int = max(1, int(period))
        self.num_std: float = float(num_std)
        self.bar_field: BarField = bar_field
        self._get = field_getter(bar_field)
        self._windows: dict[str, ExactWindow] = {}

    @property
    def name(self) -> str:
        return f"{self._label}_{self.period}_{self.num_std}_{self.bar_field.name}"

    def _mean_std(self, incoming_bar: BarReceived) -> tuple[float, float]:
        """Advance the symbol's window; (mean, sigma), both NaN while warming up."""
        window = self._windows.get(incoming_bar.symbol)
        if window is None:
            window = self._windows[incoming_bar.symbol] = ExactWindow(self.period, squares=True)
        window.push(self._get(incoming_bar))
        if not window.ready and not window.full:
            return NAN, NAN
        mean, variance = window.mean_variance()
        return mean, _sqrt(variance)


class BollingerUpper(_BollingerBase):
    """mean + num_std * sigma. Name `BB_UPPER_{period}_{num_std}_{FIELD}`."""

    _label = "BB_UPPER"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        mean, std = self._mean_std(incoming_bar)
        return mean + self.num_std * std


class BollingerLower(_BollingerBase):
    """mean - num_std * sigma. Name `BB_LOWER_{period}_{num_std}_{FIELD}`."""

    _label = "BB_LOWER"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        mean, std = self._mean_std(incoming_bar)
        return mean - self.num_std * std


class BollingerBandwidth(_BollingerBase):
    """2 * num_std * sigma / mean * 100 (upper minus lower over the middle band, in percent).

    NaN when |mean| < 1e-12. Name `BB_BANDWIDTH_{period}_{num_std}_{FIELD}`.
    """

    _label = "BB_BANDWIDTH"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        mean, std = self._mean_std(incoming_bar)
        if abs(mean) < 1e-12:
            return NAN
        return (2.0 * self.num_std * std) / mean * 100.0
