"""Bollinger bands (upper, lower) and bandwidth, O(1) per bar.

mean = sum(window) / n and sigma = sqrt(sum((x - mean)^2) / n) (population standard deviation),
over the last n = `period` values of `bar_field`.

Numerics: computing the variance from raw running sums (sum x^2 / n - mean^2) loses about
log10(mean^2 / var) digits to cancellation (8+ digits for a price of 100 with sigma 0.01). Instead,
every `period` bars (and whenever a non-finite value is in the window) mean and variance are
computed exactly as the seed does (two-pass), and the mean becomes an anchor `c`; in between, the
sums S1 = sum(x - c) (exactly recomputed at the resync, not assumed 0) and S2 = sum((x - c)^2)
are rolled forward and
mean = c + S1/n, var = S2/n - (S1/n)^2. The deviations from `c` are of the order of the window's
spread, so the cancellation is harmless and the error is bounded by one window's worth of rounding
(bit for bit equal to the seed on resync bars). Agreement with the seed: better than 1e-9 relative
to max(1, |value|) in the tests; in practice ~1e-13.
"""

from __future__ import annotations

import math
from collections import deque

from components.events import BarReceived
from components.indicators.base import NAN, IndicatorBase, field_getter
from components.models import BarField

_sqrt = math.sqrt


class _MomentsState:
    __slots__ = ("window", "anchor", "s1", "s2", "bad", "countdown")

    def __init__(self, period: int) -> None:
        self.window: deque[float] = deque(maxlen=period)
        self.anchor: float = 0.0
        self.s1: float = 0.0
        self.s2: float = 0.0
        self.bad: int = 0
        self.countdown: int = period


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
        self._states: dict[str, _MomentsState] = {}

    @property
    def name(self) -> str:
        return f"{self._label}_{self.period}_{self.num_std}_{self.bar_field.name}"

    def _mean_std(self, incoming_bar: BarReceived) -> tuple[float, float]:
        """Advance the symbol's window; (mean, sigma), both NaN while warming up."""
        state = self._states.get(incoming_bar.symbol)
        if state is None:
            state = self._states[incoming_bar.symbol] = _MomentsState(self.period)
        value = self._get(incoming_bar)
        window = state.window
        n = self.period
        if len(window) < n:
            window.append(value)
            if value - value != 0.0:
                state.bad += 1
            return (NAN, NAN) if len(window) < n else self._resync(state)
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
        c = state.anchor
        d_new = value - c
        d_old = old - c
        s1 = state.s1 + diff
        s2 = state.s2 + (d_new * d_new - d_old * d_old)
        state.s1 = s1
        state.s2 = s2
        m = s1 / n
        var = s2 / n - m * m
        return c + m, (_sqrt(var) if var > 0.0 else 0.0)

    def _resync(self, state: _MomentsState) -> tuple[float, float]:
        """The seed's two-pass formula; re-anchors the rolling sums when the window is finite."""
        window = state.window
        n = self.period
        mean = sum(window) / n
        deviations = [x - mean for x in window]
        s2 = sum([d * d for d in deviations])
        variance = s2 / n
        if state.bad:  # NaN/inf in the window: same NaN/inf as the seed, no re-anchoring
            return mean, _sqrt(variance)
        state.anchor = mean
        # Not 0: `mean` carries the rounding of sum(window); S1 keeps that residual so later
        # variances (S2/n - (S1/n)^2) stay centred on the true mean.
        state.s1 = sum(deviations)
        state.s2 = s2
        state.countdown = n
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
