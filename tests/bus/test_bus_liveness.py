"""Invariant 5 and the member lifecycle: a killed or frozen member fails every wait loudly and fast,
the bus keeps serving the others; leave, stop_member, fail, trailing members, a dead bus."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import msgpack
import pytest

from bus import BusClient, BusLost, ControlClient, IdleTimeout, MemberLost
from bus_testkit import Procs, echoes, wait_exit, wait_members

HB_TIMEOUT = 0.5
SLACK = 2.5  # scheduling slack on a loaded machine; the assertion is "bounded", not "fast"


def _rounds(drv: BusClient, first: int, n: int) -> None:
    for rnd in range(first, first + n):
        drv.publish("r0.", msgpack.packb([rnd, ["d0"]]))
        drv.wait_until_idle(10.0)
        drv.recv(0)


def _lose_member_mid_run(procs: Procs, tmp_path: Path, transport: str, sig: int) -> None:
    eps = procs.bus(transport, heartbeat_timeout=HB_TIMEOUT)
    victim = procs.member(eps, "victim", prefixes=["r0."], sleep_prob=1.0, sleep_max=0.05, seed=1)
    procs.member(eps, "survivor", prefixes=["r0."])
    wait_members(eps, ["victim", "survivor"])
    with BusClient(eps, "driver") as drv:
        drv.join(["done."], tracked=False)
        _rounds(drv, 0, 10)
        drv.publish("r0.", msgpack.packb([10, ["d0"]]))
        drv.flush()
        time.sleep(0.01)  # the victim is now inside its (up to 50 ms) handler
        os.kill(victim.pid, sig)
        t0 = time.monotonic()
        with pytest.raises(MemberLost) as err:
            drv.wait_until_idle(30.0)
        elapsed = time.monotonic() - t0
        msg = str(err.value)
        assert "victim" in msg and err.value.member == "victim", msg
        if sig == signal.SIGKILL:
            assert f"process {victim.pid} exited" in msg or "connection closed" in msg, msg
        else:
            assert "no heartbeat" in msg, msg
        assert elapsed < HB_TIMEOUT + SLACK, f"loss noticed after {elapsed:.2f} s"
        print(f"{transport} {signal.Signals(sig).name}: MemberLost after {elapsed * 1000:.0f} ms: {msg}")
        # every later wait fails the same way, at once
        t1 = time.monotonic()
        with pytest.raises(MemberLost, match="victim"):
            drv.wait_until_idle(30.0)
        assert time.monotonic() - t1 < 1.0 + SLACK  # one round trip: no heartbeat timeout waited again
        # ... and the bus keeps forwarding for the others
        drv.recv(0)
        drv.publish("r0.", msgpack.packb([11, ["d0"]]))
        got: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + 10
        while not any(n == "survivor" and r == 11 for n, r, _ in echoes(got)) and time.monotonic() < deadline:
            got += drv.recv(0.5)
        assert ("survivor", 11, ("d0",)) in echoes(got)
        stats = drv.stats()
        assert "victim" in stats["lost_members"] and "victim" not in stats["members"]
        assert stats["failed"] and "victim" in stats["failed"]
    if sig == signal.SIGSTOP:
        os.kill(victim.pid, signal.SIGCONT)  # it resumes, learns it was removed, leaves, exits
        assert wait_exit(victim, 10) == 0
    else:
        assert wait_exit(victim, 10) == -signal.SIGKILL


@pytest.mark.timeout(60)
def test_sigkill_member_fails_waits_fast(procs: Procs, tmp_path: Path, transport: str) -> None:
    _lose_member_mid_run(procs, tmp_path, transport, signal.SIGKILL)


@pytest.mark.timeout(60)
def test_sigstop_member_fails_waits_within_heartbeat_bound(procs: Procs, tmp_path: Path, transport: str) -> None:
    _lose_member_mid_run(procs, tmp_path, transport, signal.SIGSTOP)


@pytest.mark.timeout(60)
def test_non_critical_member_loss_is_recorded_not_fatal(procs: Procs) -> None:
    eps = procs.bus("ipc", heartbeat_timeout=HB_TIMEOUT)
    victim = procs.member(eps, "optional", prefixes=["r0."], critical=False, sleep_prob=1.0, sleep_max=0.05)
    procs.member(eps, "core", prefixes=["r0."])
    wait_members(eps, ["optional", "core"])
    with BusClient(eps, "driver") as drv:
        drv.join(["done."], tracked=False)
        _rounds(drv, 0, 5)
        drv.publish("r0.", msgpack.packb([5, ["d0"]]))
        drv.flush()
        os.kill(victim.pid, signal.SIGKILL)
        drv.wait_until_idle(HB_TIMEOUT + SLACK)  # its pending was dropped with it: no error
        _rounds(drv, 6, 5)
        stats = drv.stats()
        assert stats["failed"] is None
        assert "optional" in stats["lost_members"] and "optional" not in stats["members"]
    wait_exit(victim, 5)


def test_leave_drops_pending_without_error(procs: Procs) -> None:
    eps = procs.bus("ipc")
    with BusClient(eps, "pub") as pub, BusClient(eps, "m") as m:
        pub.join([], tracked=False)
        m.join(["x."])
        pub.publish("x.", b"1")
        pub.publish("x.", b"2")
        with pytest.raises(IdleTimeout, match=r"m=2"):
            pub.wait_until_idle(0.3)
        m.leave()  # never acked: the bus drops m's pending
        pub.wait_until_idle(5)
        stats = pub.stats()
        assert "m" not in stats["members"] and stats["lost_members"] == {} and stats["failed"] is None


def test_idle_timeout_names_pending_members(procs: Procs) -> None:
    eps = procs.bus("ipc")
    with BusClient(eps, "pub") as pub, BusClient(eps, "slow") as slow:
        pub.join([], tracked=False)
        slow.join(["x."])
        for _ in range(3):
            pub.publish("x.", b"")
        t0 = time.monotonic()
        with pytest.raises(IdleTimeout) as err:
            pub.wait_until_idle(0.3)
        assert 0.25 < time.monotonic() - t0 < 0.3 + SLACK
        assert err.value.pending == {"slow": 3} and "slow=3" in str(err.value)
        assert len(slow.recv(2.0)) == 3
        slow.ack()
        pub.wait_until_idle(5)
        slow.leave()


@pytest.mark.timeout(30)
def test_trailing_members_and_backlog_bound(procs: Procs) -> None:
    eps = procs.bus("ipc", max_trailing_backlog=5)
    with BusClient(eps, "pub") as pub, BusClient(eps, "main") as main, BusClient(eps, "rec") as rec:
        pub.join([], tracked=False)
        main.join(["x."])
        rec.join([""], trailing=True)  # the recorder sees everything but lags
        for _ in range(3):
            pub.publish("x.", b"")
        pub.flush()
        got: list = []
        while len(got) < 3:
            got += main.recv(2.0)
        main.ack()
        pub.wait_until_idle(5, include_trailing=False)  # trailing backlog 3 <= 5
        with pytest.raises(IdleTimeout, match=r"rec=3 \(trailing\)"):
            pub.wait_until_idle(0.3, include_trailing=True)
        for _ in range(5):
            pub.publish("y.", b"")  # only rec listens: backlog 8 > 5
        with pytest.raises(IdleTimeout):
            pub.wait_until_idle(0.3, include_trailing=False)
        n = 0
        while n < 8:
            n += len(rec.recv(2.0))
        rec.ack()
        pub.wait_until_idle(5, include_trailing=True)
        stats = pub.stats()
        assert stats["members"]["rec"]["trailing"] and stats["members"]["rec"]["acknowledged"] == 8
        main.leave()
        rec.leave()


@pytest.mark.timeout(30)
def test_control_fail_and_stop_member(procs: Procs) -> None:
    eps = procs.bus("ipc")
    member = procs.member(eps, "worker", prefixes=["never."])
    wait_members(eps, ["worker"])
    with BusClient(eps, "pub") as pub, BusClient(eps, "stuck") as stuck, ControlClient(eps) as ctl:
        pub.join([], tracked=False)
        stuck.join(["x."])
        pub.publish("x.", b"")
        errors: list[BaseException] = []

        def waiter() -> None:
            try:
                pub.wait_until_idle(20)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.2)
        ctl.stop_member("worker")
        assert wait_exit(member, 10) == 0  # it saw stop_requested and left
        assert "worker" not in ctl.members()
        ctl.fail("process 'broker' exited with status 1")
        t.join(10)
        assert not t.is_alive()
        assert isinstance(errors[0], MemberLost) and "broker" in str(errors[0])
        with BusClient(eps, "late") as late:  # a fresh connection gets the same answer
            with pytest.raises(MemberLost, match="broker"):
                late.wait_until_idle(5)
        assert ctl.stats()["failed"] == "process 'broker' exited with status 1"
        stuck.leave()


@pytest.mark.timeout(30)
def test_dead_bus_raises_bus_lost(procs: Procs) -> None:
    eps = procs.bus("ipc")
    bus_proc = procs.bus_proc(eps)
    c = BusClient(eps, "orphan", bus_silence_timeout=1.0)
    try:
        c.join(["x."])
        bus_proc.kill()
        bus_proc.wait(5)
        t0 = time.monotonic()
        with pytest.raises(BusLost, match="heartbeats"):
            while time.monotonic() - t0 < 10:
                c.recv(0.2)
        assert time.monotonic() - t0 < 1.0 + SLACK
        with pytest.raises(BusLost):
            c.wait_until_idle(10)
    finally:
        t1 = time.monotonic()
        c.close()
        assert time.monotonic() - t1 < 2.5


@pytest.mark.timeout(30)
def test_stalled_bus_does_not_declare_members_lost(procs: Procs) -> None:
    """A bus that could not run for a while (overloaded machine, SIGSTOP) must read the queued
    heartbeats before judging anyone: no false MemberLost."""
    eps = procs.bus("ipc", heartbeat_timeout=HB_TIMEOUT)
    procs.member(eps, "m", prefixes=["r0."])
    wait_members(eps, ["m"])
    bus_proc = procs.bus_proc(eps)
    with BusClient(eps, "driver") as drv:
        drv.join(["done."], tracked=False)
        _rounds(drv, 0, 5)
        os.kill(bus_proc.pid, signal.SIGSTOP)
        try:
            time.sleep(4 * HB_TIMEOUT)
        finally:
            os.kill(bus_proc.pid, signal.SIGCONT)
        _rounds(drv, 5, 5)
        stats = drv.stats()
        assert stats["lost_members"] == {} and stats["failed"] is None and "m" in stats["members"]
