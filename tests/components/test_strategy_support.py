"""Helpers shared by the broker / strategy / example tests (no tests here).

`Wire` is a minimal in-test bus: it delivers each message to the components whose prefixes match
its topic, FIFO, and queues what they emit behind what is already queued (grouped by topic the
way the real drivers group it).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence

import numpy as np

from components.codec import FEED_TOPIC, group_by_topic
from components.component import Component
from components.events import BarReceived, EventBase
from components.models import BarPeriod

T0 = 1_700_000_040_000_000_000  # a whole minute
MINUTE = 60_000_000_000


def ts(i: int) -> int:
    return T0 + i * MINUTE


def bar(
    symbol: str = "AAA",
    i: int = 0,
    open: float = 100.0,
    high: float | None = None,
    low: float | None = None,
    close: float | None = None,
    period: BarPeriod = BarPeriod.MINUTE,
) -> BarReceived:
    c = open if close is None else close
    return BarReceived(
        ts_event_ns=ts(i),
        symbol=symbol,
        bar_period=period,
        open=open,
        high=max(open, c) if high is None else high,
        low=min(open, c) if low is None else low,
        close=c,
        volume=100,
    )


class Wire:
    def __init__(self, *components: Component) -> None:
        self.components = list(components)
        self.log: list[tuple[str, EventBase]] = []

    def start(self) -> None:
        for c in self.components:
            c.start()
            self._run(deque(group_by_topic(c.drain())))

    def stop(self) -> None:
        for c in self.components:
            c.stop()
            self._run(deque(group_by_topic(c.drain())))

    def publish(self, topic: str, events: Sequence[EventBase]) -> None:
        self._run(deque([(topic, list(events))]))

    def feed(self, bars: Iterable[BarReceived]) -> None:
        """One timestamp's bars, as the datafeed publishes them."""
        self.publish(FEED_TOPIC, list(bars))

    def _run(self, queue: deque[tuple[str, list[EventBase]]]) -> None:
        while queue:
            topic, events = queue.popleft()
            self.log.extend((topic, e) for e in events)
            for c in self.components:
                if topic.startswith(tuple(c.subscriptions())):
                    c.on_message(topic, events)
                    queue.extend(group_by_topic(c.drain()))

    def events(self, cls: type[EventBase]) -> list[EventBase]:
        return [e for _, e in self.log if type(e) is cls]


def random_walk_bars(n: int, symbols: Sequence[str] = ("AAA",), seed: int = 7) -> list[list[BarReceived]]:
    """n timestamps of minute bars per symbol: a geometric random walk with intrabar range."""
    rng = np.random.default_rng(seed)
    out: list[list[BarReceived]] = [[] for _ in range(n)]
    for sym in symbols:
        steps = rng.normal(0.0, 0.001, size=n)
        closes = 100.0 * np.exp(np.cumsum(steps))
        prev = 100.0
        for i in range(n):
            c = float(closes[i])
            o = prev
            wick = abs(float(rng.normal(0.0, 0.0005))) * c
            out[i].append(
                BarReceived(
                    ts_event_ns=ts(i),
                    symbol=sym,
                    bar_period=BarPeriod.MINUTE,
                    open=o,
                    high=max(o, c) + wick,
                    low=min(o, c) - wick,
                    close=c,
                    volume=int(rng.integers(1, 1000)),
                )
            )
            prev = c
    return out


def strip_wall_clock(events: Iterable[EventBase]) -> list[tuple[str, tuple[object, ...]]]:
    """Event contents without `ts_created_ns` (the only field identical runs may disagree on)."""
    out = []
    for e in events:
        fields = tuple(
            "nan" if isinstance(v, float) and math.isnan(v) else v
            for k, v in ((f, getattr(e, f)) for f in e.__dataclass_fields__)
            if k != "ts_created_ns" and k != "indicators"
        )
        out.append((type(e).__name__, fields))
    return out
