"""A member hosted by the bus process (bus/hosted.py) is a member like any other: it is delivered
to, its outputs are routed and counted before its ACK, it can be stopped, and its exception fails
every wait naming it. Real bus process, real sockets."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bus import BusClient, ControlClient, IdleTimeout, MemberLost, spawn_bus_process, wait_bus_ready
from bus.run_contract import read_failures

HERE = Path(__file__).resolve().parent


@pytest.fixture
def hosted_bus(tmp_path: Path) -> Iterator[Path]:
    run_dir = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")]))
    proc = spawn_bus_process(run_dir, env=env, module="hosted_echo")
    try:
        wait_bus_ready(proc, run_dir, 20.0)
        yield run_dir
    finally:
        if proc.poll() is None:
            try:
                with ControlClient(run_dir, timeout=2.0) as ctl:
                    ctl.shutdown()
                proc.wait(10)
            except (Exception, subprocess.TimeoutExpired):  # noqa: BLE001 - cleanup must go on
                proc.kill()
                proc.wait(10)


def _recv_until(client: BusClient, n: int, timeout: float = 10.0) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += client.recv(0.2)
        client.ack()
    return got


@pytest.mark.timeout(60)
def test_hosted_member_is_delivered_to_and_its_outputs_count_before_its_ack(hosted_bus: Path) -> None:
    with BusClient(hosted_bus, "listener") as listener, BusClient(hosted_bus, "driver") as driver:
        listener.join(["pong."], tracked=True)
        driver.join([], tracked=False)
        members = driver.stats()["members"]
        assert members["echo"]["prefixes"] == ["ping."] and members["echo"]["pid"] == driver.stats()["pid"]
        for i in range(3):
            driver.publish("ping.", b"%d" % i)
        driver.flush()
        # idle means: echo handled the pings AND the listener acknowledged the pongs they caused
        with pytest.raises(IdleTimeout):
            driver.wait_until_idle(0.3)  # the listener has not read its pongs yet
        got = _recv_until(listener, 3)
        assert got == [("pong.", b"0"), ("pong.", b"1"), ("pong.", b"2")]
        driver.wait_until_idle(10.0)
        echo = driver.stats()["members"]["echo"]
        assert echo["delivered"] == echo["acknowledged"] == 3 and echo["pending"] == 0 and echo["published"] == 3


@pytest.mark.timeout(60)
def test_stopping_a_hosted_member_runs_its_stop_and_it_leaves(hosted_bus: Path) -> None:
    with BusClient(hosted_bus, "listener") as listener:
        listener.join(["bye."], tracked=True)
        with ControlClient(hosted_bus) as ctl:
            ctl.stop_member("echo")
            assert "echo" not in ctl.members()
        assert _recv_until(listener, 1) == [("bye.", b"")]


@pytest.mark.timeout(60)
def test_a_hosted_member_that_raises_fails_every_wait_naming_it(hosted_bus: Path) -> None:
    with BusClient(hosted_bus, "driver") as driver:
        driver.join([], tracked=False)
        driver.publish("ping.", b"boom")
        t0 = time.monotonic()
        with pytest.raises(MemberLost, match="echo") as err:
            driver.wait_until_idle(30.0)
        assert time.monotonic() - t0 < 5.0
        assert "echo blew up on purpose" in str(err.value)
        (record,) = read_failures(hosted_bus)  # the bus's failure record names it, with the traceback
        assert (record.process, record.kind, record.member) == ("bus", "exception", "echo")
        assert "echo blew up on purpose" in (record.traceback or "")
        stats = driver.stats()
        assert "echo" not in stats["members"] and "echo" in stats["failed"]
