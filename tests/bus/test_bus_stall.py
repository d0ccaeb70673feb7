"""WAIT with `stall`: the timeout bounds time without progress, not the whole wait, so a long but
moving barrier completes and a stuck one fails naming what is pending. Real bus process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bus import BusClient, IdleTimeout
from bus_testkit import Procs


@pytest.mark.timeout(60)
def test_stall_timeout_waits_while_acks_flow_and_fails_once_they_stop(procs: Procs, tmp_path: Path) -> None:
    eps = procs.bus("ipc")
    with BusClient(eps, "worker") as worker, BusClient(eps, "driver") as driver:
        worker.join(["job."], tracked=True)
        driver.join([], tracked=False)
        for i in range(10):
            driver.publish("job.", b"%d" % i)
        rid = driver.request_idle(1.5, stall=True)
        started = time.monotonic()
        got = 0
        while not driver.take_idle_reply(rid):  # one ack every 0.25 s: 2.5 s in all, > 1.5 s
            got += len(worker.recv(0.05))
            if got and worker.unacked:
                time.sleep(0.25)
                worker.ack(1)
            driver.recv(0.01)
            assert time.monotonic() - started < 20, "the barrier never completed"
        assert got == 10 and time.monotonic() - started > 2.0  # longer than the timeout, and fine

        driver.publish("job.", b"stuck")
        rid = driver.request_idle(1.5, stall=True)
        started = time.monotonic()
        with pytest.raises(IdleTimeout, match=r"no progress for 1.5 s; pending: worker=1"):
            while not driver.take_idle_reply(rid):
                worker.recv(0.01)  # received, never acknowledged: stuck
                driver.recv(0.05)
                assert time.monotonic() - started < 20, "the stall was never reported"
        assert time.monotonic() - started < 1.5 + 3.0
