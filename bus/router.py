"""Routing: every PUBLISH its sender may publish (bus/policy.py) to the members whose prefixes
match it, counted, and copied to the taps.

This is the bus's hot path (one call per published message), so it reads the registry's
structures directly instead of through methods: the route cache (registry.Registry.route), the
pending counters (invariant 2). The copies of the records of one member message that go to one
member are collected in a `Batch` and leave as one DELIVER message (protocol.py); copies for a
hosted member are handed to bus.hosted.HostedMembers instead.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

import zmq

from bus import protocol as P
from bus._fast import send2, send_parts
from bus.registry import ROUTE_CACHE_MAX, Member, Registry

if TYPE_CHECKING:
    from bus.hosted import HostedMembers

# member ident -> (member, [ident, topic, payload, topic, payload, ...]): one DELIVER each
Batch = dict[Hashable, tuple[Member, list[bytes]]]

TAP_DRAIN = 256  # tap messages read per housekeeping tick


class Router:
    """Forwards PUBLISH records, refuses those outside their sender's rights, counts what it
    forwards; counts the taps' subscriptions."""

    hosted: HostedMembers

    def __init__(self, reg: Registry, members: zmq.Socket[bytes], tap: zmq.Socket[bytes],
                 lose: Callable[[Member, str], None], malformed: Callable[[str], None],
                 log: Callable[[str], None]) -> None:
        self.reg = reg
        self.members = members
        self.tap = tap
        self.lose = lose
        self.malformed = malformed
        self.log = log
        self.tap_subs = 0  # live tap subscriptions: no copies while there are none

    def forward(self, ident: Hashable, topic: bytes, payload: bytes, batch: Batch) -> None:
        """Route one PUBLISH: a copy to every matching member, one pending per counted one
        (collected in `batch`, sent by send_batch)."""
        reg = self.reg
        route = reg.routes.get(topic)
        if route is None:
            route = reg.route(topic)
            if route is None:
                self.malformed(f"PUBLISH {topic[:60]!r}: {P.topic_error(topic)}")
                return
        sender = reg.by_ident.get(ident)
        if sender is None:
            if ident in reg.gone:
                reg.dropped += 1  # a removed member's late output: it was told to stop
            else:
                self.refuse(None, topic)  # only joined members publish
            return
        if topic not in sender.granted and not self.grant(sender, topic):
            return
        sender.published += 1
        targets, st, n_main, n_trail = route
        st[0] += 1
        st[1] += len(payload)
        reg.pending_main += n_main
        reg.pending_trailing += n_trail
        if self.tap_subs > 0:
            send2(self.tap, topic, payload)  # XPUB never blocks: drops above the tap's HWM
        for m in targets:
            m.delivered += 1
            m.pending += 1
            queued = batch.get(m.ident)
            if queued is None:
                batch[m.ident] = (m, [m.ident, topic, payload])  # type: ignore[list-item]
            else:
                queued[1].extend((topic, payload))

    def grant(self, sender: Member, topic: bytes) -> bool:
        """The first PUBLISH of `sender` on `topic`: allowed by the run's policy (then cached:
        later ones cost a set lookup) or refused."""
        if sender.may(topic):
            if len(sender.granted) >= ROUTE_CACHE_MAX:
                sender.granted.clear()
            sender.granted.add(topic)
            return True
        self.refuse(sender, topic)
        return False

    def refuse(self, sender: Member | None, topic: bytes) -> None:
        """A PUBLISH outside its sender's rights: counted, logged (rate-limited), not delivered."""
        self.reg.refused += 1
        if sender is not None:
            sender.refused += 1
        who = "a connection that has not joined" if sender is None else f"member {sender.name!r}"
        self.log(f"PUBLISH {topic[:60]!r} refused: {who} may not publish it")

    def send_batch(self, batch: Batch) -> None:
        """Send the collected copies (a member whose connection is gone is lost), then let hosted
        members handle theirs: a hosted broker answers in the same wake-up of the bus."""
        sock = self.members
        hosted = self.hosted
        dead = []
        for m, parts in batch.values():
            if m.hosted:
                hosted.deliver(m, parts)
                continue
            try:
                send_parts(sock, parts)
            except zmq.ZMQError as exc:
                dead.append((m, exc.strerror))
        batch.clear()
        for m, why in dead:
            self.lose(m, f"connection closed ({why})")  # (once: lose ignores a member already gone)
        if hosted.ready:
            hosted.run()

    def drain_tap(self) -> None:
        """Count subscriptions (b"\\x01prefix") and unsubscriptions (b"\\x00prefix", also when a
        tap goes); anything else is malformed."""
        for _ in range(TAP_DRAIN):
            try:
                msg = self.tap.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if msg and msg[0] == P.TAP_SUBSCRIBE:
                self.tap_subs += 1
            elif msg and msg[0] == P.TAP_UNSUBSCRIBE:
                self.tap_subs = max(0, self.tap_subs - 1)
            else:
                self.malformed(f"tap socket got a non-subscription message {msg[:40]!r}")
