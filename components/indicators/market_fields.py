"""The five bar fields as indicators (a strategy's `bar.close[sym, -2]` history).

`Open` ... `Volume` keep their own history like any indicator. A strategy's built-in five
(`self.bar.open` ... `self.bar.volume`) are instead *views* of one shared `BarHistory`: most
strategies never read them, so a bar should cost one append, not five indicator updates. A view
computes its value from the stored bar with the same field getter, so it reads exactly what the
standalone indicator would have stored.
"""

from __future__ import annotations

from collections import deque

from components.events import BarReceived
from components.indicators.base import NAN, FieldGetter, IndicatorBase, field_getter
from components.models import BarField


class Open(IndicatorBase):
    @property
    def name(self) -> str:
        return "OPEN"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        return incoming_bar.open


class High(IndicatorBase):
    @property
    def name(self) -> str:
        return "HIGH"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        return incoming_bar.high


class Low(IndicatorBase):
    @property
    def name(self) -> str:
        return "LOW"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        return incoming_bar.low


class Close(IndicatorBase):
    @property
    def name(self) -> str:
        return "CLOSE"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        return incoming_bar.close


class Volume(IndicatorBase):
    """The bar volume as a float; NaN when the bar has no volume."""

    @property
    def name(self) -> str:
        return "VOLUME"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        volume = incoming_bar.volume
        return NAN if volume is None else float(volume)


class BarHistory(dict[str, "deque[BarReceived]"]):
    """The last `max_history` bars of each symbol; `history[symbol].append(bar)` records a bar
    (a symbol's deque is created on first use, `get` never creates one)."""

    def __init__(self, max_history: int = 100) -> None:
        super().__init__()
        self.max_history: int = max(1, int(max_history))

    def __missing__(self, symbol: str) -> deque[BarReceived]:
        bars: deque[BarReceived] = deque(maxlen=self.max_history)
        self[symbol] = bars
        return bars


class _FieldView(IndicatorBase):
    """One bar field read from a shared `BarHistory` instead of a history of its own."""

    _bar_field: BarField

    def __init__(self, bars: BarHistory) -> None:
        super().__init__(max_history=bars.max_history)
        self._bars: BarHistory = bars
        self._value: FieldGetter = field_getter(self._bar_field)

    def update(self, incoming_bar: BarReceived) -> None:
        """Record the bar in the shared history (so every view of it sees the bar)."""
        self._bars[incoming_bar.symbol].append(incoming_bar)

    def latest(self, symbol: str) -> float:
        bars = self._bars.get(symbol)
        return self._value(bars[-1]) if bars else NAN

    def __getitem__(self, key: tuple[str, int]) -> float:
        symbol, index = key
        bars = self._bars.get(symbol)
        if bars is None:
            return NAN
        try:
            bar = bars[index]
        except IndexError:
            return NAN
        return self._value(bar)


class _OpenView(_FieldView, Open):
    _bar_field = BarField.OPEN


class _HighView(_FieldView, High):
    _bar_field = BarField.HIGH


class _LowView(_FieldView, Low):
    _bar_field = BarField.LOW


class _CloseView(_FieldView, Close):
    _bar_field = BarField.CLOSE


class _VolumeView(_FieldView, Volume):
    _bar_field = BarField.VOLUME


def bar_field_views(bars: BarHistory) -> tuple[Open, High, Low, Close, Volume]:
    """`Open`, `High`, `Low`, `Close` and `Volume` indicators that all read `bars`: appending a
    bar to `bars` updates all five at once; their `max_history` is `bars.max_history`."""
    return _OpenView(bars), _HighView(bars), _LowView(bars), _CloseView(bars), _VolumeView(bars)
