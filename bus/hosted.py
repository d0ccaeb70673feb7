"""Members that run inside the bus process: their deliveries are function calls, not messages.

A strategy that synchronises with the broker (components/broker.py, "Synchronisation") pays two
passes through the bus per round, four socket hops: strategy -> bus -> broker -> bus -> strategy.
With the broker hosted by the bus process the round is strategy -> bus(broker) -> strategy, two
hops (README, Performance). The protocol does not change: a hosted member joins, is delivered
to, publishes and acknowledges like any other (outputs before the ACK: invariant 3), it is
simply never more than a call away. The bus stays free of component code: what it hosts is
anything with the `Hosted` methods (components/hosting.py adapts a component).

HostedMembers schedules them: a hosted member is joined when the bus starts (ident
b"\x00hosted:<name>", pid = the bus's), its deliveries are handed to it right after they were
routed, its exception is a loss (protocol.py, "Hosted members"), and a call that never returns
is caught by a watchdog thread, which ends the bus process (nothing else can: the call blocks the
bus loop itself).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from bus import protocol as P
from bus import run_contract as RC
from bus.api import MemberLink
from bus.errors import BusError
from bus.registry import Member

if TYPE_CHECKING:
    from bus.router import Batch
    from bus.server import BusServer

HOSTED_STALL_S = 5.0  # a hosted member's call that lasts this long is hung: the bus process ends


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

    def __init__(self, server: BusServer, member: Member, hosted: Hosted) -> None:
        self.server = server
        self.router = server.router
        self.member = member
        self.hosted = hosted
        self.name = member.name
        self.stop_requested = False
        self.inbox: list[tuple[str, bytes]] = []
        self.received = 0  # delivered to `hosted` and not yet acknowledged
        self.batch: Batch = {}

    def publish(self, topic: str, payload: bytes) -> None:
        self.router.forward(self.member.ident, P.topic_bytes(topic), payload, self.batch)

    def flush(self) -> None:
        if self.batch:
            self.router.send_batch(self.batch)

    def ack(self, count: int | None = None) -> None:
        self.flush()
        n = self.received if count is None else min(count, self.received)
        if n > 0:
            self.received -= n
            self.server.apply_ack(self.member, n)


class HostedMembers:
    """The members this bus process runs, and when each of them is called."""

    def __init__(self, server: BusServer) -> None:
        self.server = server
        self.pending: list[Hosted] = []  # added, not started yet
        self.links: dict[Any, Link] = {}  # by member ident
        self.ready = False  # some link has deliveries waiting
        self._running = False
        self.call_started: tuple[float, Link] | None = None  # (since, whose), watched by _Watchdog

    def add(self, hosted: Hosted) -> None:
        self.pending.append(hosted)

    def start(self) -> None:
        """Join every added member and call its start(); a watchdog thread guards the calls."""
        if self.pending:
            _Watchdog(self.server, self).start()
        now = time.monotonic()
        for hosted in self.pending:
            m = Member(hosted.name, b"\x00hosted:" + hosted.name.encode(), hosted.prefixes(),
                       pid=os.getpid(), host=socket.gethostname(), now=now)
            m.hosted = True
            admission = self.server.policy.admit(m.name, True)  # the run's policy binds it too
            if isinstance(admission, str):
                raise BusError(f"hosted member {m.name!r}: {admission}")
            self.server.add(m, admission)
            link = self.links[m.ident] = Link(self.server, m, hosted)
            self.call(link, hosted.start)
        self.pending = []

    def deliver(self, m: Member, parts: list[bytes]) -> None:
        """Routed copies for a hosted member ([ident, topic, payload, ...]): queued for run()."""
        self.links[m.ident].inbox.extend((parts[k].decode(), parts[k + 1]) for k in range(1, len(parts), 2))
        self.ready = True

    def run(self) -> None:
        """Hand hosted members what was delivered to them, until none has anything left (their
        outputs may be delivered to one another). A no-op when already running (a member's
        outputs routed to another hosted member are handled by the loop that is running)."""
        if self._running:
            return
        self._running = True
        try:
            while self.ready:
                self.ready = False
                for link in list(self.links.values()):
                    if link.inbox and not link.stop_requested:
                        messages, link.inbox = link.inbox, []
                        link.received += len(messages)
                        self.call(link, link.hosted.handle, messages)
        finally:
            self._running = False

    def tick(self, now: float) -> None:
        """Every housekeeping tick: a hosted member lives as long as the bus (no heartbeats);
        its tick() runs."""
        for link in list(self.links.values()):
            link.member.last_hb = now
            if not link.stop_requested:
                self.call(link, link.hosted.tick)

    def call(self, link: Link, method: Callable[..., None], *args: Any) -> None:
        """One call into a hosted member, then its held outputs go out; an exception is a loss."""
        outer = self.call_started
        self.call_started = (time.monotonic(), link)
        try:
            method(*args, link) if args else method(link)
            link.flush()
        except Exception:  # noqa: BLE001 - the member's failure, not the bus's
            text = traceback.format_exc()
            link.stop_requested = True
            link.inbox.clear()
            link.batch.clear()
            last = text.strip().splitlines()[-1]
            if link.member.critical:
                self.server.record_failure(RC.EXCEPTION, link.name, last, text)
            self.server.lose(link.member, f"raised {last}")
        finally:
            self.call_started = outer

    def stop(self, m: Member) -> None:
        """A hosted member's STOP: it stops (and publishes what that emits), then it has left."""
        link = self.links[m.ident]
        if not link.stop_requested:
            link.stop_requested = True
            self.call(link, link.hosted.stop)
        self.server.leave(m)


class _Watchdog(threading.Thread):
    """A hosted member stuck in a call blocks the bus loop itself: nothing can be answered, and
    the socket belongs to that loop. So after HOSTED_STALL_S in one call this thread leaves the
    member's stack where its tracebacks go (the bus's failure record) and ends the process: the
    members then lose the bus, and the run's owner finds the reason."""

    def __init__(self, server: BusServer, hosted: HostedMembers) -> None:
        super().__init__(name="tickbus-hosted-watchdog", daemon=True)
        self.server = server
        self.hosted = hosted
        self.main_ident = threading.get_ident()  # the thread running the bus loop (it starts us)

    def run(self) -> None:
        server = self.server
        while not server.stopping:
            time.sleep(0.25)
            call = self.hosted.call_started
            if call is None or time.monotonic() - call[0] < HOSTED_STALL_S:
                continue
            since, link = call
            frame = sys._current_frames().get(self.main_ident)
            stack = "".join(traceback.format_stack(frame)) if frame is not None else "(stack unavailable)\n"
            detail = (f"hung: no return from a call for {time.monotonic() - since:.1f} s "
                      "(its process, the bus, is ended)")
            server.record_failure(RC.HUNG, link.name, detail, f"where it is:\n{stack}")
            server.log(f"member {link.name!r} hung in a call for {HOSTED_STALL_S:g} s: ending the bus process")
            server.log.flush()
            os._exit(RC.EXIT_FAILED)
