"""Taps: passive copies of the traffic, never counted, and a slow or stopped tap never slows or
blocks tracked members (bounded HWM: the tap loses messages instead)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import msgpack
import pytest

from bus import BusClient, ControlClient, Tap
from bus_testkit import Procs, wait_members

TAP_SCRIPT = """
import sys, time
from bus import Tap
t = Tap(sys.argv[1], [""], hwm=100)
print("ready", flush=True)
while True:
    t.recv(1.0)
"""


def _wait_taps(ctl: ControlClient, n: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while ctl.stats()["taps"] != n:
        assert time.monotonic() < deadline, f"taps never became {n}"
        time.sleep(0.02)


@pytest.mark.timeout(30)
def test_tap_gets_copies_by_prefix_and_is_not_counted(procs: Procs, transport: str) -> None:
    eps = procs.bus(transport)
    procs.member(eps, "m", prefixes=["r0."], react={"r0.": "r1."})
    wait_members(eps, ["m"])
    with ControlClient(eps) as ctl, Tap(eps, ["r1.", "done."]) as tap, Tap(eps, [""]) as idle_tap, \
            BusClient(eps, "driver") as drv:
        _wait_taps(ctl, 3)  # three subscriptions in all
        drv.join([], tracked=False)
        for rnd in range(20):
            drv.publish("r0.", msgpack.packb([rnd, ["d0"]]))
            drv.wait_until_idle(10)  # idle_tap never reads: taps are not counted
        got = tap.recv_until(40, 5.0)
        assert [t for t, _ in got].count("r1.") == 20 and {t for t, _ in got} == {"r1.", "done.m."}
        assert [msgpack.unpackb(p)[0] for t, p in got if t == "r1."] == list(range(20))
        assert ctl.stats()["taps"] == 3
    with ControlClient(eps) as ctl:
        _wait_taps(ctl, 0)  # closed taps are forgotten: the bus stops copying


@pytest.mark.timeout(60)
def test_stopped_and_unread_taps_never_block_members(procs: Procs) -> None:
    eps = procs.bus("ipc", tap_hwm=100)
    procs.member(eps, "m", prefixes=["r0."], react={"r0.": "r1."})
    wait_members(eps, ["m"])
    run_dir = procs.run_dirs[eps.control]
    frozen = procs.spawn([sys.executable, "-c", TAP_SCRIPT, str(run_dir)], stdout=subprocess.PIPE)
    assert frozen.stdout is not None and frozen.stdout.readline().strip() == b"ready"
    try:
        with ControlClient(eps) as ctl, Tap(eps, [""], hwm=10):  # this one never reads either
            _wait_taps(ctl, 2)
            os.kill(frozen.pid, signal.SIGSTOP)
            big = "x" * 65536
            with BusClient(eps, "driver") as drv:
                drv.join([], tracked=False)
                t0 = time.monotonic()
                for rnd in range(1500):  # ~200 MB of copies offered to the two taps
                    drv.publish("r0.", msgpack.packb([rnd, [big]]))
                    drv.wait_until_idle(10)
                elapsed = time.monotonic() - t0
                stats = drv.stats()
            assert stats["topics"]["r1."]["messages"] == 1500
            assert stats["members"]["m"]["pending"] == 0
            print(f"1500 rounds of 64 KiB with a stopped and an unread tap: {elapsed:.2f} s")
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
        frozen.kill()
        frozen.wait(5)
