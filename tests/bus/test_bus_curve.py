"""CURVE (bus/security.py): with it on, only the run's access key joins, publishes, taps or asks;
no key and a wrong key are refused and the bus logs the refusal. Loopback only (127.0.0.1)."""

from __future__ import annotations

import dataclasses
import os
import stat
import time
from pathlib import Path

import msgpack
import pytest
import zmq

from bus import BusClient, BusError, BusLost, ControlClient, Endpoints, JoinError, Tap
from bus.security import (ACCESS_KEY_FILE, ServerSecurity, bus_args, check_access, endpoints_from_key, is_loopback,
                          read_access_key)
from bus_testkit import Procs


def _curve_bus(procs: Procs, tmp_path: Path, name: str = "run") -> tuple[Endpoints, Path]:
    run_dir = tmp_path / name
    eps = procs.bus("tcp", run_dir=run_dir,
                    extra_args=bus_args("tcp://127.0.0.1:0", True, {"run-id": "r1", "symbols": "A,B"}))
    return eps, run_dir


def _wait_log(path: Path, text: str, timeout: float = 5.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        log = path.read_text() if path.exists() else ""
        if text in log or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def test_loopback_and_ipc_need_no_key_anything_else_gets_curve() -> None:
    assert is_loopback("ipc:///tmp/x.sock") and is_loopback("tcp://127.0.0.1:5555")
    assert is_loopback("tcp://localhost:1") and is_loopback("tcp://[::1]:1")
    assert not is_loopback("tcp://0.0.0.0:5555") and not is_loopback("tcp://eth0:5555")
    # nothing is bound here: these only check the settings a bus would use
    assert ServerSecurity("tcp://0.0.0.0:5555").curve and not ServerSecurity("tcp://127.0.0.1:5555").curve
    sec = ServerSecurity("tcp://127.0.0.1:5555")
    assert (sec.address("members"), sec.address("control"), sec.address("tap")) == (
        "tcp://127.0.0.1:5555", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
    assert ServerSecurity("tcp://127.0.0.1:0").address("members") == "tcp://127.0.0.1:*"


@pytest.mark.timeout(60)
def test_right_key_joins_publishes_and_taps(procs: Procs, tmp_path: Path) -> None:
    eps, run_dir = _curve_bus(procs, tmp_path)
    key_file = run_dir / ACCESS_KEY_FILE
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(run_dir).st_mode) == 0o700
    key = read_access_key(key_file)
    assert key.metadata["run-id"] == "r1" and key.metadata["symbols"] == "A,B"
    assert eps.curve_server_key == key.server_key and eps.members.startswith("tcp://127.0.0.1:")
    # what a user on another machine does: the endpoint it sees plus the key file
    remote = endpoints_from_key(key_file, eps.members)
    assert (remote.control, remote.tap) == (eps.control, eps.tap)
    with ControlClient(remote, timeout=5) as ctl, Tap(remote, ["t."]) as tap, \
            BusClient(remote, "listener") as listener, BusClient(remote, "sender") as sender:
        listener.join(["t."])
        sender.join([], tracked=False)
        deadline = time.monotonic() + 5
        while ctl.stats()["taps"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        sender.publish("t.", msgpack.packb(1))
        got = listener.recv(5.0)
        listener.ack()
        sender.wait_until_idle(5.0)
        assert [t for t, _ in got] == ["t."]
        assert [t for t, _ in tap.recv_until(1, 5.0)] == ["t."]
        assert set(ctl.members()) == {"listener", "sender"}


@pytest.mark.timeout(60)
def test_no_key_and_wrong_key_are_refused_and_logged(procs: Procs, tmp_path: Path) -> None:
    eps, run_dir = _curve_bus(procs, tmp_path)
    _, other_dir = _curve_bus(procs, tmp_path, "other")  # another run's key: wrong server and client key
    no_key = dataclasses.replace(eps, curve_server_key=None, curve_key_file=None)
    wrong_key = endpoints_from_key(other_dir / ACCESS_KEY_FILE, eps.members)
    wrong_key = dataclasses.replace(wrong_key, control=eps.control, tap=eps.tap)
    # the right server key but a client key pair the bus never issued
    ours = read_access_key(run_dir / ACCESS_KEY_FILE)
    public, secret = zmq.curve_keypair()
    alien_file = tmp_path / "alien.key"
    alien_file.write_text((run_dir / ACCESS_KEY_FILE).read_text().replace(ours.public.decode(), public.decode())
                          .replace(ours.secret.decode(), secret.decode()))
    unknown_client = dataclasses.replace(eps, curve_key_file=str(alien_file))
    assert check_access(eps) == eps.pid
    with ControlClient(eps) as ctl:
        for label, bad in (("no key", no_key), ("wrong key", wrong_key), ("unknown client key", unknown_client)):
            with pytest.raises(BusError, match="refused the connection"):
                check_access(bad, timeout=3.0)
            with BusClient(bad, "intruder", bus_silence_timeout=30) as c:
                # a refused DEALER has no peer: a send fails at once once ZeroMQ knows (even this
                # first publish), or the join times out (bounded); nothing reaches the bus (below)
                with pytest.raises((JoinError, zmq.Again)):
                    c.publish("t.", b"\x01")
                    c.join(["t."], timeout=1.0)
            with Tap(bad, [""]) as tap:
                time.sleep(0.2)
                assert tap.recv(0.3) == [], label
            with ControlClient(bad, timeout=0.5) as bad_ctl, pytest.raises(BusLost):
                bad_ctl.stats()
            stats = ctl.stats()
            assert stats["members"] == {} and stats["messages"] == 0 and stats["taps"] == 0, label
    log = _wait_log(run_dir / "bus.log", "client key not allowed")
    assert "refused a connection to members" in log and "mechanism mismatch" in log
    assert "wrong server key" in log and "client key not allowed" in log
