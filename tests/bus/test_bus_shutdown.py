"""Graceful shutdown: on request and on SIGTERM the bus and every member exit within a bound."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path

import msgpack
import pytest

from bus import BusClient, BusError, BusLost, ControlClient, Endpoints, start_bus_process
from bus_testkit import Procs, wait_exit, wait_members

BOUND = 5.0


def _start(procs: Procs, transport: str) -> tuple[Endpoints, list]:
    eps = procs.bus(transport)
    members = [procs.member(eps, f"m{i}", prefixes=["r0."], sleep_prob=1.0, sleep_max=0.05, seed=i)
               for i in range(4)]
    wait_members(eps, [f"m{i}" for i in range(4)])
    return eps, members


def _assert_all_exit(procs: Procs, eps: Endpoints, t0: float) -> None:
    for p in procs.procs:
        assert wait_exit(p, BOUND) == 0
    assert time.monotonic() - t0 < BOUND
    run_dir = procs.run_dirs[eps.control]
    assert not (run_dir / "endpoints.json").exists()
    assert not list(run_dir.glob("*.sock"))


@pytest.mark.timeout(30)
def test_shutdown_request_stops_bus_and_members(procs: Procs, transport: str) -> None:
    eps, members = _start(procs, transport)
    with BusClient(eps, "driver") as drv:
        drv.join([], tracked=False)
        drv.publish("r0.", msgpack.packb([0, ["d0"]]))  # members are busy when the request comes
        drv.flush()
        errors: list[BaseException] = []

        def waiter() -> None:
            try:
                drv.wait_until_idle(30)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.01)
        t0 = time.monotonic()
        with ControlClient(eps) as ctl:
            ctl.shutdown()
        t.join(BOUND)
        assert not t.is_alive()
        # the wait either completed before the shutdown or was told about it: never a hang
        assert not errors or isinstance(errors[0], BusLost)
        assert drv.recv(BOUND) == [] and drv.stop_requested
        assert "shutting down" in (drv.stop_reason or "")
    _assert_all_exit(procs, eps, t0)


@pytest.mark.timeout(30)
def test_sigterm_stops_bus_and_members(procs: Procs, transport: str) -> None:
    eps, members = _start(procs, transport)
    t0 = time.monotonic()
    procs.bus_proc(eps).send_signal(signal.SIGTERM)
    _assert_all_exit(procs, eps, t0)
    log = (procs.run_dirs[eps.control] / "bus.log").read_text()
    assert "signal SIGTERM" in log


@pytest.mark.timeout(30)
def test_sigterm_to_member_leaves_gracefully(procs: Procs) -> None:
    eps, members = _start(procs, "ipc")
    with BusClient(eps, "driver") as drv:
        drv.join([], tracked=False)
        for i in range(3):
            drv.publish("r0.", msgpack.packb([i, ["d0"]]))
            drv.wait_until_idle(10)
        members[0].send_signal(signal.SIGTERM)
        assert wait_exit(members[0], BOUND) == 0
        for i in range(3, 6):
            drv.publish("r0.", msgpack.packb([i, ["d0"]]))
            drv.wait_until_idle(10)
        stats = drv.stats()
        assert "m0" not in stats["members"] and stats["lost_members"] == {} and stats["failed"] is None


def test_start_bus_process_reports_failures(tmp_path: Path, procs: Procs) -> None:
    eps = procs.bus("ipc", run_dir=tmp_path / "run")
    with pytest.raises(BusError, match="already running"):
        start_bus_process(tmp_path / "run")  # would steal the live bus's ipc sockets
    with pytest.raises(BusError, match="invalid choice"):
        start_bus_process(tmp_path / "other", transport="carrier-pigeon", timeout=10)
    assert oct((tmp_path / "run").stat().st_mode & 0o777) == "0o700"
    assert Endpoints.load(tmp_path / "run") == eps


def test_bus_module_entry_point_help() -> None:
    import subprocess

    out = subprocess.run([sys.executable, "-m", "bus", "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "--heartbeat-timeout" in out.stdout
