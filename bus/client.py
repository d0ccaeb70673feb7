"""BusClient: the one class every member uses to talk to the bus (protocol: bus/protocol.py).

One DEALER carries everything ordered (publish, ack, join, leave, wait-until-idle, stats); a
background thread with its own DEALER heartbeats the bus so a slow-but-alive handler is never
declared dead and a dead bus is noticed (BusLost). Not thread-safe: use a client from one thread.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

import msgpack
import zmq

from bus import protocol as P
from bus._fast import NOBLOCK, has_more_input, send2, send_parts
from bus.endpoints import Endpoints, coerce
from bus.errors import BusError, BusLost, IdleTimeout, JoinError, MemberLost
from bus.log import RateLimitedLog
from bus.security import client_configurer

MAX_BATCH = 256  # queued publishes that force a flush
POLL_SLICE_S = 0.2  # longest blocking poll between checks that the bus is still answering
REPLY_GRACE_S = 2.0  # a WAIT reply may arrive this much after the wait's own timeout
_BLOCKED_SIGNALS = {
    getattr(signal, n) for n in ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2",
                                 "SIGALRM", "SIGCHLD") if hasattr(signal, n)
}


class _Heartbeat(threading.Thread):
    """Heartbeats the bus every `interval` on its own socket and records the bus's replies."""

    def __init__(self, ctx: zmq.Context[Any], endpoint: str, member_rid: bytes, interval: float,
                 secure: Callable[[zmq.Socket[Any]], None] | None = None) -> None:
        super().__init__(name="tickbus-heartbeat", daemon=True)
        self._ctx = ctx
        self._endpoint = endpoint
        self._secure = secure  # CURVE keys, when the bus requires them (bus/security.py)
        self._msg = (P.DELIM, P.HEARTBEAT, member_rid)
        self.interval = interval
        self.last_reply = time.monotonic()
        self.status = b""
        self.replied = threading.Event()
        self._halt = threading.Event()
        self._wake_r, self._wake_w = os.pipe()  # halt() ends the poll at once: close() need not wait
        self._wake_lock = threading.Lock()

    def halt(self) -> None:
        self._halt.set()
        with self._wake_lock:
            if self._wake_w >= 0:
                os.write(self._wake_w, b"x")

    def release_wake(self) -> None:
        with self._wake_lock:
            if self._wake_w >= 0:
                os.close(self._wake_r)
                os.close(self._wake_w)
                self._wake_r = self._wake_w = -1

    def run(self) -> None:
        if hasattr(signal, "pthread_sigmask"):  # signals belong to the main thread's poll
            signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED_SIGNALS)
        s = self._ctx.socket(zmq.DEALER)
        if self._secure is not None:
            self._secure(s)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.SNDHWM, 4)
        s.connect(self._endpoint)
        poller = zmq.Poller()
        poller.register(s, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        try:
            while not self._halt.is_set():
                try:
                    s.send_multipart(self._msg, zmq.NOBLOCK)
                except zmq.Again:
                    pass
                end = time.monotonic() + self.interval
                while not self._halt.is_set():
                    left = end - time.monotonic()
                    if left <= 0:
                        break
                    if dict(poller.poll(int(left * 1000.0) + 1)).get(s):
                        self._read(s)
        except zmq.ZMQError:
            pass  # context terminated under us: the client is closing
        finally:
            s.close(0)
            self.release_wake()

    def _read(self, s: zmq.Socket[Any]) -> None:
        while True:
            try:
                frames = s.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) == 3 and frames[1] == P.HEARTBEAT_REPLY:
                self.status = frames[2]
                self.last_reply = time.monotonic()
                self.replied.set()


class BusClient:
    """A member's connection to the bus (see the module docstring and bus/protocol.py)."""

    def __init__(
        self,
        endpoints: Endpoints | str | os.PathLike[str],
        name: str,
        *,
        heartbeat_interval: float = 0.1,
        bus_silence_timeout: float = 5.0,
    ) -> None:
        self.endpoints = coerce(endpoints)
        self.name = name
        self.stop_requested = False
        self.stop_reason: str | None = None
        self.malformed = 0  # deliveries/replies that did not decode (counted, dropped)
        self.stale_replies = 0  # replies to requests we had given up on
        self.discarded = 0  # deliveries that arrived after STOP
        self.bus_silence_timeout = float(bus_silence_timeout)
        self._log = RateLimitedLog(f"tickbus-client[{name}]")
        self._ctx: zmq.Context[Any] = zmq.Context()
        self._rid = P.MEMBER_ID_PREFIX + os.urandom(15)
        sock = self._sock = self._ctx.socket(zmq.DEALER)
        secure = client_configurer(self.endpoints)  # CURVE keys, when the bus requires them
        secure(sock)
        sock.setsockopt(zmq.ROUTING_ID, self._rid)
        sock.setsockopt(zmq.SNDHWM, 0)  # tracked traffic is never dropped
        sock.setsockopt(zmq.RCVHWM, 0)
        sock.connect(self.endpoints.members)
        self._rcvtimeo = -1
        self._inbox: deque[tuple[str, bytes]] = deque()
        self._out: list[bytes] = []  # queued PUBLISH records (frames), see publish()
        self._unacked = 0
        self._req = 0
        self._awaiting: tuple[bytes, bytes] | None = None
        self._async_waits: set[bytes] = set()
        self.idle_replies: deque[tuple[bytes, bytes, bytes]] = deque()  # (rid, status, body)
        self._reply: list[bytes] | None = None
        self.joined = False
        self.critical = False  # once joined: whether losing us fails the run (bus/policy.py)
        self.left = False
        self._closed = False
        self._bus_lost = False
        self._hb = _Heartbeat(self._ctx, self.endpoints.members, self._rid, heartbeat_interval, secure)
        self._hb.start()

    # ------------------------------------------------------------------ membership
    def join(
        self,
        prefixes: Sequence[str],
        *,
        tracked: bool = True,
        trailing: bool = False,
        critical: bool = True,
        timeout: float = 10.0,
    ) -> None:
        """Handshake: returns only once the bus routes (and counts) matching messages to us.
        `critical` asks that losing us fail the run; the run's policy may grant less (then
        `self.critical` is False: bus/policy.py)."""
        if isinstance(prefixes, str):
            raise TypeError("prefixes must be a sequence of strings, not one string")
        prefixes = list(prefixes)
        for p in prefixes:
            err = P.prefix_error(p)
            if err:
                raise JoinError(err)
        if self.joined:
            raise JoinError(f"{self.name!r} has already joined")
        body = msgpack.packb({
            "name": self.name, "prefixes": prefixes, "tracked": tracked, "trailing": trailing,
            "critical": critical, "pid": os.getpid(), "host": socket.gethostname(),
        })
        rid = self._next_rid()
        self._command(P.DELIM, P.JOIN, rid, body)
        frames = self._await(P.JOIN_REPLY, rid, timeout)
        if frames is None:
            self._command(P.DELIM, P.LEAVE, self._next_rid())  # undo it, should it land later
            raise JoinError(f"{self.name!r}: the bus did not answer JOIN within {timeout:g} s")
        info = self._body(frames[4])
        if frames[3] != P.OK:
            raise JoinError(f"join of {self.name!r} refused: {info.get('error', '?')}")
        self.joined = True
        self.critical = bool(info.get("critical", critical))  # what the run's policy granted
        hb_timeout = info.get("heartbeat_timeout")
        if isinstance(hb_timeout, (int, float)) and hb_timeout > 0:
            self._hb.interval = min(self._hb.interval, hb_timeout / 4.0)

    def leave(self) -> None:
        """Graceful exit: the bus forwards what we published, then drops our pending, no error."""
        if self._closed:
            return
        if not self.joined or self.left:
            self.flush()
            self.left = True
            return
        rid = self._next_rid()
        self._command(P.DELIM, P.LEAVE, rid)
        # A bus whose heartbeat replies stopped is gone (or frozen): what we sent is on its way,
        # nobody will answer. After a shutdown STOP the bus lingers only briefly for leaves.
        silent = time.monotonic() - self._hb.last_reply > max(0.5, 3 * self._hb.interval)
        if not silent:
            try:
                wait = 0.5 if self.stop_reason == P.STOP_SHUTDOWN else 2.0
                self._await(P.LEAVE_REPLY, rid, min(wait, self.bus_silence_timeout))
            except BusLost:
                pass
        self.left = True
        self.joined = False

    # ------------------------------------------------------------------ data
    def publish(self, topic: str, payload: bytes) -> None:
        """Send one message. While deliveries returned by recv() are unacknowledged (i.e. while
        handling them) the message is held and sent, in order, together with the ACK (or the next
        recv(), wait_until_idle(), flush(), leave(), stats(), close(), or once MAX_BATCH are held):
        a member's outputs and its ack then reach the bus as one ZeroMQ message, one wake-up of
        the bus instead of one per message. Otherwise it is sent at once."""
        t = P.topic_bytes(topic)
        out = self._out
        out.append(t)
        out.append(payload)
        if not self._unacked or len(out) >= 2 * MAX_BATCH:
            self.flush()

    def flush(self) -> None:
        """Send everything queued by publish() now (one multi-record message)."""
        out = self._out
        if out:
            self._out = []
            if len(out) == 2:
                send2(self._sock, out[0], out[1])
            else:
                send_parts(self._sock, out)

    def _command(self, *frames: bytes) -> None:
        """Append a command record to the queued publishes and send them all, in order."""
        out = self._out
        self._out = []
        out.extend(frames)
        send_parts(self._sock, out)

    def recv(self, timeout: float) -> list[tuple[str, bytes]]:
        """Wait up to `timeout` s; return every delivery available now (>= 1), or [] on timeout
        or once the bus asked us to stop (stop_requested). Raises BusLost if the bus went silent."""
        if self._out:
            self.flush()
        inbox = self._inbox
        if inbox:
            self._drain()
        elif self.stop_requested or self.idle_replies:
            return []
        else:
            deadline = time.monotonic() + timeout
            wait_input = self._wait_input
            while True:
                left = deadline - time.monotonic()
                if wait_input(min(left, POLL_SLICE_S) if left > 0 else 0.0):
                    if inbox:
                        break
                    if self.idle_replies:
                        return []
                else:
                    self._check_bus()
                if self.stop_requested or left <= 0:
                    return []
        out = list(inbox)
        inbox.clear()
        self._unacked += len(out)
        return out

    def ack(self, count: int | None = None) -> None:
        """Acknowledge every delivery recv() returned and not yet acked (or the first `count` of
        them: the rest stay pending), in one ACK.

        Call it after publishing everything those deliveries caused (invariant 3)."""
        n = self._unacked if count is None else min(count, self._unacked)
        if n > 0:
            self._unacked -= n
            self._command(P.DELIM, P.ACK, b"%d" % n)
        elif self._out:
            self.flush()

    def request_idle(self, timeout: float, *, include_trailing: bool = False, ack: int = 0,
                     stall: bool = False) -> bytes:
        """wait_until_idle without blocking: the answer arrives in `idle_replies` (recv() returns
        early for it; take_idle_reply reads it), so the caller keeps receiving meanwhile. Returns
        the request id. `ack` first acknowledges that many deliveries, in the same ZeroMQ message
        (one bus wake-up, not two). With `stall` the bus answers "timeout" only once no member has
        acknowledged anything for `timeout` s: a bound on being stuck, not on the length of the
        wait (the datafeed's barrier, components/runtime.py)."""
        rid = self._next_rid()
        self._async_waits.add(rid)
        frames: list[bytes] = []
        n = min(ack, self._unacked)
        if n > 0:
            self._unacked -= n
            frames += [P.DELIM, P.ACK, b"%d" % n]
        args = (include_trailing, float(timeout), True) if stall else (include_trailing, float(timeout))
        frames += [P.DELIM, P.WAIT, rid, msgpack.packb(args)]
        self._command(*frames)
        return rid

    def take_idle_reply(self, rid: bytes) -> bool:
        """True once the request `rid` was answered idle (older answers are dropped); raises
        like wait_until_idle when it was answered with an error."""
        found = False
        while self.idle_replies:
            got, status, body = self.idle_replies.popleft()
            self._async_waits.discard(got)
            if got != rid:
                continue
            if status != P.OK:
                self._raise_wait_error(status, body)
            found = True
        return found

    @property
    def unacked(self) -> int:
        return self._unacked

    # ------------------------------------------------------------------ barrier, stats
    def wait_until_idle(self, timeout: float, *, include_trailing: bool = True) -> None:
        """Return once everything we published before this call, and everything it caused
        transitively, has been processed by every counted member (protocol.py, invariant 4)."""
        rid = self._next_rid()
        self._command(P.DELIM, P.WAIT, rid, msgpack.packb((include_trailing, float(timeout))))
        frames = self._await(P.WAIT_REPLY, rid, timeout + REPLY_GRACE_S)
        if frames is None:
            raise IdleTimeout(f"the bus did not answer wait_until_idle within {timeout + REPLY_GRACE_S:g} s")
        status = frames[3]
        if status == P.OK:
            return
        self._raise_wait_error(status, frames[4])

    def _raise_wait_error(self, status: bytes, raw: bytes) -> None:
        body = self._body(raw)
        error = str(body.get("error", status.decode(errors="replace")))
        if status == P.FAILED:
            raise MemberLost(error, member=body.get("member"), reason=error)
        if status == P.TIMEOUT:
            raise IdleTimeout(error, body.get("pending"))
        if status == P.SHUTDOWN:
            raise BusLost(error)
        raise BusError(f"unexpected wait reply {status!r}: {error}")

    def stats(self, timeout: float = 5.0) -> dict[str, Any]:
        rid = self._next_rid()
        self._command(P.DELIM, P.STATS, rid)
        frames = self._await(P.STATS_REPLY, rid, timeout)
        if frames is None:
            raise BusLost(f"the bus did not answer a stats request within {timeout:g} s")
        return self._body(frames[4])

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Stop the heartbeat thread and close the sockets (idempotent). Closing without leave()
        is how a crashed member looks to the bus: it will be declared lost."""
        if self._closed:
            return
        self._closed = True
        if self._out and not self._bus_lost:
            self.flush()
        self._hb.halt()
        self._hb.join(2.0)
        if not self._hb.is_alive():
            self._hb.release_wake()  # (a thread never started leaves them open)
        self._sock.close(linger=0 if (self.left or self._bus_lost) else 1000)
        if not self._hb.is_alive():
            self._ctx.term()
        self._log.flush()

    def __enter__(self) -> "BusClient":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """On a clean exit leave gracefully; on an exception just close (the bus notices)."""
        try:
            if exc_type is None and self.joined:
                self.leave()
        finally:
            self.close()

    # ------------------------------------------------------------------ internals
    def _next_rid(self) -> bytes:
        self._req += 1
        return b"%d" % self._req

    def _drain(self) -> None:
        """Read everything available now: deliveries to the inbox, replies/STOP handled."""
        sock = self._sock
        recv = sock.recv_multipart
        while True:
            try:
                frames = recv(NOBLOCK)
            except zmq.Again:
                return
            self._take(frames)
            if not has_more_input(sock):
                return

    def _take(self, frames: list[bytes]) -> None:
        n = len(frames)
        if frames[0] and n % 2 == 0:  # one or more DELIVER records [t1, p1, t2, p2, ...]
            if self.stop_requested:
                self.discarded += n // 2
                return
            bad = None
            for k in range(0, n, 2):
                try:
                    self._inbox.append((frames[k].decode(), frames[k + 1]))
                except UnicodeDecodeError:
                    bad = bad or f"delivery topic {frames[k][:40]!r} is not UTF-8"
            if bad:
                self._bad(bad)  # once per message, however many of its records are bad
        else:
            self._on_command(frames)

    def _wait_input(self, seconds: float) -> bool:
        """Block up to `seconds` for input, then read everything available; False on timeout.
        A blocking recv (RCVTIMEO) costs fewer syscalls per wake-up than zmq_poll + recv."""
        ms = max(0, int(seconds * 1000.0))
        sock = self._sock
        if ms != self._rcvtimeo:
            sock.setsockopt(zmq.RCVTIMEO, ms)
            self._rcvtimeo = ms
        try:
            frames = sock.recv_multipart()
        except zmq.Again:
            return False
        self._take(frames)
        if has_more_input(sock):
            self._drain()
        return True

    def _on_command(self, frames: list[bytes]) -> None:
        if len(frames) >= 2 and not frames[0]:
            kind = frames[1]
            if kind in P.REPLY_KINDS and len(frames) == 5:
                if kind == P.WAIT_REPLY and frames[2] in self._async_waits:
                    self.idle_replies.append((frames[2], frames[3], frames[4]))
                elif self._awaiting == (kind, frames[2]):
                    self._reply = frames
                else:
                    self.stale_replies += 1
                return
            if kind == P.STOP and len(frames) == 3:
                self._set_stop(frames[2].decode("utf-8", "replace"))
                return
            self._bad(f"unknown message kind {kind[:20]!r} with {len(frames)} frames")
            return
        self._bad(f"message with {len(frames)} frames, first {frames[0][:40]!r}")

    def _bad(self, reason: str) -> None:
        self.malformed += 1
        self._log(f"malformed message dropped: {reason}")

    def _set_stop(self, reason: str) -> None:
        if not self.stop_requested:
            self.stop_requested = True
            self.stop_reason = reason

    def _await(self, kind: bytes, rid: bytes, timeout: float) -> list[bytes] | None:
        """Wait for the reply (kind, rid), buffering deliveries that arrive meanwhile."""
        self._awaiting = (kind, rid)
        self._reply = None
        deadline = time.monotonic() + timeout
        wait_input = self._wait_input
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    wait_input(0.0)
                    return self._reply
                if wait_input(min(left, POLL_SLICE_S)):
                    if self._reply is not None:
                        return self._reply
                else:
                    self._check_bus()
        finally:
            self._awaiting = None
            self._reply = None

    def _check_bus(self) -> None:
        """Raise BusLost if the bus has not answered heartbeats for bus_silence_timeout."""
        hb = self._hb
        if hb.status == P.LOST:
            self._set_stop("the bus removed this member")
        if time.monotonic() - hb.last_reply <= self.bus_silence_timeout:
            return
        # We may just have been stopped (SIGSTOP) ourselves: give the heartbeat thread a chance.
        hb.replied.clear()
        if hb.replied.wait(min(1.0, 3 * hb.interval + 0.2)):
            return
        self._bus_lost = True
        raise BusLost(
            f"{self.name!r}: bus at {self.endpoints.members} (pid {self.endpoints.pid}) has not "
            f"answered heartbeats for {time.monotonic() - hb.last_reply:.1f} s"
        )

    def _body(self, raw: bytes) -> dict[str, Any]:
        if not raw:
            return {}
        try:
            body = msgpack.unpackb(raw)
        except Exception:  # noqa: BLE001
            self._bad("reply body does not decode")
            return {}
        return body if isinstance(body, dict) else {}
