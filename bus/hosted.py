"""Members that run inside the bus process: their deliveries are function calls, not messages.

A strategy that synchronises with the broker (components/broker.py, "Synchronisation") pays two
passes through the bus per round, four socket hops: strategy -> bus -> broker -> bus -> strategy.
With the broker hosted by the bus process the round is strategy -> bus(broker) -> strategy, two
hops (README, Performance). The protocol does not change: a hosted member joins, is delivered
to, publishes and acknowledges like any other (outputs before the ACK: invariant 3), it is
simply never more than a call away. The bus stays free of component code: what it hosts is
anything with the `Hosted` methods (components/hosting.py adapts a component).
"""

from __future__ import annotations

from typing import Any, Protocol

from bus import protocol as P
from bus.api import MemberLink


class Hosted(Protocol):
    """A member the bus process runs in its own loop. Each call may publish and acknowledge
    through `link`; an exception fails the run like a crashed member process would (the bus
    writes its failure record, with the traceback: bus/run_contract.py)."""

    name: str

    def prefixes(self) -> list[str]: ...

    def start(self, link: MemberLink) -> None: ...

    def handle(self, messages: list[tuple[str, bytes]], link: MemberLink) -> None: ...

    def tick(self, link: MemberLink) -> None: ...

    def stop(self, link: MemberLink) -> None: ...


class Link:
    """The bus side of a hosted member: publish collects deliveries, ack sends them and then
    applies the ACK (in that order, as a remote member's ACK follows its outputs)."""

    def __init__(self, server: Any, member: Any, hosted: Hosted) -> None:
        self.server = server
        self.member = member
        self.hosted = hosted
        self.name = member.name
        self.stop_requested = False
        self.inbox: list[tuple[str, bytes]] = []
        self.received = 0  # delivered to `hosted` and not yet acknowledged
        self.batch: dict[Any, tuple[Any, list[bytes]]] = {}

    def publish(self, topic: str, payload: bytes) -> None:
        self.server._forward(self.member.ident, P.topic_bytes(topic), payload, self.batch)

    def flush(self) -> None:
        if self.batch:
            self.server._send_batch(self.batch)

    def ack(self, count: int | None = None) -> None:
        self.flush()
        n = self.received if count is None else min(count, self.received)
        if n > 0:
            self.received -= n
            self.server._apply_ack(self.member, n)
