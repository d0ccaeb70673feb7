"""Rolling maximum or minimum of another indicator, O(1) amortized per bar."""

from __future__ import annotations

from collections import deque
from typing import Any

from components.events import BarReceived
from components.indicators.base import NAN, IndicatorBase
from components.models import ExtremeType


class _ExtremeState:
    __slots__ = ("index", "last_nan", "candidates")

    def __init__(self) -> None:
        self.index: int = -1  # index of the latest source value
        self.last_nan: int = -(2**62)  # index of the latest NaN source value
        # Monotonic deque of (index, value): values strictly decreasing (MAX) / increasing (MIN)
        # from the left, so the left end is the extreme of the window.
        self.candidates: deque[tuple[int, float]] = deque()


class PeriodExtreme(IndicatorBase):
    """The MAX or MIN of the last `period` values of a source indicator.

    Builds its own source instance, `source(max_history=period, **source_kwargs)`, and feeds it
    every bar. NaN until the source has produced `period` values, and whenever any of the last
    `period` source values is NaN. Name `{period}-period {MAX|MIN} of {source.name}`.

    As in onesecondtrader, `period`, `extreme_type` and `max_history` belong to this indicator, so a
    source parameter of the same name cannot be passed through `source_kwargs` (e.g. the source
    SMA's own `period` keeps its default).
    """

    def __init__(
        self,
        source: type[IndicatorBase],
        period: int = 20,
        extreme_type: ExtremeType = ExtremeType.MAX,
        max_history: int = 100,
        **source_kwargs: Any,
    ) -> None:
        super().__init__(max_history=max_history)
        self.period: int = max(1, int(period))
        self.extreme_type: ExtremeType = extreme_type
        self._source: IndicatorBase = source(max_history=self.period, **source_kwargs)
        self._is_max: bool = extreme_type is not ExtremeType.MIN
        self._states: dict[str, _ExtremeState] = {}

    @property
    def source(self) -> IndicatorBase:
        return self._source

    @property
    def name(self) -> str:
        return f"{self.period}-period {self.extreme_type.name} of {self._source.name}"

    def _compute_indicator(self, incoming_bar: BarReceived) -> float:
        symbol = incoming_bar.symbol
        source = self._source
        source.update(incoming_bar)
        value = source.latest(symbol)
        state = self._states.get(symbol)
        if state is None:
            state = self._states[symbol] = _ExtremeState()
        index = state.index + 1
        state.index = index
        candidates = state.candidates
        start = index - self.period + 1  # first index inside the window
        if value != value:
            state.last_nan = index
        elif self._is_max:
            while candidates and candidates[-1][1] <= value:
                candidates.pop()
            candidates.append((index, value))
        else:
            while candidates and candidates[-1][1] >= value:
                candidates.pop()
            candidates.append((index, value))
        while candidates and candidates[0][0] < start:
            candidates.popleft()
        if start < 0 or state.last_nan >= start:
            return NAN
        return candidates[0][1]
