"""Runs components in one process: a synchronous FIFO dispatcher with the bus's delivery rules.

A message goes to every component whose prefix matches its topic, in the order the components were
added; what a component emits is queued behind everything already queued. That is one of the
orders the multi-process bus can produce, and the components are deterministic under any of them,
so both modes record the same events. It is also the no-IPC baseline of the benchmark.

Components stop in the reverse order of adding (a run adds the recorder, the broker, then the
strategies): what a strategy sends from its stop() still reaches the broker and the recorder, and
nothing is delivered to a component once it has stopped - as across processes, where a stopped
strategy has left the bus.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from bus.run_contract import FailureRecord
from components import codec
from components.component import Component
from components.events import EventBase


class ComponentFailed(Exception):
    """A component raised: `record` names it, with the traceback (bus/run_contract.py)."""

    def __init__(self, record: FailureRecord) -> None:
        super().__init__(record.describe())
        self.record = record


def _failed(c: Component) -> ComponentFailed:
    """The exception being handled, raised by `c`, as its failure record."""
    from components.runtime import exception_record

    return ComponentFailed(exception_record(c.component_id or type(c).__name__))


class InProcessDispatcher:
    def __init__(self, components: Iterable[Component]) -> None:
        self.components = list(components)
        self._queue: deque[tuple[str, list[EventBase]]] = deque()
        self._routes: dict[str, list[Component]] = {}
        self._prefixes = [(c, tuple(c.subscriptions())) for c in self.components]
        self.delivered = 0

    def _targets(self, topic: str) -> list[Component]:
        targets = self._routes.get(topic)
        if targets is None:
            targets = [c for c, prefixes in self._prefixes if topic.startswith(prefixes)]
            self._routes[topic] = targets
        return targets

    def start(self) -> None:
        for c in self.components:
            try:
                c.start()
            except Exception:
                raise _failed(c) from None
            self._enqueue(c.drain())
        self.run_until_idle()

    def stop(self) -> None:
        for c in reversed(self.components):
            try:
                c.stop()
            except Exception:
                raise _failed(c) from None
            self._prefixes = [(other, prefixes) for other, prefixes in self._prefixes if other is not c]
            self._routes.clear()
            self._enqueue(c.drain())
            self.run_until_idle()

    def _enqueue(self, events: list[EventBase]) -> None:
        if events:
            self._queue.extend(codec.group_by_topic(events))

    def publish(self, topic: str, events: list[EventBase]) -> None:
        self._queue.append((topic, events))

    def run_until_idle(self) -> None:
        """Deliver until nothing is queued (the in-process idle barrier)."""
        queue = self._queue
        while queue:
            topic, events = queue.popleft()
            for c in self._targets(topic):
                self.delivered += 1
                try:
                    c.on_message(topic, events)  # raw components take decoded events here too
                except Exception:
                    raise _failed(c) from None
                out = c.drain()
                if out:
                    queue.extend(codec.group_by_topic(out))
