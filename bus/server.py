"""The bus process: one single-threaded zmq.Poller loop that routes, counts and answers barriers
(and runs the members it hosts: bus/hosted.py).

The protocol it speaks is documented (and checkable) in bus/protocol.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import msgpack
import zmq
from zmq import zmq_poll

from bus import protocol as P
from bus import run_contract as RC
from bus._fast import NOBLOCK, has_more_input, send2, send_parts
from bus.endpoints import ENDPOINTS_FILE, Endpoints, refuse_if_running
from bus.errors import BusError
from bus.hosted import Hosted, Link
from bus.log import RateLimitedLog
from bus.registry import Member, Registry, join_error, pid_exited, proc_start_time
from bus.security import ServerSecurity

TICK_S = 0.02  # housekeeping period: control/tap sockets, heartbeats, wait deadlines
PID_POLL_S = 0.08  # how often local members' pids are checked
DRAIN_BATCH = 512  # messages read per socket before the other sockets get a turn
IPC_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin
LOG_LINES_PER_S = 10
HOSTED_STALL_S = 5.0  # a hosted member's call that lasts this long is hung: the bus process ends

_HOST = socket.gethostname()


class _Waiter:
    __slots__ = ("ident", "rid", "include_trailing", "t0", "deadline", "timeout", "stall")

    def __init__(self, ident: bytes, rid: bytes, include_trailing: bool, t0: float, timeout: float,
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


class BusServer:
    """The bus. `run()` binds (unless `bind()` was called), writes endpoints.json and serves
    until a shutdown request, SIGTERM/SIGINT (main thread only) or `stop()`."""

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        transport: str = "ipc",
        heartbeat_timeout: float = 1.0,
        max_trailing_backlog: int = 10_000,
        *,
        tap_hwm: int = 1000,
        security: ServerSecurity | None = None,
        install_signal_handlers: bool = True,
        log: TextIO | None = None,
        shutdown_grace: float = 1.0,
    ) -> None:
        if transport not in ("ipc", "tcp"):
            raise ValueError(f"transport must be 'ipc' or 'tcp', not {transport!r}")
        self.security = security  # listen address / CURVE (bus/security.py); None: ipc or loopback
        self.run_dir = Path(run_dir)
        self.transport = transport
        self.heartbeat_timeout = float(heartbeat_timeout)
        self.tap_hwm = int(tap_hwm)
        self.install_signal_handlers = install_signal_handlers
        self.reg = Registry(max_trailing_backlog)
        self.endpoints: Endpoints | None = None
        self._ctx: zmq.Context[zmq.Socket[bytes]] | None = None
        self._waiters: list[_Waiter] = []
        self._tap_subs = 0
        self._stop_reason: str | None = None
        self._closing: str | None = None
        self._stopped_all = False
        self.shutdown_grace = float(shutdown_grace)
        self._started = time.monotonic()
        self._now = self._started
        self._short_dir: str | None = None
        self._log = RateLimitedLog(f"tickbus-bus[{os.getpid()}]", LOG_LINES_PER_S, log)
        self._next_pid_poll = 0.0
        self._last_tick = time.monotonic()
        self._hosting: list[Hosted] = []
        self._links: dict[Any, Link] = {}  # hosted members by ident
        self._hosted_ready = False  # some link has deliveries waiting
        self._in_hosted = False
        self._hosted_call: tuple[float, Link] | None = None  # (since, whose), watched by _Watchdog
        self._last_ack = time.monotonic()  # progress, for WAITs whose timeout is a stall bound
        self._failure_recorded = False

    def host(self, hosted: Hosted) -> None:
        """Run `hosted` as a member inside this process (bus/hosted.py); call before run()."""
        self._hosting.append(hosted)

    # ------------------------------------------------------------------ setup
    def bind(self) -> Endpoints:
        """Create the 0700 run dir, bind the three sockets, write endpoints.json atomically."""
        self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.run_dir, 0o700)
        refuse_if_running(self.run_dir / ENDPOINTS_FILE)
        transport = self.transport
        if transport == "ipc" and not zmq.has("ipc"):
            transport = "tcp"
        ctx = self._ctx = zmq.Context()
        self.members = ctx.socket(zmq.ROUTER)
        self.members.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.members.setsockopt(zmq.SNDHWM, 0)
        self.members.setsockopt(zmq.RCVHWM, 0)
        self.control = ctx.socket(zmq.ROUTER)
        self.tap = ctx.socket(zmq.XPUB)
        self.tap.setsockopt(zmq.SNDHWM, self.tap_hwm)
        self.tap.setsockopt(zmq.XPUB_VERBOSER, 1)  # every (un)subscribe reaches us: count taps
        sec = self.security
        if sec is not None:
            sec.start(ctx, self.run_dir, self._log)  # keys and authenticator before any bind
        eps: dict[str, Any] = {}
        for name, sock in (("members", self.members), ("control", self.control), ("tap", self.tap)):
            if sec is not None:
                sec.secure(name, sock)
            sock.bind((sec.address(name) if sec is not None else None) or self._endpoint_for(name, transport))
            eps[name] = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        if sec is not None:
            eps = sec.published(eps)  # with CURVE: writes access.key, adds the key fields
        self.endpoints = Endpoints(pid=os.getpid(), transport=transport, **eps)
        self.endpoints.save(self.run_dir / ENDPOINTS_FILE)
        return self.endpoints

    def _endpoint_for(self, name: str, transport: str) -> str:
        if transport == "tcp":
            return "tcp://127.0.0.1:*"
        path = str((self.run_dir / f"{name}.sock").absolute())
        if len(path) > IPC_PATH_MAX:  # too long for a unix socket: use a short private dir
            if self._short_dir is None:
                self._short_dir = tempfile.mkdtemp(prefix="tickbus-")  # mode 0700
            path = os.path.join(self._short_dir, f"{name}.sock")
        return f"ipc://{path}"

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the loop to exit (thread-safe; takes effect within one tick)."""
        self._stop_reason = reason

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        if self.endpoints is None:
            self.bind()
        if self._hosting:
            _Watchdog(self).start()
        self._start_hosted()
        old_handlers: dict[signal.Signals, Any] = {}
        if self.install_signal_handlers and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                old_handlers[sig] = signal.signal(sig, self._on_signal)
        # Only the members socket is waited on; control and tap are checked every tick. A
        # zmq_poll over three sockets costs ~6 extra syscalls per wake-up, and wake-ups are the
        # price of a barrier round (ARCHITECTURE.md section 8).
        members, control, tap = self.members, self.control, self.tap
        pollset = [(members, zmq.POLLIN)]
        next_tick = time.monotonic()
        try:
            while self._stop_reason is None:
                now = time.monotonic()
                if now >= next_tick:
                    self._now = now
                    if has_more_input(control):
                        self._drain_control()
                    if has_more_input(tap):
                        self._drain_tap()
                    self._housekeeping(now)
                    next_tick = now + TICK_S
                if zmq_poll(pollset, max(0, int((next_tick - now) * 1000.0) + 1)):
                    self._now = time.monotonic()
                    self._drain_members()
        finally:
            self._close()
            for sig, h in old_handlers.items():
                signal.signal(sig, h)

    def _on_signal(self, signum: int, _frame: object) -> None:
        self._stop_reason = f"signal {signal.Signals(signum).name}"

    # ------------------------------------------------------------------ members socket
    def _drain_members(self) -> None:
        sock = self.members
        recv = sock.recv_multipart
        forward = self._forward
        for _ in range(DRAIN_BATCH):
            try:
                frames = recv(NOBLOCK)
            except zmq.Again:
                return
            if len(frames) == 3 and frames[1]:  # one PUBLISH: the common case
                batch: dict[Any, tuple[Any, list[bytes]]] = {}
                forward(frames[0], frames[1], frames[2], batch)
                self._send_batch(batch)
            else:
                self._records(frames)
            if not has_more_input(sock):
                return

    def _records(self, frames: list[bytes]) -> None:
        """A message of several records: PUBLISH pairs and fixed-size commands, in order."""
        ident = frames[0]
        n = len(frames)
        if n < 2:
            self._malformed("empty member message")
            return
        batch: dict[Any, tuple[Any, list[bytes]]] = {}
        try:
            self._apply_records(ident, frames, batch)
        finally:
            if batch:
                self._send_batch(batch)

    def _apply_records(self, ident: bytes, frames: list[bytes], batch: dict[Any, tuple[Any, list[bytes]]]) -> None:
        n = len(frames)
        i = 1
        while i < n:
            f = frames[i]
            if f:
                if i + 1 >= n:
                    self._malformed(f"PUBLISH {f[:40]!r} without a payload frame")
                    return
                self._forward(ident, f, frames[i + 1], batch)
                i += 2
                continue
            if batch:  # deliveries go out before a command takes effect (an ACK, a LEAVE, ...)
                self._send_batch(batch)
            kind = frames[i + 1] if i + 1 < n else b""
            size = P.COMMAND_FRAMES.get(kind)
            if size is None:
                self._malformed(f"unknown message kind {kind[:20]!r} ({n - i} frames)")
                return
            if i + size > n:
                self._malformed(f"{P.KIND_NAMES[kind]} truncated: {n - i} of {size} frames")
                return
            if kind == P.ACK:
                self._on_ack(ident, frames[i + 2])
            elif kind == P.WAIT:
                self._on_wait(ident, frames[i + 2], frames[i + 3])
            elif kind == P.HEARTBEAT:
                self._on_heartbeat(ident, frames[i + 2])
            elif kind == P.JOIN:
                self._on_join(ident, frames[i + 2], frames[i + 3])
            elif kind == P.LEAVE:
                self._on_leave(ident, frames[i + 2])
            else:
                self._on_stats(ident, frames[i + 2])
            i += size

    def _forward(self, ident: bytes, topic: bytes, payload: bytes, batch: dict[Any, tuple[Any, list[bytes]]]) -> None:
        """Route one PUBLISH: a copy to every matching member, one pending per counted one. The
        copies are collected per member in `batch` and sent by _send_batch: the records of one
        member message that go to one member travel as one DELIVER message."""
        reg = self.reg
        route = reg.routes.get(topic)
        if route is None:
            route = reg.route(topic)
            if route is None:
                self._malformed(f"PUBLISH {topic[:60]!r}: {P.topic_error(topic)}")
                return
        sender = reg.by_ident.get(ident)
        if sender is not None:
            sender.published += 1
        elif ident in reg.gone:
            reg.dropped += 1  # a removed member's late output: it was told to stop
            return
        targets, st, n_main, n_trail = route
        st[0] += 1
        st[1] += len(payload)
        reg.pending_main += n_main
        reg.pending_trailing += n_trail
        if self._tap_subs > 0:
            send2(self.tap, topic, payload)  # XPUB never blocks: drops above the tap's HWM
        for m in targets:
            m.delivered += 1
            m.pending += 1
            queued = batch.get(m.ident)
            if queued is None:
                batch[m.ident] = (m, [m.ident, topic, payload])  # type: ignore[list-item]
            else:
                queued[1].extend((topic, payload))

    def _send_batch(self, batch: dict[Any, tuple[Any, list[bytes]]]) -> None:
        sock = self.members
        dead = []
        for m, parts in batch.values():
            if m.hosted:
                link = self._links[m.ident]
                link.inbox.extend((parts[k].decode(), parts[k + 1]) for k in range(1, len(parts), 2))
                self._hosted_ready = True
                continue
            try:
                send_parts(sock, parts)
            except zmq.ZMQError as exc:
                dead.append((m, exc.strerror))
        batch.clear()
        for m, why in dead:
            self._lose(m, f"connection closed ({why})")  # (once: _lose ignores a member already gone)
        if self._hosted_ready and not self._in_hosted:
            self._run_hosted()

    # ------------------------------------------------------------------ hosted members
    def _start_hosted(self) -> None:
        now = time.monotonic()
        for hosted in self._hosting:
            m = Member(hosted.name, b"\x00hosted:" + hosted.name.encode(), hosted.prefixes(),
                       pid=os.getpid(), host=_HOST, now=now)
            m.hosted = True
            self.reg.add(m)
            link = self._links[m.ident] = Link(self, m, hosted)
            self._call_hosted(link, hosted.start)
        self._hosting = []

    def _run_hosted(self) -> None:
        """Hand hosted members what was delivered to them, until none has anything left (their
        outputs may be delivered to one another). Runs right after the deliveries were routed:
        a hosted broker answers a strategy in the same wake-up of the bus."""
        self._in_hosted = True
        try:
            while self._hosted_ready:
                self._hosted_ready = False
                for link in list(self._links.values()):
                    if link.inbox and not link.stop_requested:
                        messages, link.inbox = link.inbox, []
                        link.received += len(messages)
                        self._call_hosted(link, link.hosted.handle, messages)
        finally:
            self._in_hosted = False

    def _call_hosted(self, link: Link, method: Any, *args: Any) -> None:
        outer = self._hosted_call
        self._hosted_call = (time.monotonic(), link)
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
                self._record_failure(RC.EXCEPTION, link.name, last, text)
            self._lose(link.member, f"raised {last}")
        finally:
            self._hosted_call = outer

    def _stop_hosted(self, link: Link) -> None:
        """A hosted member's STOP: it stops (and publishes what that emits), then it has left."""
        if not link.stop_requested:
            link.stop_requested = True
            self._call_hosted(link, link.hosted.stop)
        member: Member = link.member
        if self.reg.members.get(link.name) is member:
            self.reg.remove(member, "left")
            if self._waiters:
                self._check_waiters()

    def _reply(self, ident: bytes, kind: bytes, rid: bytes, status: bytes, body: bytes = b"") -> bool:
        try:
            send_parts(self.members, (ident, P.DELIM, kind, rid, status, body))
            return True
        except zmq.ZMQError:
            return False  # the requester's connection is gone; nothing to answer

    def _on_ack(self, ident: bytes, count: bytes) -> None:
        m = self.reg.by_ident.get(ident)
        if m is None:
            if ident not in self.reg.gone:  # else: a late ack from a member that left or was lost
                self._malformed("ACK from a connection that has not joined")
            return
        try:
            n = int(count)
        except ValueError:
            self._malformed(f"ACK count {count[:20]!r} is not an integer")
            return
        if n <= 0:
            self._malformed(f"ACK count {n} is not positive")
            return
        self._apply_ack(m, n)

    def _apply_ack(self, m: Member, n: int) -> None:
        """An ACK of n deliveries by a remote or a hosted member: progress, maybe idle."""
        err = self.reg.ack(m, n)
        self._last_ack = self._now
        if err:
            self._malformed(err)
        if self._waiters:
            self._check_waiters()

    def _on_wait(self, ident: bytes, rid: bytes, body: bytes) -> None:
        try:
            args = msgpack.unpackb(body)
            include_trailing, timeout = bool(args[0]), float(args[1])
            stall = len(args) > 2 and bool(args[2])
            if len(args) > 3:
                raise ValueError(f"{len(args)} fields")
        except Exception as exc:  # noqa: BLE001 - any decoding problem is malformed input
            self._malformed(f"WAIT body does not decode: {exc}")
            return
        reg = self.reg
        if self._closing is not None:
            self._reply(ident, P.WAIT_REPLY, rid, P.SHUTDOWN, msgpack.packb({"error": self._closing}))
        elif reg.failed is not None:
            self._reply(ident, P.WAIT_REPLY, rid, P.FAILED,
                        msgpack.packb({"error": reg.failed, "member": reg.failed_member}))
        elif reg.idle(include_trailing):
            reg.barrier.add(0.0)
            self._reply(ident, P.WAIT_REPLY, rid, P.OK)
        else:
            self._waiters.append(_Waiter(ident, rid, include_trailing, time.monotonic(), timeout, stall))

    def _check_waiters(self) -> None:
        reg = self.reg
        if reg.pending_main:
            return
        now = time.monotonic()
        keep = []
        for w in self._waiters:
            if reg.idle(w.include_trailing):
                reg.barrier.add(now - w.t0)
                self._reply(w.ident, P.WAIT_REPLY, w.rid, P.OK)
            else:
                keep.append(w)
        self._waiters = keep

    def _fail_waiters(self, status: bytes, error: str, member: str | None = None) -> None:
        body = msgpack.packb({"error": error, "member": member})
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            self._reply(w.ident, P.WAIT_REPLY, w.rid, status, body)

    def _on_heartbeat(self, ident: bytes, member_rid: bytes) -> None:
        reg = self.reg
        m = reg.by_ident.get(member_rid)
        if m is not None:
            m.last_hb = self._now
            status = P.OK
        elif reg.gone.get(member_rid, "").startswith("lost"):
            status = P.LOST
        else:
            status = P.UNKNOWN
        try:
            send_parts(self.members, (ident, P.DELIM, P.HEARTBEAT_REPLY, status))
        except zmq.ZMQError:
            pass

    def _on_join(self, ident: bytes, rid: bytes, body: bytes) -> None:
        try:
            req = msgpack.unpackb(body)
            if not isinstance(req, dict):
                raise ValueError("not a map")
            name, prefixes = req.get("name"), req.get("prefixes")
        except Exception as exc:  # noqa: BLE001
            self._malformed(f"JOIN body does not decode: {exc}")
            self._reply(ident, P.JOIN_REPLY, rid, P.ERR, msgpack.packb({"error": f"bad JOIN body: {exc}"}))
            return
        err = join_error(name, prefixes)
        if err is None:
            assert isinstance(name, str) and isinstance(prefixes, (list, tuple))  # join_error checked
            err = self._closing or self.reg.refuse(name, ident)
        if err is not None:
            self._log(f"JOIN {name!r} refused: {err}")
            self._reply(ident, P.JOIN_REPLY, rid, P.ERR, msgpack.packb({"error": err}))
            return
        try:
            pid = int(req.get("pid") or 0)
        except (TypeError, ValueError):
            pid = 0
        host = str(req.get("host") or "")
        assert isinstance(name, str) and isinstance(prefixes, (list, tuple))
        m = Member(
            name, ident, prefixes,
            tracked=bool(req.get("tracked", True)), trailing=bool(req.get("trailing", False)),
            critical=bool(req.get("critical", True)), pid=pid, host=host, now=time.monotonic(),
        )
        if pid and host == _HOST:
            m.local = True
            m.proc_start = proc_start_time(pid)
        self.reg.add(m)
        self._reply(ident, P.JOIN_REPLY, rid, P.OK,
                    msgpack.packb({"bus_pid": os.getpid(), "heartbeat_timeout": self.heartbeat_timeout}))

    def _on_leave(self, ident: bytes, rid: bytes) -> None:
        m = self.reg.by_ident.get(ident)
        if m is not None:
            self.reg.remove(m, "left")
            if self._waiters:
                self._check_waiters()
        self._reply(ident, P.LEAVE_REPLY, rid, P.OK)

    def _on_stats(self, ident: bytes, rid: bytes) -> None:
        self._reply(ident, P.STATS_REPLY, rid, P.OK, msgpack.packb(self.stats()))

    # ------------------------------------------------------------------ control socket
    def _drain_control(self) -> None:
        for _ in range(64):
            try:
                frames = self.control.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            ident = frames[0]
            if len(frames) not in (3, 4) or frames[1] != P.DELIM:
                self._malformed(f"control request with {len(frames) - 1} frames")
                continue
            cmd = frames[2]
            args: dict[str, Any] = {}
            if len(frames) == 4 and frames[3]:
                try:
                    args = msgpack.unpackb(frames[3])
                    if not isinstance(args, dict):
                        raise ValueError("arguments are not a map")
                except Exception as exc:  # noqa: BLE001
                    self._malformed(f"control {cmd[:20]!r}: arguments do not decode: {exc}")
                    self._control_reply(ident, {"ok": False, "error": f"bad arguments: {exc}"})
                    continue
            reply = self._control(cmd, args)
            if "id" in args:
                reply["id"] = args["id"]
            self._control_reply(ident, reply)
            if cmd == P.CTL_SHUTDOWN and reply.get("ok"):
                self._stop_reason = "shutdown requested"
                return

    def _control(self, cmd: bytes, args: dict[str, Any]) -> dict[str, Any]:
        if cmd == P.CTL_STATS:
            return {"ok": True, "stats": self.stats()}
        if cmd == P.CTL_PING:
            return {"ok": True, "pid": os.getpid()}
        if cmd == P.CTL_MEMBERS:
            return {"ok": True, "members": self.stats()["members"]}
        if cmd == P.CTL_STOP_MEMBER:
            m = self.reg.members.get(args.get("name"))  # type: ignore[arg-type]
            if m is None:
                return {"ok": False, "error": f"no member named {args.get('name')!r}"}
            self._send_stop(m, P.STOP_REQUESTED)
            return {"ok": True}
        if cmd == P.CTL_FAIL:
            reason = str(args.get("reason") or "failed by control request")
            self._log(f"failed by control request: {reason}")
            self._record_failure(RC.REQUESTED, None, reason)
            self.reg.fail(reason)
            self._fail_waiters(P.FAILED, self.reg.failed or reason)
            return {"ok": True}
        if cmd == P.CTL_SHUTDOWN:
            self._stop_all()  # STOP first, then the reply, then the loop exits
            return {"ok": True}
        self._malformed(f"unknown control command {cmd[:30]!r}")
        return {"ok": False, "error": f"unknown command {cmd[:30]!r}"}

    def _control_reply(self, ident: bytes, reply: dict[str, Any]) -> None:
        try:
            self.control.send_multipart((ident, P.DELIM, msgpack.packb(reply)))
        except zmq.ZMQError:
            pass

    # ------------------------------------------------------------------ tap socket
    def _drain_tap(self) -> None:
        for _ in range(256):
            try:
                msg = self.tap.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if msg and msg[0] == P.TAP_SUBSCRIBE:
                self._tap_subs += 1
            elif msg and msg[0] == P.TAP_UNSUBSCRIBE:
                self._tap_subs = max(0, self._tap_subs - 1)
            else:
                self._malformed(f"tap socket got a non-subscription message {msg[:40]!r}")

    # ------------------------------------------------------------------ liveness
    def _housekeeping(self, now: float) -> None:
        reg = self.reg
        limit = self.heartbeat_timeout
        # If this loop itself did not run for a while (starved, stopped), the heartbeats are
        # queued unread: read them and judge at the next tick instead of declaring everyone lost.
        stalled = now - self._last_tick > max(0.25, limit / 2)
        self._last_tick = now
        for link in list(self._links.values()):
            link.member.last_hb = now
            if not link.stop_requested:
                self._call_hosted(link, link.hosted.tick)
        if stalled:
            if has_more_input(self.members):
                self._drain_members()
        else:
            for m in list(reg.members.values()):
                age = now - m.last_hb
                if age > limit:
                    self._lose(m, f"no heartbeat for {age:.1f} s")
        if now >= self._next_pid_poll:
            self._next_pid_poll = now + PID_POLL_S
            for m in list(reg.members.values()):
                if m.local and pid_exited(m.pid, m.proc_start):
                    self._lose(m, f"process {m.pid} exited")
        if self._waiters:
            last_ack = self._last_ack
            expired = [w for w in self._waiters if w.expired(now, last_ack)]
            if expired:
                self._waiters = [w for w in self._waiters if not w.expired(now, last_ack)]
                for w in expired:
                    body = msgpack.packb({
                        "error": reg.timeout_message(w.timeout, w.include_trailing, w.stall),
                        "pending": reg.pending_by_member(w.include_trailing),
                    })
                    self._reply(w.ident, P.WAIT_REPLY, w.rid, P.TIMEOUT, body)
        self._log.tick()

    def _lose(self, m: Member, reason: str) -> None:
        if self.reg.members.get(m.name) is not m:
            return
        failure = self.reg.lose(m, reason)
        self._log(f"member {m.name!r} lost: {reason}" + ("" if failure else " (not critical: removed)"))
        self._send_stop(m, f"{P.STOP_LOST}{reason}")
        if failure:
            self._record_failure(RC.LOST, m.name, f"lost: {reason}")
            self._fail_waiters(P.FAILED, failure, m.name)
        elif self._waiters:
            self._check_waiters()

    def _record_failure(self, kind: str, member: str | None, detail: str, text: str | None = None) -> None:
        """The bus's failure record (bus/run_contract.py): the first failure it saw, once."""
        if self._failure_recorded:
            return
        self._failure_recorded = True
        try:
            RC.FailureRecord.now("bus", kind, member, detail, text).write(self.run_dir)
        except OSError as exc:
            self._log(f"cannot write the failure record: {exc}")

    def _send_stop(self, m: Member, reason: str) -> None:
        if m.hosted:
            self._stop_hosted(self._links[m.ident])
            return
        try:
            send_parts(self.members, (m.ident, P.DELIM, P.STOP, reason.encode()))  # type: ignore[arg-type]
        except zmq.ZMQError:
            pass

    # ------------------------------------------------------------------ stats, logging, exit
    def stats(self) -> dict[str, Any]:
        now = time.monotonic()
        s = self.reg.snapshot(now, now - self._started, len(self._waiters), self._tap_subs)
        s["pid"] = os.getpid()
        s["transport"] = self.endpoints.transport if self.endpoints else self.transport
        return s

    def _malformed(self, reason: str) -> None:
        self.reg.malformed += 1
        self._log(f"malformed frame dropped: {reason}")

    def _stop_all(self) -> None:
        if not self._stopped_all:
            self._stopped_all = True
            for m in list(self.reg.members.values()):
                self._send_stop(m, P.STOP_SHUTDOWN)

    def _linger_for_leaves(self) -> None:
        """After STOP, keep answering for up to shutdown_grace so members can leave() (and
        flush their last outputs) instead of waiting for a bus that is already gone."""
        deadline = time.monotonic() + self.shutdown_grace
        pollset = [(self.members, zmq.POLLIN)]
        next_pid_poll = 0.0
        while self.reg.members and time.monotonic() < deadline:
            if zmq_poll(pollset, 20):
                self._now = time.monotonic()
                self._drain_members()
            now = time.monotonic()
            if now >= next_pid_poll:
                next_pid_poll = now + PID_POLL_S
                for m in list(self.reg.members.values()):
                    if m.local and pid_exited(m.pid, m.proc_start):
                        self.reg.remove(m, "exited during shutdown")

    def _close(self) -> None:
        reason = self._stop_reason or "bus exiting"
        self._log(f"shutting down ({reason})")
        self._closing = f"bus shut down ({reason})"
        self._stop_all()
        self._fail_waiters(P.SHUTDOWN, self._closing)
        self._linger_for_leaves()
        if self.security is not None:
            self.security.stop()
        self.members.close(linger=1000)
        self.control.close(linger=200)
        self.tap.close(linger=0)
        if self._ctx is not None:
            self._ctx.term()
        ep = self.run_dir / ENDPOINTS_FILE
        try:
            if Endpoints.load(ep).pid == os.getpid():
                ep.unlink()
        except (OSError, ValueError, KeyError):
            pass
        if self.endpoints and self.endpoints.transport == "ipc":
            for addr in (self.endpoints.members, self.endpoints.control, self.endpoints.tap):
                try:
                    os.unlink(addr[len("ipc://"):])
                except OSError:
                    pass
        if self._short_dir:
            shutil.rmtree(self._short_dir, ignore_errors=True)
        self._log.flush()


class _Watchdog(threading.Thread):
    """A hosted member stuck in a call blocks the bus loop itself: nothing can be answered, and
    the socket belongs to that loop. So after HOSTED_STALL_S in one call this thread leaves the
    member's stack where its tracebacks go (Hosted.failed) and ends the process: the members
    then lose the bus, and the run's owner finds the reason."""

    def __init__(self, server: BusServer) -> None:
        super().__init__(name="tickbus-hosted-watchdog", daemon=True)
        self.server = server
        self.main_ident = threading.get_ident()  # the thread running the bus loop (it starts us)

    def run(self) -> None:
        server = self.server
        while server._stop_reason is None:
            time.sleep(0.25)
            call = server._hosted_call
            if call is None or time.monotonic() - call[0] < HOSTED_STALL_S:
                continue
            since, link = call
            frame = sys._current_frames().get(self.main_ident)
            stack = "".join(traceback.format_stack(frame)) if frame is not None else "(stack unavailable)\n"
            detail = (f"hung: no return from a call for {time.monotonic() - since:.1f} s "
                      "(its process, the bus, is ended)")
            server._record_failure(RC.HUNG, link.name, detail, f"where it is:\n{stack}")
            server._log(f"member {link.name!r} hung in a call for {HOSTED_STALL_S:g} s: ending the bus process")
            server._log.flush()
            os._exit(RC.EXIT_FAILED)
