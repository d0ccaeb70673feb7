"""The answers to WAIT: "idle" once nothing counted is pending (invariant 4), "timeout" once a
wait's bound passed, "failed" / "shutdown" when the bus is failed or closing.

A wait is re-checked on every ACK, LEAVE and loss (what can make the bus idle) and its deadline
every housekeeping tick. With `stall` its timeout counts from the last ACK of any member: it
bounds time without progress, not the length of the wait; and when it passes while only
non-critical members have work pending, they are lost instead (bus/policy.py: a member that
cannot fail the run cannot stall it either).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

import msgpack

from bus import protocol as P
from bus.registry import Member, Registry

# reply(ident, kind, rid, status, body) -> whether it could be sent
Reply = Callable[[Hashable, bytes, bytes, bytes, bytes], bool]


class Waiter:
    __slots__ = ("ident", "rid", "include_trailing", "t0", "deadline", "timeout", "stall")

    def __init__(self, ident: Hashable, rid: bytes, include_trailing: bool, t0: float, timeout: float,
                 stall: bool = False) -> None:
        self.ident = ident
        self.rid = rid
        self.include_trailing = include_trailing
        self.stall = stall  # the timeout counts from the last ACK (no progress), not from t0
        self.t0 = t0
        self.timeout = timeout
        self.deadline = t0 + timeout

    def expired(self, now: float, last_ack: float) -> bool:
        return now >= (max(self.deadline, last_ack + self.timeout) if self.stall else self.deadline)


class Waits:
    """The pending WAITs of every member and when to answer them."""

    def __init__(self, reg: Registry, reply: Reply, malformed: Callable[[str], None],
                 lose: Callable[[Member, str], None]) -> None:
        self.reg = reg
        self.reply = reply
        self.malformed = malformed
        self.lose = lose
        self.waiters: list[Waiter] = []
        self.last_ack = time.monotonic()  # progress, for waits whose timeout is a stall bound
        self.closing: str | None = None  # set once the bus shuts down: every WAIT is answered so

    def on_wait(self, ident: Hashable, rid: bytes, body: bytes) -> None:
        """A WAIT record: msgpack [include_trailing, timeout_s, stall?]."""
        try:
            args = msgpack.unpackb(body)
            include_trailing, timeout = bool(args[0]), float(args[1])
            stall = len(args) > 2 and bool(args[2])
            if len(args) > 3:
                raise ValueError(f"{len(args)} fields")
        except Exception as exc:  # noqa: BLE001 - any decoding problem is malformed input
            self.malformed(f"WAIT body does not decode: {exc}")
            return
        reg = self.reg
        if self.closing is not None:
            self.reply(ident, P.WAIT_REPLY, rid, P.SHUTDOWN, msgpack.packb({"error": self.closing}))
        elif reg.failed is not None:
            self.reply(ident, P.WAIT_REPLY, rid, P.FAILED, msgpack.packb({"error": reg.failed, "member": reg.failed_member}))
        elif reg.idle(include_trailing):
            reg.barrier.add(0.0)
            self.reply(ident, P.WAIT_REPLY, rid, P.OK, b"")
        else:
            self.waiters.append(Waiter(ident, rid, include_trailing, time.monotonic(), timeout, stall))

    def progress(self, now: float) -> None:
        """Some member acknowledged deliveries."""
        self.last_ack = now
        if self.waiters:
            self.check()

    def check(self) -> None:
        """Answer every wait that is now idle."""
        reg = self.reg
        if reg.pending_main:
            return
        now = time.monotonic()
        keep = []
        for w in self.waiters:
            if reg.idle(w.include_trailing):
                reg.barrier.add(now - w.t0)
                self.reply(w.ident, P.WAIT_REPLY, w.rid, P.OK, b"")
            else:
                keep.append(w)
        self.waiters = keep

    def expire(self, now: float) -> None:
        """Answer "timeout" (naming what is pending) to every wait whose bound passed."""
        if not self.waiters:
            return
        last_ack = self.last_ack
        expired = [w for w in self.waiters if w.expired(now, last_ack)]
        if not expired:
            return
        stalled = [w for w in expired if w.stall]
        if stalled and self._drop_laggards(stalled):  # (their loss re-checked every wait)
            expired = [w for w in self.waiters if w.expired(now, last_ack)]
        self.waiters = [w for w in self.waiters if not w.expired(now, last_ack)]
        reg = self.reg
        for w in expired:
            body = msgpack.packb({
                "error": reg.timeout_message(w.timeout, w.include_trailing, w.stall),
                "pending": reg.pending_by_member(w.include_trailing),
            })
            self.reply(w.ident, P.WAIT_REPLY, w.rid, P.TIMEOUT, body)

    def _drop_laggards(self, stalled: list[Waiter]) -> bool:
        """A stall wait expired: if every member it waits for is non-critical, those members are
        lost (a member that cannot fail the run cannot stall it either) and the wait goes on."""
        reg = self.reg
        trailing = any(w.include_trailing for w in stalled) or reg.pending_trailing > reg.max_trailing_backlog
        laggards = [m for m in reg.members.values()
                    if m.pending and (m.trailing and trailing or m.tracked and not m.trailing)]
        if not laggards or any(m.critical for m in laggards):
            return False
        timeout = max(w.timeout for w in stalled)
        for m in laggards:
            self.lose(m, f"made no progress for {timeout:g} s ({m.pending} pending)")
        return True

    def fail_all(self, status: bytes, error: str, member: str | None = None) -> None:
        """Answer every pending wait `status` ("failed", "shutdown") with `error`."""
        body = msgpack.packb({"error": error, "member": member})
        waiters, self.waiters = self.waiters, []
        for w in waiters:
            self.reply(w.ident, P.WAIT_REPLY, w.rid, status, body)
