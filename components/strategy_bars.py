"""A strategy's indicators and the `BarProcessed` it records for every bar it handles.

`BarRecording` updates the built-in OHLCV views and the strategy's indicators with each bar, in
registration order, and builds the bar's `BarProcessed`: the bar plus the latest value of every
indicator except the OHLCV ones, by indicator name.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from components.events import BarProcessed, BarReceived
from components.fastbuild import compile_builder
from components.indicators import Close, High, IndicatorBase, Low, Open, Volume
from components.indicators.market_fields import BarHistory, bar_field_views

_OHLCV_NAMES = frozenset({"OPEN", "HIGH", "LOW", "CLOSE", "VOLUME"})

_BAR_ARGS = ("ts_event_ns", "symbol", "bar_period", "open", "high", "low", "close", "volume", "strategy_id",
             "indicators")
#: `_build_bar_processed(*_BAR_ARGS)`: a BarProcessed stamped now (components/fastbuild.py).
_build_bar_processed = compile_builder(
    BarProcessed, _BAR_ARGS, {"ts_created_ns": "now()", **{name: name for name in _BAR_ARGS}}, env={"now": time.time_ns}
)


class BarFields:
    """The built-in OHLCV indicators: `self.bar.close[sym, -2]` is the previous close.

    The five are views of one per-symbol `history` of the last 100 bars: most strategies never
    read them, so a bar costs one append (`history[symbol].append(bar)`), not five updates.
    """

    __slots__ = ("open", "high", "low", "close", "volume", "history")
    open: Open
    high: High
    low: Low
    close: Close
    volume: Volume

    def __init__(self) -> None:
        self.history = BarHistory()
        self.open, self.high, self.low, self.close, self.volume = bar_field_views(self.history)


class BarRecording:
    """The strategy's indicators, updated with each bar, and the bar's `BarProcessed`."""

    __slots__ = ("fields", "indicators", "_history", "_updates", "_reported", "_strategy_id")

    def __init__(self, strategy_id: str) -> None:
        self.fields = BarFields()
        self._history = self.fields.history
        #: Every indicator, OHLCV views first, then in registration order.
        f = self.fields
        self.indicators: list[IndicatorBase] = [f.open, f.high, f.low, f.close, f.volume]
        self._updates: list[Callable[[BarReceived], None]] = []
        self._reported: list[tuple[str, Callable[[str], float]]] = []  # (name, bound latest)
        self._strategy_id = strategy_id

    def add(self, indicator: IndicatorBase) -> None:
        """Updated on every bar after those added before it; reported unless it is an OHLCV view."""
        self.indicators.append(indicator)
        self._updates.append(indicator.update)
        if indicator.name not in _OHLCV_NAMES:
            self._reported.append((indicator.name, indicator.latest))

    def update(self, bar: BarReceived) -> None:
        """Update every indicator with `bar`, building no BarProcessed (a run that does not record
        them: `--record trades` or `summary`)."""
        self._history[bar.symbol].append(bar)
        for update in self._updates:
            update(bar)

    def record(self, bar: BarReceived) -> BarProcessed:
        """Update every indicator with `bar` (the OHLCV views first, through their shared history)
        and return its BarProcessed."""
        symbol = bar.symbol
        self._history[symbol].append(bar)
        for update in self._updates:
            update(bar)
        indicators: dict[str, float] = {}
        for name, latest in self._reported:
            indicators[name] = latest(symbol)
        return _build_bar_processed(
            bar.ts_event_ns, symbol, bar.bar_period, bar.open, bar.high, bar.low, bar.close, bar.volume,
            self._strategy_id, indicators,
        )
