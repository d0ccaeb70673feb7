"""Indicator model: one float per bar per symbol, bounded per-symbol history, auto-registration.

Concurrency: a strategy handles its bars on one thread, so an indicator instance is only ever
touched by one thread. There are therefore **no locks** here: a lock around the history would
cost time on every bar and buy nothing. Do not share one indicator instance between threads.
"""

from __future__ import annotations

import abc
import math
from collections import deque
from collections.abc import Callable
from operator import attrgetter

from components.events import BarReceived
from components.models import BarField

NAN: float = math.nan

_indicator_registry: dict[str, type[IndicatorBase]] = {}


def get_registered_indicators() -> dict[str, type[IndicatorBase]]:
    """A copy of the registry: class name -> class, for every public subclass defined so far."""
    return dict(_indicator_registry)


def _volume(bar: BarReceived) -> float:
    volume = bar.volume
    return NAN if volume is None else float(volume)


FieldGetter = Callable[[BarReceived], float]

_FIELD_GETTERS: dict[BarField, FieldGetter] = {
    BarField.OPEN: attrgetter("open"),
    BarField.HIGH: attrgetter("high"),
    BarField.LOW: attrgetter("low"),
    BarField.CLOSE: attrgetter("close"),
    BarField.VOLUME: _volume,
}


def field_getter(bar_field: BarField) -> FieldGetter:
    """A fast callable extracting `bar_field` from a bar (VOLUME: float, NaN when None)."""
    return _FIELD_GETTERS.get(bar_field, _FIELD_GETTERS[BarField.CLOSE])


class IndicatorBase(abc.ABC):
    """A scalar technical indicator with a bounded per-symbol history.

    Subclasses implement `name` (a canonical string encoding the configuration) and
    `_compute_indicator(bar)`, which returns exactly one float per bar; indicators with several
    outputs are split into several classes. Rolling state lives in the subclass, keyed by symbol,
    so every symbol is computed in isolation. NaN means "warming up" (or "undefined").

    `ind[symbol, i]` indexes the last `max_history` values with ordinary Python indexing (so
    `ind[symbol, -1]` is the latest and `ind[symbol, -2]` the one before); an unknown symbol or an
    out-of-range index gives NaN.

    Every subclass whose name does not start with `_` registers itself on definition (see
    `get_registered_indicators`).

    Not thread-safe by design: one strategy owns its indicators and drives them from one thread
    (see the module docstring).
    """

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _indicator_registry[cls.__name__] = cls

    def __init__(self, max_history: int = 100) -> None:
        self._max_history: int = max(1, int(max_history))
        self._history: dict[str, deque[float]] = {}

    @property
    def max_history(self) -> int:
        return self._max_history

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """Canonical name encoding the indicator type and its configuration."""

    @abc.abstractmethod
    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        """Consume one bar (advancing this symbol's state) and return the indicator value."""

    def update(self, incoming_bar: BarReceived) -> None:
        """Compute the value for this bar and append it to the bar's symbol's history."""
        value = self._compute_indicator(incoming_bar)
        try:
            self._history[incoming_bar.symbol].append(value)
        except KeyError:
            self._history[incoming_bar.symbol] = deque((value,), maxlen=self._max_history)

    def latest(self, symbol: str) -> float:
        """The most recent value for `symbol` (same as `self[symbol, -1]`); NaN if none."""
        try:  # the hit is the hot path (every strategy reads every indicator every bar)
            return self._history[symbol][-1]
        except (KeyError, IndexError):
            return NAN

    def __getitem__(self, key: tuple[str, int]) -> float:
        symbol, index = key
        history = self._history.get(symbol)
        if history is None:
            return NAN
        try:
            return history[index]
        except IndexError:
            return NAN

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"
