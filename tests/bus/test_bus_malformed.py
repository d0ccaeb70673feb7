"""Malformed frames: 1,000 of assorted shapes to the bus (all three endpoints) and 1,000 to a member.
Nothing crashes, every one is counted exactly once, normal traffic and the barrier keep working."""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
import zmq

from bus import BusClient, ControlClient, Endpoints
from bus import protocol as P
from bus.security import secure_client
from bus_testkit import Procs, echoes, wait_members

# Frames a member-side DEALER sends that the bus must reject. Each is one malformed message.
UNJOINED_SHAPES: list[list[bytes]] = [
    [b""],                                          # empty delimiter, no kind
    [b"BarReceived.AAPL."],                         # PUBLISH without a payload
    [b"", b"Z", b"x"],                              # unknown kind
    [b"", b"A"],                                    # ACK truncated
    [b"", b"A", b"3"],                              # ACK from a connection that never joined
    [b"no-trailing-dot", b"payload"],               # topic without the final '.'
    [b"\xff\xfe.", b"payload"],                     # topic not UTF-8
    [b"t.", b"p", b"stray"],                        # a PUBLISH, then a frame that is no record
    [b"", b"I", b"1", b"\xc1"],                     # WAIT body is not msgpack
    [b"", b"J", b"1", b"\xc1"],                     # JOIN body is not msgpack
    [b"", b"J", b"1", msgpack.packb([1, 2])],       # JOIN body is not a map
    [b"", b"H", b"x", b"y"],                        # HEARTBEAT followed by a stray frame
    [b""] * 7,                                      # many empty frames
    [b"", b"I", b"1"],                              # WAIT truncated
]
JOINED_SHAPES: list[list[bytes]] = [
    [b"", b"A", b"zero"],                           # ACK count not an integer
    [b"", b"A", b"0"],                              # ACK count not positive
    [b"", b"A", b"1000000"],                        # ACK of deliveries never made
]
CONTROL_SHAPES: list[list[bytes]] = [
    [b"garbage"],                                   # no envelope
    [b"", b"nosuch", b""],                          # unknown command
    [b"", b"stats", b"\xc1"],                       # arguments not msgpack
    [b"", b"stats", msgpack.packb([1])],            # arguments not a map
    [b"a", b"b", b"c", b"d", b"e"],                 # wrong frame count
]
TAP_SHAPES: list[bytes] = [b"\x05not a subscription", b"", b"\x02x"]


def _raw(ctx: zmq.Context, kind: int, endpoint: str, eps: Endpoints) -> zmq.Socket:
    s = ctx.socket(kind)
    secure_client(s, eps)  # over tcp: the run's key (CURVE)
    s.setsockopt(zmq.LINGER, 0)
    if kind == zmq.DEALER:
        s.setsockopt(zmq.ROUTING_ID, b"m" + os.urandom(15))
    s.connect(endpoint)
    return s


@pytest.mark.timeout(60)
def test_bus_survives_and_counts_1000_malformed_frames(procs: Procs, tmp_path: Path, transport: str) -> None:
    eps = procs.bus(transport, heartbeat_timeout=60.0)
    procs.member(eps, "m1", prefixes=["r0."], react={"r0.": "r1."})
    procs.member(eps, "m2", prefixes=["r1."])
    wait_members(eps, ["m1", "m2"])
    ctx = zmq.Context()
    member_sock = _raw(ctx, zmq.DEALER, eps.members, eps)
    joined_sock = _raw(ctx, zmq.DEALER, eps.members, eps)
    control_sock = _raw(ctx, zmq.DEALER, eps.control, eps)
    tap_sock = _raw(ctx, zmq.XSUB, eps.tap, eps)
    try:
        joined_sock.send_multipart([P.DELIM, P.JOIN, b"1", msgpack.packb(
            {"name": "raw", "prefixes": [], "tracked": False, "critical": False, "host": "elsewhere"})])
        assert joined_sock.poll(5000) and joined_sock.recv_multipart()[3] == P.OK
        plan = itertools.cycle(
            [("m", s) for s in UNJOINED_SHAPES] + [("j", s) for s in JOINED_SHAPES]
            + [("c", s) for s in CONTROL_SHAPES] + [("t", [s]) for s in TAP_SHAPES])
        sent = 0
        with BusClient(eps, "driver") as drv:
            drv.join(["done."], tracked=False)
            rnd = 0
            while sent < 1000:
                for _ in range(50):  # a burst of garbage ...
                    where, frames = next(plan)
                    sock = {"m": member_sock, "j": joined_sock, "c": control_sock, "t": tap_sock}[where]
                    sock.send_multipart(frames)
                    sent += 1
                for _ in range(5):  # ... then normal rounds must still work
                    drv.publish("r0.", msgpack.packb([rnd, ["d0"]]))
                    drv.wait_until_idle(10)
                    got = sorted(echoes(drv.recv(0)))
                    assert got == [("m1", rnd, ("d0",)), ("m2", rnd, ("d0", "m1"))], got
                    rnd += 1
            deadline = time.monotonic() + 5  # tap and control input is read every tick
            while (stats := drv.stats())["malformed"] < 1000 and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.1)
            stats = drv.stats()
        assert stats["malformed"] == 1000, stats["malformed"]
        assert stats["failed"] is None and set(stats["members"]) == {"m1", "m2", "raw", "driver"}
    finally:
        for s in (member_sock, joined_sock, control_sock, tap_sock):
            s.close(0)
        ctx.term()
    with ControlClient(eps) as ctl:
        ctl.shutdown()
    procs.bus_proc(eps).wait(10)  # the suppressed-lines summary is flushed at exit at the latest
    log = (procs.run_dirs[eps.control] / "bus.log").read_text()
    assert "malformed frame dropped" in log and "more log lines suppressed" in log
    assert len(log.splitlines()) < 200, "malformed input must not flood the log"


# Frames a (fake) bus sends to a member that the client must reject. Each is one malformed message.
TO_MEMBER_SHAPES: list[list[bytes]] = [
    [b"x"],                                # one frame
    [b"t.", b"p", b"extra"],               # three frames, not a command
    [b""],                                 # empty delimiter only
    [b"", b"?"],                           # unknown kind
    [b"", P.STOP],                         # STOP without a reason
    [b"", P.WAIT_REPLY],                   # reply truncated
    [b"", P.JOIN_REPLY, b"1", b"ok"],      # reply with 4 frames
    [b"\xff\xfe.", b"payload"],            # delivery topic not UTF-8
    [b"", P.STOP, b"a", b"b"],             # STOP with extra frames
]


class FakeBus(threading.Thread):
    """A raw ROUTER playing the bus: answers JOIN/WAIT/heartbeats, then sprays garbage."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(daemon=True)
        self.ctx = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.setsockopt(zmq.SNDHWM, 0)  # as the real bus: 1,100 messages at once, none dropped
        self.router.bind("tcp://127.0.0.1:*")
        ep = self.router.getsockopt_string(zmq.LAST_ENDPOINT)
        self.eps = Endpoints(members=ep, control=ep, tap=ep, pid=os.getpid(), transport="tcp")
        self.stop = threading.Event()
        self.sent_garbage = 0
        self.valid = 0

    def sent_after_join(self, member: bytes) -> None:
        """What it sends a member that joined: garbage, with a valid delivery after every tenth."""
        shapes = itertools.cycle(TO_MEMBER_SHAPES)
        for i in range(1000):
            self.router.send_multipart([member, *next(shapes)])
            self.sent_garbage += 1
            if i % 10 == 9:
                self.router.send_multipart([member, b"ok.", msgpack.packb(self.valid)])
                self.valid += 1

    def run(self) -> None:
        while not self.stop.is_set():
            if not self.router.poll(20):
                continue
            frames = self.router.recv_multipart()
            ident, rest = frames[0], frames[1:]
            if rest[:2] == [P.DELIM, P.HEARTBEAT]:
                self.router.send_multipart([ident, P.DELIM, P.HEARTBEAT_REPLY, P.OK])
            elif rest[:2] == [P.DELIM, P.JOIN]:
                self.router.send_multipart([ident, P.DELIM, P.JOIN_REPLY, rest[2], P.OK,
                                            msgpack.packb({"heartbeat_timeout": 5.0})])
                self.sent_after_join(ident)
            elif rest[:2] == [P.DELIM, P.WAIT]:
                self.router.send_multipart([ident, P.DELIM, P.WAIT_REPLY, b"999", P.OK, b""])  # stale
                self.router.send_multipart([ident, P.DELIM, P.WAIT_REPLY, rest[2], P.OK, b""])
        self.router.close(0)
        self.ctx.term()


@contextlib.contextmanager
def _victim_of(fake: FakeBus) -> Iterator[BusClient]:
    """A member joined to `fake` (which implements no LEAVE), stopped with it."""
    fake.start()
    try:
        with BusClient(fake.eps, "victim") as c:
            c.join(["ok."])
            yield c
            c.left = True
    finally:
        fake.stop.set()
        fake.join(5)


@pytest.mark.timeout(30)
def test_member_survives_and_counts_1000_malformed_frames(tmp_path: Path) -> None:
    fake = FakeBus(tmp_path)
    with _victim_of(fake) as c:
        got: list[int] = []
        deadline = time.monotonic() + 10
        while len(got) < 100 and time.monotonic() < deadline:
            got += [msgpack.unpackb(p) for t, p in c.recv(0.5)]
        c.ack()
        assert got == list(range(100))
        assert c.malformed == 1000 and fake.sent_garbage == 1000
        c.wait_until_idle(5)  # a stale reply first, then ours: not malformed, just ignored
        assert c.stale_replies == 1 and c.malformed == 1000
        assert not c.stop_requested


@pytest.mark.timeout(30)
def test_malformed_counts_messages_not_records(procs: Procs, tmp_path: Path) -> None:
    """A message spoiling several records counts once (protocol.py, "Malformed input"); its
    valid records still take effect."""
    eps = procs.bus("ipc", heartbeat_timeout=60.0)
    ctx = zmq.Context()
    raw = _raw(ctx, zmq.DEALER, eps.members, eps)
    try:
        raw.send_multipart([P.DELIM, P.JOIN, b"1", msgpack.packb(
            {"name": "raw", "prefixes": [], "tracked": False, "critical": False, "host": "elsewhere"})])
        assert raw.poll(5000) and raw.recv_multipart()[3] == P.OK
        with BusClient(eps, "sub") as sub:
            sub.join(["ok."], tracked=False)
            raw.send_multipart([b"bad", b"1", b"\xff.", b"2", b"ok.", b"3", b"", P.ACK, b"zero", b"", P.STATS, b"2"])
            assert raw.poll(5000) and raw.recv_multipart()[1] == P.STATS_REPLY
            assert sub.recv(5.0) == [("ok.", b"3")]
            assert sub.stats()["malformed"] == 1
    finally:
        raw.close(0)
        ctx.term()


class _OneBadMessage(FakeBus):
    """Sends a member that joined one delivery message with two bad topics and a good one."""

    def sent_after_join(self, member: bytes) -> None:
        self.router.send_multipart([member, b"\xff.", b"1", b"\xfe.", b"2", b"ok.", b"3"])


@pytest.mark.timeout(30)
def test_a_member_counts_malformed_messages_not_records(tmp_path: Path) -> None:
    with _victim_of(_OneBadMessage(tmp_path)) as c:
        assert c.recv(5.0) == [("ok.", b"3")]
        assert c.malformed == 1
