"""The bus process: one single-threaded loop over the members socket that routes, counts and
answers barriers. The protocol it speaks is written down (and checkable) in bus/protocol.py.

BusServer is the loop and what ties the pieces together; each piece has one job:

  sockets.BusSockets        binding the three sockets, endpoints.json, removing them at exit
  router.Router             every PUBLISH to its subscribers, counted; copies to taps
  waits.Waits               the answers to WAIT (the idle barrier)
  liveness.Liveness         heartbeats and pids: which members are gone
  control_service           the control endpoint's requests
  hosted.HostedMembers      members run inside this process

What stays here: reading member messages record by record, joins and leaves, what losing a
member or failing the bus means (its failure record, STOP, the answers to every wait) and the
order of the shutdown.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any, TextIO

import msgpack
import zmq
from zmq import zmq_poll

from bus import protocol as P
from bus import run_contract as RC
from bus._fast import NOBLOCK, has_more_input, send_parts
from bus.control_service import ControlService
from bus.endpoints import Endpoints
from bus.hosted import Hosted, HostedMembers
from bus.liveness import PID_POLL_S, Liveness
from bus.log import RateLimitedLog
from bus.policy import Admission, Policy
from bus.registry import Member, Registry, join_error, proc_start_time
from bus.router import Batch, Router
from bus.security import ServerSecurity
from bus.sockets import BusSockets
from bus.waits import Waits

TICK_S = 0.02  # housekeeping period: control/tap sockets, heartbeats, wait deadlines
DRAIN_BATCH = 512  # messages read per socket before the other sockets get a turn
LOG_LINES_PER_S = 10

_HOST = socket.gethostname()


class BusServer:
    """The bus. `run()` binds (unless `bind()` was called), writes endpoints.json and serves
    until a shutdown request, SIGTERM/SIGINT (main thread only) or `stop()`."""

    router: Router
    waits: Waits
    liveness: Liveness
    control: ControlService

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
        policy: Policy | None = None,
    ) -> None:
        if transport not in ("ipc", "tcp"):
            raise ValueError(f"transport must be 'ipc' or 'tcp', not {transport!r}")
        self.run_dir = Path(run_dir)
        self.transport = transport
        self.heartbeat_timeout = float(heartbeat_timeout)
        self.install_signal_handlers = install_signal_handlers
        self.shutdown_grace = float(shutdown_grace)
        self.reg = Registry(max_trailing_backlog)
        self.policy = policy or Policy.without_rules()  # who is critical, who publishes what
        self.log = RateLimitedLog(f"tickbus-bus[{os.getpid()}]", LOG_LINES_PER_S, log)
        self.sockets = BusSockets(self.run_dir, transport, int(tap_hwm), security, self.log)
        self.hosted = HostedMembers(self)
        self.endpoints: Endpoints | None = None
        self._stop_reason: str | None = None
        self._stopped_all = False
        self._failure_recorded = False
        self._started = time.monotonic()
        self._now = self._started

    def host(self, hosted: Hosted) -> None:
        """Run `hosted` as a member inside this process (bus/hosted.py); call before run()."""
        self.hosted.add(hosted)

    def bind(self) -> Endpoints:
        """Create the 0700 run dir, bind the three sockets, write endpoints.json atomically."""
        self.endpoints = self.sockets.bind()
        sockets = self.sockets
        self.router = Router(self.reg, sockets.members, sockets.tap, self.lose, self.malformed, self.log)
        self.router.hosted = self.hosted
        self.waits = Waits(self.reg, self.reply, self.malformed, self.lose)
        self.liveness = Liveness(self.reg, sockets.members, self.heartbeat_timeout, self.lose, self._drain_members)
        self.control = ControlService(self, sockets.control)
        return self.endpoints

    def stop(self, reason: str = "stop requested") -> None:
        """Ask the loop to exit (thread-safe; takes effect within one tick)."""
        self._stop_reason = reason

    @property
    def stopping(self) -> bool:
        return self._stop_reason is not None

    # ------------------------------------------------------------------ the loop
    def run(self) -> None:
        if self.endpoints is None:
            self.bind()
        self.hosted.start()
        old_handlers: dict[signal.Signals, Any] = {}
        if self.install_signal_handlers and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                old_handlers[sig] = signal.signal(sig, self._on_signal)
        # Only the members socket is waited on; control and tap are checked every tick. A
        # zmq_poll over three sockets costs ~6 extra syscalls per wake-up, and wake-ups are the
        # price of a barrier round.
        members, control, tap = self.sockets.members, self.sockets.control, self.sockets.tap
        pollset = [(members, zmq.POLLIN)]
        next_tick = time.monotonic()
        try:
            while self._stop_reason is None:
                now = time.monotonic()
                if now >= next_tick:
                    self._now = now
                    if has_more_input(control):
                        self.control.drain()
                    if has_more_input(tap):
                        self.router.drain_tap()
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

    def _housekeeping(self, now: float) -> None:
        self.hosted.tick(now)
        self.liveness.check(now)
        self.waits.expire(now)
        self.log.tick()

    # ------------------------------------------------------------------ member messages
    def _drain_members(self) -> None:
        sock = self.sockets.members
        recv = sock.recv_multipart
        router = self.router
        forward, send_batch = router.forward, router.send_batch
        for _ in range(DRAIN_BATCH):
            try:
                frames = recv(NOBLOCK)
            except zmq.Again:
                return
            if len(frames) == 3 and frames[1]:  # one PUBLISH: the common case
                batch: Batch = {}
                forward(frames[0], frames[1], frames[2], batch)
                send_batch(batch)
            else:
                self._records(frames)
            if not has_more_input(sock):
                return

    def _records(self, frames: list[bytes]) -> None:
        """A message of several records: PUBLISH pairs and fixed-size commands, in order. A
        message with faults counts once in stats["malformed"], however many records it spoils."""
        if len(frames) < 2:
            self.malformed("empty member message")
            return
        batch: Batch = {}
        reg = self.reg
        before = reg.malformed
        try:
            self._apply_records(frames[0], frames, batch)
        finally:
            if batch:
                self.router.send_batch(batch)
            if reg.malformed > before + 1:
                reg.malformed = before + 1

    def _apply_records(self, ident: bytes, frames: list[bytes], batch: Batch) -> None:
        n = len(frames)
        i = 1
        while i < n:
            f = frames[i]
            if f:
                if i + 1 >= n:
                    self.malformed(f"PUBLISH {f[:40]!r} without a payload frame")
                    return
                self.router.forward(ident, f, frames[i + 1], batch)
                i += 2
                continue
            if batch:  # deliveries go out before a command takes effect (an ACK, a LEAVE, ...)
                self.router.send_batch(batch)
            kind = frames[i + 1] if i + 1 < n else b""
            size = P.COMMAND_FRAMES.get(kind)
            if size is None:
                self.malformed(f"unknown message kind {kind[:20]!r} ({n - i} frames)")
                return
            if i + size > n:
                self.malformed(f"{P.KIND_NAMES[kind]} truncated: {n - i} of {size} frames")
                return
            if kind == P.ACK:
                self._on_ack(ident, frames[i + 2])
            elif kind == P.WAIT:
                self.waits.on_wait(ident, frames[i + 2], frames[i + 3])
            elif kind == P.HEARTBEAT:
                self.liveness.on_heartbeat(ident, frames[i + 2], self._now)
            elif kind == P.JOIN:
                self._on_join(ident, frames[i + 2], frames[i + 3])
            elif kind == P.LEAVE:
                self._on_leave(ident, frames[i + 2])
            else:
                self.reply(ident, P.STATS_REPLY, frames[i + 2], P.OK, msgpack.packb(self.stats()))
            i += size

    def reply(self, ident: Hashable, kind: bytes, rid: bytes, status: bytes, body: bytes = b"") -> bool:
        """A REPLY to a member (False when its connection is gone: nothing to answer)."""
        try:
            send_parts(self.sockets.members, (ident, P.DELIM, kind, rid, status, body))  # type: ignore[arg-type]
            return True
        except zmq.ZMQError:
            return False

    def _on_ack(self, ident: bytes, count: bytes) -> None:
        m = self.reg.by_ident.get(ident)
        if m is None:
            if ident not in self.reg.gone:  # else: a late ack from a member that left or was lost
                self.malformed("ACK from a connection that has not joined")
            return
        try:
            n = int(count)
        except ValueError:
            self.malformed(f"ACK count {count[:20]!r} is not an integer")
            return
        if n <= 0:
            self.malformed(f"ACK count {n} is not positive")
            return
        self.apply_ack(m, n)

    def apply_ack(self, m: Member, n: int) -> None:
        """An ACK of n deliveries by a remote or a hosted member: progress, maybe idle."""
        err = self.reg.ack(m, n)
        if err:
            self.malformed(err)
        self.waits.progress(self._now)

    def _on_join(self, ident: bytes, rid: bytes, body: bytes) -> None:
        try:
            req = msgpack.unpackb(body)
            if not isinstance(req, dict):
                raise ValueError("not a map")
            name, prefixes = req.get("name"), req.get("prefixes")
        except Exception as exc:  # noqa: BLE001
            self.malformed(f"JOIN body does not decode: {exc}")
            self.reply(ident, P.JOIN_REPLY, rid, P.ERR, msgpack.packb({"error": f"bad JOIN body: {exc}"}))
            return
        err = join_error(name, prefixes)
        admission: Admission | str | None = None
        if err is None:
            assert isinstance(name, str) and isinstance(prefixes, (list, tuple))  # join_error checked
            err = self.waits.closing or self.reg.refuse(name, ident)
            if err is None:
                admission = self.policy.admit(name, bool(req.get("critical", True)))
                err = admission if isinstance(admission, str) else None
        if err is not None:
            self.log(f"JOIN {name!r} refused: {err}")
            self.reply(ident, P.JOIN_REPLY, rid, P.ERR, msgpack.packb({"error": err}))
            return
        try:
            pid = int(req.get("pid") or 0)
        except (TypeError, ValueError):
            pid = 0
        host = str(req.get("host") or "")
        assert isinstance(name, str) and isinstance(prefixes, (list, tuple)) and isinstance(admission, Admission)
        m = Member(
            name, ident, prefixes,
            tracked=bool(req.get("tracked", True)), trailing=bool(req.get("trailing", False)),
            pid=pid, host=host, now=time.monotonic(),
        )
        if pid and host == _HOST:
            m.local = True
            m.proc_start = proc_start_time(pid)
        self.add(m, admission)
        self.reply(ident, P.JOIN_REPLY, rid, P.OK, msgpack.packb(
            {"bus_pid": os.getpid(), "heartbeat_timeout": self.heartbeat_timeout, "critical": m.critical}))

    def add(self, m: Member, admission: Admission) -> None:
        """`m` joins with what the run's policy granted it (bus/policy.py)."""
        m.critical = admission.critical
        m.may_publish = admission.publish
        m.admission = admission.kind
        self.reg.add(m)

    def _on_leave(self, ident: bytes, rid: bytes) -> None:
        m = self.reg.by_ident.get(ident)
        if m is not None:
            self.leave(m)
        self.reply(ident, P.LEAVE_REPLY, rid, P.OK)

    def leave(self, m: Member) -> None:
        """`m` leaves: it and its pending are dropped without error."""
        if self.reg.members.get(m.name) is m:
            self.reg.remove(m, "left")
            if self.waits.waiters:
                self.waits.check()

    # ------------------------------------------------------------------ what failures mean
    def lose(self, m: Member, reason: str) -> None:
        """A member is gone without leaving (invariant 5): removed and told; if critical, the bus
        is failed naming it."""
        if self.reg.members.get(m.name) is not m:
            return
        failure = self.reg.lose(m, reason)
        self.log(f"member {m.name!r} lost: {reason}" + ("" if failure else " (not critical: removed)"))
        self.send_stop(m, f"{P.STOP_LOST}{reason}")
        if failure:
            self.record_failure(RC.LOST, m.name, f"lost: {reason}")
            self.waits.fail_all(P.FAILED, failure, m.name)
        elif self.waits.waiters:
            self.waits.check()

    def fail_requested(self, reason: str) -> None:
        """The control request `fail`: every pending and future WAIT is answered "failed"."""
        self.log(f"failed by control request: {reason}")
        self.record_failure(RC.REQUESTED, None, reason)
        self.reg.fail(reason)
        self.waits.fail_all(P.FAILED, self.reg.failed or reason)

    def record_failure(self, kind: str, member: str | None, detail: str, text: str | None = None) -> None:
        """The bus's failure record (bus/run_contract.py): the first failure it saw, once."""
        if self._failure_recorded:
            return
        self._failure_recorded = True
        try:
            RC.FailureRecord.now("bus", kind, member, detail, text).write(self.run_dir)
        except OSError as exc:
            self.log(f"cannot write the failure record: {exc}")

    def send_stop(self, m: Member, reason: str) -> None:
        if m.hosted:
            self.hosted.stop(m)
            return
        try:
            send_parts(self.sockets.members, (m.ident, P.DELIM, P.STOP, reason.encode()))  # type: ignore[arg-type]
        except zmq.ZMQError:
            pass

    def malformed(self, reason: str) -> None:
        self.reg.malformed += 1
        self.log(f"malformed frame dropped: {reason}")

    def stats(self) -> dict[str, Any]:
        now = time.monotonic()
        s = self.reg.snapshot(now, now - self._started, len(self.waits.waiters), self.router.tap_subs)
        s["pid"] = os.getpid()
        s["transport"] = self.endpoints.transport if self.endpoints else self.transport
        return s

    # ------------------------------------------------------------------ shutdown
    def stop_all(self) -> None:
        """STOP to every member (once)."""
        if not self._stopped_all:
            self._stopped_all = True
            for m in list(self.reg.members.values()):
                self.send_stop(m, P.STOP_SHUTDOWN)

    def _linger_for_leaves(self) -> None:
        """After STOP, keep answering for up to shutdown_grace so members can leave() (and
        flush their last outputs) instead of waiting for a bus that is already gone."""
        deadline = time.monotonic() + self.shutdown_grace
        pollset = [(self.sockets.members, zmq.POLLIN)]
        next_pid_poll = 0.0
        while self.reg.members and time.monotonic() < deadline:
            if zmq_poll(pollset, 20):
                self._now = time.monotonic()
                self._drain_members()
            now = time.monotonic()
            if now >= next_pid_poll:
                next_pid_poll = now + PID_POLL_S
                for m in self.liveness.exited():
                    self.reg.remove(m, "exited during shutdown")

    def _close(self) -> None:
        reason = self._stop_reason or "bus exiting"
        self.log(f"shutting down ({reason})")
        closing = self.waits.closing = f"bus shut down ({reason})"
        self.stop_all()
        self.waits.fail_all(P.SHUTDOWN, closing)
        self._linger_for_leaves()
        self.sockets.close()
        self.log.flush()
