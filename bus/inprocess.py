"""InProcessBus: the bus's routing and idle semantics inside one process (threads), no sockets.

Unit tests of components and the no-IPC benchmark baseline use it. Routing, counting, the idle
rule, trailing members, leave, failure and the stats shape come from the same Registry the bus
process uses. Differences: no heartbeats (a client that is closed without leave() is treated as
lost, like a process that exits without leaving), and every member's pid is this process's.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from bus.errors import BusLost, IdleTimeout, JoinError, MemberLost
from bus.registry import Member, Registry, join_error


class InProcessBus:
    def __init__(self, *, max_trailing_backlog: int = 10_000) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.reg = Registry(max_trailing_backlog)
        self._started = time.monotonic()
        self._waiting = 0
        self._shut = False

    def client(self, name: str) -> "InProcessClient":
        return InProcessClient(self, name)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            now = time.monotonic()
            s = self.reg.snapshot(now, now - self._started, self._waiting, 0)
            s["pid"] = os.getpid()
            s["transport"] = "inprocess"
            return s

    def members(self) -> dict[str, dict[str, Any]]:
        return dict(self.stats()["members"])

    def stop_member(self, name: str) -> None:
        with self._lock:
            m = self.reg.members.get(name)
            if m is None:
                raise JoinError(f"no member named {name!r}")
            c: InProcessClient = m.ident  # type: ignore[assignment]
            c._set_stop("stop requested")

    def fail(self, reason: str) -> None:
        with self._lock:
            self.reg.fail(reason)
            self._idle.notify_all()

    def shutdown(self) -> None:
        """Ask every member to stop; pending waits raise BusLost."""
        with self._lock:
            self._shut = True
            for m in self.reg.members.values():
                c: InProcessClient = m.ident  # type: ignore[assignment]
                c._set_stop("bus shutting down")
            self._idle.notify_all()


class InProcessClient:
    """Same methods and semantics as bus.BusClient, delivered through per-client queues."""

    def __init__(self, bus: InProcessBus, name: str) -> None:
        self.bus = bus
        self.name = name
        self.stop_requested = False
        self.stop_reason: str | None = None
        self.malformed = 0
        self._cond = threading.Condition(bus._lock)
        self._inbox: deque[tuple[str, bytes]] = deque()
        self._unacked = 0
        self._member: Member | None = None
        self.joined = False
        self.left = False
        self._closed = False

    def join(self, prefixes: Sequence[str], *, tracked: bool = True, trailing: bool = False,
             critical: bool = True, timeout: float = 10.0) -> None:
        if isinstance(prefixes, str):
            raise TypeError("prefixes must be a sequence of strings, not one string")
        prefixes = list(prefixes)
        err = join_error(self.name, prefixes)
        if err:
            raise JoinError(err)
        if self.joined:
            raise JoinError(f"{self.name!r} has already joined")
        reg = self.bus.reg
        with self.bus._lock:
            err = reg.refuse(self.name, self)
            if err:
                raise JoinError(f"join of {self.name!r} refused: {err}")
            m = Member(self.name, self, prefixes, tracked=tracked, trailing=trailing, critical=critical,
                       pid=os.getpid(), host="", now=time.monotonic())
            reg.add(m)
            self._member = m
            self.joined = True

    def publish(self, topic: str, payload: bytes) -> None:
        t = topic.encode()
        if not t or t[-1] != 0x2E:
            raise ValueError(f"topic {topic!r} must be non-empty and end with '.'")
        payload = bytes(payload)
        bus = self.bus
        reg = bus.reg
        with bus._lock:
            route = reg.route(t)
            if route is None:  # unreachable after the check above unless not UTF-8
                reg.malformed += 1
                return
            if self._member is not None:
                if reg.members.get(self.name) is not self._member:
                    reg.dropped += 1
                    return
                self._member.published += 1
            targets, st, n_main, n_trail = route
            st[0] += 1
            st[1] += len(payload)
            reg.pending_main += n_main
            reg.pending_trailing += n_trail
            for m in targets:
                m.delivered += 1
                m.pending += 1
                c: InProcessClient = m.ident  # type: ignore[assignment]
                c._inbox.append((topic, payload))
                c._cond.notify()

    def recv(self, timeout: float) -> list[tuple[str, bytes]]:
        with self.bus._lock:
            if not self._inbox and not self.stop_requested and timeout > 0:
                self._cond.wait_for(lambda: self._inbox or self.stop_requested, timeout)
            if not self._inbox:
                return []
            out = list(self._inbox)
            self._inbox.clear()
            self._unacked += len(out)
            return out

    def ack(self) -> None:
        n = self._unacked
        if not n:
            return
        self._unacked = 0
        bus = self.bus
        with bus._lock:
            m = self._member
            if m is None or bus.reg.members.get(self.name) is not m:
                return
            err = bus.reg.ack(m, n)
            if err:
                bus.reg.malformed += 1
            if bus._waiting:
                bus._idle.notify_all()

    @property
    def unacked(self) -> int:
        return self._unacked

    def wait_until_idle(self, timeout: float, *, include_trailing: bool = True) -> None:
        bus = self.bus
        reg = bus.reg
        t0 = time.monotonic()
        with bus._lock:
            bus._waiting += 1
            try:
                ok = bus._idle.wait_for(
                    lambda: reg.failed is not None or bus._shut or reg.idle(include_trailing), timeout)
            finally:
                bus._waiting -= 1
            if reg.failed is not None:
                raise MemberLost(reg.failed, member=reg.failed_member, reason=reg.failed)
            if bus._shut:
                raise BusLost("bus shut down")
            if not ok:
                raise IdleTimeout(reg.timeout_message(timeout, include_trailing),
                                  reg.pending_by_member(include_trailing))
            reg.barrier.add(time.monotonic() - t0)

    def stats(self, timeout: float = 5.0) -> dict[str, Any]:
        return self.bus.stats()

    def leave(self) -> None:
        bus = self.bus
        with bus._lock:
            if self._member is not None and bus.reg.members.get(self.name) is self._member:
                bus.reg.remove(self._member, "left")
                bus._idle.notify_all()
            self.left = True
            self.joined = False

    def close(self) -> None:
        """Closing without leave() is a loss (as a process exiting without leaving)."""
        if self._closed:
            return
        self._closed = True
        bus = self.bus
        with bus._lock:
            m = self._member
            if m is not None and not self.left and bus.reg.members.get(self.name) is m:
                bus.reg.lose(m, "client closed without leaving")
                bus._idle.notify_all()

    def _set_stop(self, reason: str) -> None:  # called with the bus lock held
        if not self.stop_requested:
            self.stop_requested = True
            self.stop_reason = reason
            self._cond.notify_all()

    def __enter__(self) -> "InProcessClient":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None and self.joined:
                self.leave()
        finally:
            self.close()

