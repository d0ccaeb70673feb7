"""The strategy's per-bar pipeline after issue 7: `self.bar.*` read one shared bar history, the
BarProcessed event is built by direct slot stores; both must match what the plain code produced."""

from __future__ import annotations

import dataclasses
import math
import time

from test_strategy_support import bar

from components.events import BarProcessed, BarReceived
from components.indicators import Close, High, IndicatorBase, Low, Open, SimpleMovingAverage, Volume
from components.strategy import StrategyBase


class _Reads(StrategyBase):
    def setup(self) -> None:
        self.sma = self.add_indicator(SimpleMovingAverage(period=2))
        self.plain: tuple[IndicatorBase, ...] = (Open(), High(), Low(), Close(), Volume())
        self.mismatches = 0

    def on_bar(self, bar: BarReceived) -> None:
        for ind in self.plain:
            ind.update(bar)
        fields = (self.bar.open, self.bar.high, self.bar.low, self.bar.close, self.bar.volume)
        for view, ind in zip(fields, self.plain):
            for s in ("AAA", "BBB", "CCC"):
                got = [view.latest(s)] + [view[s, k] for k in (-1, -2, -100, -101, 0, 99)]
                want = [ind.latest(s)] + [ind[s, k] for k in (-1, -2, -100, -101, 0, 99)]
                self.mismatches += repr(got) != repr(want)


def _feed(s: StrategyBase, n: int) -> list[BarProcessed]:
    out: list[BarProcessed] = []
    for i in range(n):
        bars = [bar("AAA", i, open=100.0 + i, close=101.0 + i % 7), bar("BBB", i, open=50.0 - i % 5)]
        if i % 3 == 0:
            bars[1] = dataclasses.replace(bars[1], volume=None)
        s.on_message("", bars)
        out += [e for e in s.drain() if isinstance(e, BarProcessed)]
    return out


def test_bar_fields_read_like_standalone_indicators() -> None:
    s = _Reads()
    _feed(s, 130)
    assert s.mismatches == 0
    assert s.bar.close["AAA", -2] == 101.0 + 128 % 7 and s.bar.open.latest("AAA") == 229.0
    assert math.isnan(s.bar.volume.latest("BBB")) and s.bar.volume["BBB", -2] == 100.0  # bar 129: None
    assert [i.name for i in s.indicators] == ["OPEN", "HIGH", "LOW", "CLOSE", "VOLUME", "SMA_2_CLOSE"]
    assert s.indicators[:5] == [s.bar.open, s.bar.high, s.bar.low, s.bar.close, s.bar.volume]
    assert all(i.max_history == 100 for i in s.indicators)


def test_bar_processed_equals_the_keyword_constructed_event() -> None:
    s = _Reads(strategy_id="s1")
    before = time.time_ns()
    events = _feed(s, 3)
    assert len(events) == 6
    for e in events:
        assert type(e) is BarProcessed and before <= e.ts_created_ns <= time.time_ns()
        expected = BarProcessed(
            ts_event_ns=e.ts_event_ns,
            ts_created_ns=e.ts_created_ns,
            symbol=e.symbol,
            bar_period=e.bar_period,
            open=e.open,
            high=e.high,
            low=e.low,
            close=e.close,
            volume=e.volume,
            strategy_id="s1",
            indicators=e.indicators,
        )
        assert repr(e) == repr(expected) and e == expected
    assert list(events[-1].indicators) == ["SMA_2_CLOSE"] and events[-1].indicators["SMA_2_CLOSE"] == 48.5
    assert events[1].volume is None and events[0].volume == 100
