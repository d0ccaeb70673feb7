"""Members, routing and idle bookkeeping: the bus's state, without sockets.

The router (bus/router.py) reads the route cache and updates the counters on every PUBLISH; what
changes membership (join, leave, loss) and what reads the state (idle, stats) is here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Hashable, Sequence
from typing import Any

from bus.protocol import matches, prefix_error, topic_error

# (targets in join order, [messages, bytes] of the topic, counted main targets, counted trailing)
Route = tuple[tuple["Member", ...], list[int], int, int]

ROUTE_CACHE_MAX = 65_536


class Member:
    """One joined member. `pending` counts deliveries not yet acknowledged (for every member;
    only tracked/trailing members' pending enter the barrier)."""

    __slots__ = (
        "name", "ident", "prefixes", "bprefixes", "tracked", "trailing", "critical", "pid", "host",
        "proc_start", "local", "hosted", "delivered", "acknowledged", "pending", "published", "last_hb", "joined_at",
        "admission", "may_publish", "granted", "refused",
    )

    def __init__(
        self,
        name: str,
        ident: Hashable,
        prefixes: Sequence[str],
        *,
        tracked: bool = True,
        trailing: bool = False,
        critical: bool = True,
        pid: int = 0,
        host: str = "",
        now: float = 0.0,
    ) -> None:
        self.name = name
        self.ident = ident
        self.prefixes = tuple(prefixes)
        self.bprefixes = tuple(p.encode() for p in self.prefixes)
        self.tracked = bool(tracked)
        self.trailing = bool(trailing)
        self.critical = bool(critical)
        self.pid = int(pid)
        self.host = host
        self.proc_start: str | None = None
        self.local = False  # on the bus's host: its pid is polled
        self.hosted = False  # runs inside the bus process (bus/hosted.py): deliveries are calls
        self.delivered = 0
        self.acknowledged = 0
        self.pending = 0
        self.published = 0
        self.last_hb = now
        self.joined_at = now
        self.admission = "open"  # how the run's policy admitted it (bus/policy.py)
        self.may_publish: tuple[bytes, ...] | None = None  # topic prefixes it may publish (None: any)
        self.granted: set[bytes] = set()  # topics it published and was allowed to (bus/router.py)
        self.refused = 0  # its PUBLISHes outside its rights

    @property
    def counted(self) -> bool:
        return self.tracked or self.trailing

    def may(self, topic: bytes) -> bool:
        """Whether the run's policy lets it publish `topic` (the prefix scan behind `granted`)."""
        return self.may_publish is None or matches(topic, self.may_publish)

    def info(self, now: float) -> dict[str, Any]:
        return {
            "tracked": self.tracked,
            "trailing": self.trailing,
            "critical": self.critical,
            "pid": self.pid,
            "delivered": self.delivered,
            "acknowledged": self.acknowledged,
            "pending": self.pending,
            "heartbeat_age_s": round(max(0.0, now - self.last_hb), 4),
            "published": self.published,
            "refused": self.refused,
            "prefixes": list(self.prefixes),
            "admission": self.admission,
        }


class LatencyRing:
    """Last `size` barrier latencies (seconds) in a fixed ring, plus the all-time max."""

    def __init__(self, size: int = 10_000) -> None:
        self._buf = [0.0] * size
        self._n = 0
        self.max = 0.0

    def add(self, seconds: float) -> None:
        self._buf[self._n % len(self._buf)] = seconds
        self._n += 1
        if seconds > self.max:
            self.max = seconds

    @property
    def count(self) -> int:
        return self._n

    def summary(self) -> dict[str, float]:
        k = min(self._n, len(self._buf))
        if not k:
            return {"p50_us": 0.0, "p99_us": 0.0, "max_us": 0.0}
        s = sorted(self._buf[:k])
        return {
            "p50_us": round(s[k // 2] * 1e6, 1),
            "p99_us": round(s[min(k - 1, (k * 99) // 100)] * 1e6, 1),
            "max_us": round(self.max * 1e6, 1),
        }


def join_error(name: object, prefixes: object) -> str | None:
    """Why a JOIN request is invalid in itself (independent of the bus's state), or None."""
    if not isinstance(name, str) or not name:
        return "member name must be a non-empty string"
    if not isinstance(prefixes, (list, tuple)):
        return "prefixes must be a list of strings"
    for p in prefixes:
        err = prefix_error(p)
        if err:
            return err
    return None


class Registry:
    """Joined members, the topic -> targets cache, pending counters and the failed state."""

    def __init__(self, max_trailing_backlog: int = 10_000) -> None:
        self.members: dict[str, Member] = {}
        self.by_ident: dict[Hashable, Member] = {}
        self.routes: dict[bytes, Route] = {}
        self.topic_stats: dict[bytes, list[int]] = {}
        self.pending_main = 0
        self.pending_trailing = 0
        self.max_trailing_backlog = int(max_trailing_backlog)
        self.failed: str | None = None
        self.failed_member: str | None = None
        self.lost: dict[str, str] = {}
        self.gone: dict[Hashable, str] = {}  # idents of members that left or were lost -> why
        self.malformed = 0
        self.refused = 0  # PUBLISH records outside their sender's rights (bus/policy.py)
        self.dropped = 0  # messages from members already removed
        self.barrier = LatencyRing()

    # --- membership ---
    def refuse(self, name: str, ident: Hashable) -> str | None:
        """Why this JOIN cannot be accepted now, or None."""
        if self.failed is not None:
            return f"bus is failed: {self.failed}"
        if ident in self.by_ident:
            return f"this connection already joined as {self.by_ident[ident].name!r}"
        if name in self.members:
            return f"a member named {name!r} is already joined"
        return None

    def add(self, m: Member) -> None:
        self.members[m.name] = m
        self.by_ident[m.ident] = m
        self.gone.pop(m.ident, None)
        self.routes.clear()

    def remove(self, m: Member, why: str) -> None:
        """Drop a member and its pending (LEAVE or loss); routes are rebuilt lazily."""
        if self.members.get(m.name) is not m:
            return
        del self.members[m.name]
        self.by_ident.pop(m.ident, None)
        self.gone[m.ident] = why
        self._uncount(m, m.pending)
        self.routes.clear()

    def lose(self, m: Member, reason: str) -> str | None:
        """Remove a member that died; returns the failure message if that fails the bus."""
        self.remove(m, f"lost: {reason}")
        self.lost[m.name] = reason
        if m.critical and self.failed is None:
            self.failed = f"member {m.name!r} lost: {reason}"
            self.failed_member = m.name
            return self.failed
        return None

    def fail(self, reason: str, member: str | None = None) -> None:
        if self.failed is None:
            self.failed = reason
            self.failed_member = member

    # --- routing ---
    def route(self, topic: bytes) -> Route | None:
        """Targets for a topic (cached); None when the topic is malformed."""
        r = self.routes.get(topic)
        if r is not None:
            return r
        if topic_error(topic) is not None:
            return None
        if len(self.routes) >= ROUTE_CACHE_MAX:
            self.routes.clear()
        targets = tuple(m for m in self.members.values() if matches(topic, m.bprefixes))
        st = self.topic_stats.get(topic)
        if st is None:
            st = self.topic_stats[topic] = [0, 0]
        n_main = sum(1 for m in targets if m.tracked and not m.trailing)
        n_trail = sum(1 for m in targets if m.trailing)
        r = (targets, st, n_main, n_trail)
        self.routes[topic] = r
        return r

    def _uncount(self, m: Member, n: int) -> None:
        if m.trailing:
            self.pending_trailing -= n
        elif m.tracked:
            self.pending_main -= n

    def ack(self, m: Member, n: int) -> str | None:
        """Apply an ACK of n deliveries; returns an error (and clamps) if n is not owed."""
        err = None
        if n > m.pending:
            err = f"{m.name!r} acked {n} but only {m.pending} pending"
            n = m.pending
        m.pending -= n
        m.acknowledged += n
        self._uncount(m, n)
        return err

    # --- idle ---
    def idle(self, include_trailing: bool) -> bool:
        """Nothing pending for counted members (trailing ones: none, or within the backlog bound)."""
        if self.pending_main:
            return False
        if include_trailing:
            return self.pending_trailing == 0
        return self.pending_trailing <= self.max_trailing_backlog

    def pending_by_member(self, include_trailing: bool = True) -> dict[str, int]:
        return {
            m.name: m.pending
            for m in self.members.values()
            if m.pending and (m.tracked or m.trailing) and (include_trailing or not m.trailing)
        }

    def timeout_message(self, timeout: float, include_trailing: bool, stall: bool = False) -> str:
        parts = []
        for m in self.members.values():
            if m.pending and (m.tracked or m.trailing):
                parts.append(f"{m.name}={m.pending}" + (" (trailing)" if m.trailing else ""))
        tail = ", ".join(parts) or "none (trailing backlog within bound)"
        extra = "" if include_trailing else f" (trailing backlog bound {self.max_trailing_backlog})"
        what = f"no progress for {timeout:g} s" if stall else f"bus not idle after {timeout:g} s"
        return f"{what}; pending: {tail}{extra}"

    # --- stats ---
    def snapshot(self, now: float, uptime: float, waiting: int, taps: int) -> dict[str, Any]:
        barrier: dict[str, Any] = {"rounds": self.barrier.count, **self.barrier.summary(), "waiting": waiting}
        return {
            "uptime_s": round(uptime, 3),
            "topics": {
                t.decode("utf-8", "replace"): {"messages": s[0], "bytes": s[1]}
                for t, s in self.topic_stats.items()
            },
            "members": {m.name: m.info(now) for m in self.members.values()},
            "barrier": barrier,
            "malformed": self.malformed,
            "refused": self.refused,
            "failed": self.failed,
            "lost_members": dict(self.lost),
            "taps": taps,
            "messages": sum(s[0] for s in self.topic_stats.values()),
            "dropped": self.dropped,
            "pending": {"tracked": self.pending_main, "trailing": self.pending_trailing},
        }


# --- process liveness (members on the bus's host) ---

def proc_start_time(pid: int) -> str | None:
    """A token that changes when `pid` is reused (Linux: starttime from /proc); None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
        return data[data.rindex(b")") + 2:].split()[19].decode()
    except (OSError, ValueError, IndexError):
        return None


def pid_exited(pid: int, start: str | None) -> bool:
    """True when the process is gone, a zombie, or the pid now belongs to another process."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return True
    except OSError:
        return _kill0_exited(pid)
    try:
        fields = data[data.rindex(b")") + 2:].split()
        if fields[0] in (b"Z", b"X"):
            return True
        return start is not None and fields[19].decode() != start
    except (ValueError, IndexError):
        return False


def _kill0_exited(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def monotonic() -> float:
    return time.monotonic()
