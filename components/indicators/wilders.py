"""Wilder's ATR and directional-movement system (+DI, -DI, ADX), O(1) per bar.

TR = max(H - L, |H - C_prev|, |L - C_prev|).
+DM = H - H_prev if it exceeds L_prev - L and is positive, else 0; -DM symmetrically.
The first bar of a symbol only seeds the previous high/low/close.
"""

from __future__ import annotations

from components.events import BarReceived
from components.indicators.base import NAN, IndicatorBase

_EPS = 1e-12


class _ATRState:
    __slots__ = ("prev_close", "count", "atr")

    def __init__(self, close: float) -> None:
        self.prev_close: float = close
        self.count: int = 0  # true ranges seen
        self.atr: float = 0.0  # sum of TRs until `period` of them, then the ATR


class ATR(IndicatorBase):
    """Average true range: the first value is the mean of the first `period` TRs (on bar
    `period + 1`), then Wilder's recursion atr = (atr * (period - 1) + tr) / period."""

    def __init__(self, period: int = 14, max_history: int = 100) -> None:
        super().__init__(max_history=max_history)
        self.period: int = max(1, int(period))
        self._states: dict[str, _ATRState] = {}

    @property
    def name(self) -> str:
        return f"ATR_{self.period}"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        close = incoming_bar.close
        state = self._states.get(incoming_bar.symbol)
        if state is None:
            self._states[incoming_bar.symbol] = _ATRState(close)
            return NAN
        high = incoming_bar.high
        low = incoming_bar.low
        prev_close = state.prev_close
        tr = max(high - low, abs(high - prev_close), abs(low - prev_close))
        state.prev_close = close
        count = state.count + 1
        state.count = count
        period = self.period
        if count > period:
            atr = state.atr = (state.atr * (period - 1) + tr) / period
            return atr
        if count == period:
            atr = state.atr = (state.atr + tr) / period
            return atr
        state.atr += tr
        return NAN


class _DMState:
    __slots__ = (
        "prev_high",
        "prev_low",
        "prev_close",
        "count",
        "plus_dm",
        "minus_dm",
        "tr",
        "dx_count",
        "adx",
    )

    def __init__(self, high: float, low: float, close: float) -> None:
        self.prev_high: float = high
        self.prev_low: float = low
        self.prev_close: float = close
        self.count: int = 0
        # Running sums for the first `period` bars, then Wilder-smoothed sums s - s/p + x.
        self.plus_dm: float = 0.0
        self.minus_dm: float = 0.0
        self.tr: float = 0.0
        self.dx_count: int = 0
        self.adx: float = 0.0  # sum of DX until `period` of them, then the ADX


class _DirectionalBase(IndicatorBase):
    """Shared Wilder smoothing of +DM, -DM and TR (not registered).

    The smoothed sums start as plain sums of the first `period` values and then follow
    s = s - s/period + x. DI = 100 * DM / TR (0 when the smoothed TR <= 1e-12).
    """

    def __init__(self, period: int = 14, max_history: int = 100) -> None:
        super().__init__(max_history=max_history)
        self.period: int = max(1, int(period))
        self._states: dict[str, _DMState] = {}

    def _advance(self, incoming_bar: BarReceived) -> _DMState | None:
        """Feed one bar; the state once the smoothed sums exist, else None (warming up)."""
        high = incoming_bar.high
        low = incoming_bar.low
        close = incoming_bar.close
        state = self._states.get(incoming_bar.symbol)
        if state is None:
            self._states[incoming_bar.symbol] = _DMState(high, low, close)
            return None
        prev_close = state.prev_close
        tr = max(high - low, abs(high - prev_close), abs(low - prev_close))
        up_move = high - state.prev_high
        down_move = state.prev_low - low
        plus_dm = up_move if up_move > down_move and up_move > 0.0 else 0.0
        minus_dm = down_move if down_move > up_move and down_move > 0.0 else 0.0
        state.prev_high = high
        state.prev_low = low
        state.prev_close = close
        count = state.count + 1
        state.count = count
        period = self.period
        if count > period:
            s = state.plus_dm
            state.plus_dm = s - s / period + plus_dm
            s = state.minus_dm
            state.minus_dm = s - s / period + minus_dm
            s = state.tr
            state.tr = s - s / period + tr
            return state
        state.plus_dm += plus_dm
        state.minus_dm += minus_dm
        state.tr += tr
        return state if count == period else None


class PlusDI(_DirectionalBase):
    """+DI = 100 * smoothed(+DM) / smoothed(TR); first value on bar `period + 1`."""

    @property
    def name(self) -> str:
        return f"PLUS_DI_{self.period}"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        state = self._advance(incoming_bar)
        if state is None:
            return NAN
        tr = state.tr
        return 0.0 if tr <= _EPS else 100.0 * state.plus_dm / tr


class MinusDI(_DirectionalBase):
    """-DI = 100 * smoothed(-DM) / smoothed(TR); first value on bar `period + 1`."""

    @property
    def name(self) -> str:
        return f"MINUS_DI_{self.period}"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        state = self._advance(incoming_bar)
        if state is None:
            return NAN
        tr = state.tr
        return 0.0 if tr <= _EPS else 100.0 * state.minus_dm / tr


class ADX(_DirectionalBase):
    """DX = 100 * |+DI - -DI| / (+DI + -DI) (0 if the sum <= 1e-12); the first ADX is the mean
    of the first `period` DX values (on bar 2 * period), then (adx * (period - 1) + dx) / period."""

    @property
    def name(self) -> str:
        return f"ADX_{self.period}"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        state = self._advance(incoming_bar)
        if state is None:
            return NAN
        tr = state.tr
        if tr <= _EPS:
            plus_di = minus_di = 0.0
        else:
            plus_di = 100.0 * state.plus_dm / tr
            minus_di = 100.0 * state.minus_dm / tr
        di_sum = plus_di + minus_di
        dx = abs(plus_di - minus_di) / di_sum * 100.0 if di_sum > _EPS else 0.0
        dx_count = state.dx_count + 1
        state.dx_count = dx_count
        period = self.period
        if dx_count > period:
            adx = state.adx = (state.adx * (period - 1) + dx) / period
            return adx
        if dx_count == period:
            adx = state.adx = (state.adx + dx) / period
            return adx
        state.adx += dx
        return NAN
