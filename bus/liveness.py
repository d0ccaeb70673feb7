"""Liveness (invariant 5): which members are still there. A member whose heartbeats stopped for
heartbeat_timeout, or whose process exited (pid polled when it runs on the bus's host; zombies
and reused pids count as exited), is lost; what losing one means is the server's business.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable

import zmq

from bus import protocol as P
from bus._fast import has_more_input, send_parts
from bus.registry import Member, Registry, pid_exited

PID_POLL_S = 0.08  # how often local members' pids are checked


class Liveness:
    """Answers heartbeats and, every housekeeping tick, judges the members by them."""

    def __init__(self, reg: Registry, members: zmq.Socket[bytes], heartbeat_timeout: float,
                 lose: Callable[[Member, str], None], drain: Callable[[], None]) -> None:
        self.reg = reg
        self.members = members
        self.heartbeat_timeout = heartbeat_timeout
        self.lose = lose
        self.drain = drain  # reads the members socket (its queued heartbeats among the rest)
        self._last_tick = time.monotonic()
        self._next_pid_poll = 0.0

    def on_heartbeat(self, ident: Hashable, member_rid: bytes, now: float) -> None:
        """HEARTBEAT from a member's heartbeat socket: ok | unknown (not joined) | lost (removed)."""
        reg = self.reg
        m = reg.by_ident.get(member_rid)
        if m is not None:
            m.last_hb = now
            status = P.OK
        elif reg.gone.get(member_rid, "").startswith("lost"):
            status = P.LOST
        else:
            status = P.UNKNOWN
        try:
            send_parts(self.members, (ident, P.DELIM, P.HEARTBEAT_REPLY, status))  # type: ignore[arg-type]
        except zmq.ZMQError:
            pass

    def check(self, now: float) -> None:
        """Lose the members whose heartbeats stopped or whose process exited. If the bus loop
        itself did not run for a while (starved, stopped), the heartbeats are queued unread:
        they are read now and judged at the next tick instead of declaring everyone lost."""
        limit = self.heartbeat_timeout
        stalled = now - self._last_tick > max(0.25, limit / 2)
        self._last_tick = now
        if stalled:
            if has_more_input(self.members):
                self.drain()
        else:
            for m in list(self.reg.members.values()):
                age = now - m.last_hb
                if age > limit:
                    self.lose(m, f"no heartbeat for {age:.1f} s")
        if now >= self._next_pid_poll:
            self._next_pid_poll = now + PID_POLL_S
            for m in self.exited():
                self.lose(m, f"process {m.pid} exited")

    def exited(self) -> list[Member]:
        """The members on this host whose process is gone."""
        return [m for m in self.reg.members.values() if m.local and pid_exited(m.pid, m.proc_start)]
