"""CURVE (bus/security.py): every tcp bus, loopback included, lets only the run's access key join,
publish, tap or ask; no key and a wrong key are refused and the bus logs the refusal; another
local user gets nothing either (ipc: the 0700 run directory; tcp: the key it cannot read)."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import pytest
import zmq

from bus import BusClient, BusError, BusLost, ControlClient, Endpoints, JoinError, Tap
from bus.security import ACCESS_KEY_FILE, ServerSecurity, bus_args, check_access, endpoints_from_key, read_access_key
from bus_testkit import Procs


def _curve_bus(procs: Procs, tmp_path: Path, name: str = "run") -> tuple[Endpoints, Path]:
    run_dir = tmp_path / name
    eps = procs.bus("tcp", run_dir=run_dir,
                    extra_args=bus_args("tcp://127.0.0.1:0", {"run-id": "r1", "symbols": "A,B"}))
    return eps, run_dir


def _wait_log(path: Path, *texts: str, count: int = 1, timeout: float = 10.0) -> str:
    """The log once each of `texts` appears in it `count` times or more (or the deadline passes)."""
    deadline = time.monotonic() + timeout
    while True:
        log = path.read_text() if path.exists() else ""
        if all(log.count(t) >= count for t in texts) or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def test_listen_addresses() -> None:
    # nothing is bound here: these only check the addresses a bus would use
    sec = ServerSecurity("tcp://127.0.0.1:5555")
    assert (sec.address("members"), sec.address("control"), sec.address("tap")) == (
        "tcp://127.0.0.1:5555", "tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
    assert ServerSecurity("tcp://127.0.0.1:0").address("members") == "tcp://127.0.0.1:*"
    assert ServerSecurity().address("members") is None  # the bus's default: 127.0.0.1, any port


def test_a_tcp_bus_requires_the_key_and_ipc_needs_none(procs: Procs, tmp_path: Path) -> None:
    eps = procs.bus("tcp", run_dir=tmp_path / "tcp")
    assert eps.members.startswith("tcp://127.0.0.1:") and eps.curve_server_key
    assert eps.curve_key_file == str((tmp_path / "tcp" / ACCESS_KEY_FILE).absolute())
    assert stat.S_IMODE(os.stat(eps.curve_key_file).st_mode) == 0o600
    assert check_access(eps) == eps.pid  # what endpoints.json names is all a local client needs
    ipc = procs.bus("ipc", run_dir=tmp_path / "ipc")
    assert ipc.curve_server_key is None and not (tmp_path / "ipc" / ACCESS_KEY_FILE).exists()


def _raw_probe(eps: Endpoints, wait_s: float = 1.0) -> dict[str, object]:
    """What a client without the key gets from each endpoint: raw sockets, no CURVE."""
    ctx = zmq.Context()
    got: dict[str, object] = {}
    try:
        member = ctx.socket(zmq.DEALER)
        control = ctx.socket(zmq.DEALER)
        tap = ctx.socket(zmq.SUB)
        for sock, ep in ((member, eps.members), (control, eps.control), (tap, eps.tap)):
            sock.linger = 0
            sock.connect(ep)
        tap.setsockopt(zmq.SUBSCRIBE, b"")
        body = msgpack.packb({"name": "intruder", "prefixes": [""], "tracked": True, "critical": True,
                              "pid": os.getpid(), "host": "elsewhere"})
        for sock, frames in ((member, [b"", b"J", b"1", body]), (member, [b"t.", b"bar-like"]),
                             (control, [b"", b"fail", msgpack.packb({"id": 1, "reason": "intruder"})]),
                             (control, [b"", b"members", msgpack.packb({"id": 2})])):
            try:
                sock.send_multipart(frames, zmq.NOBLOCK)
            except zmq.Again:
                pass  # no peer: the handshake was refused
        deadline = time.monotonic() + wait_s
        for name, sock in (("members", member), ("control", control), ("tap", tap)):
            got[name] = sock.recv_multipart() if sock.poll(max(1, int((deadline - time.monotonic()) * 1000))) else None
        for sock in (member, control, tap):
            sock.close(0)
    finally:
        ctx.term()
    return got


@pytest.mark.timeout(60)
def test_without_the_key_no_tcp_endpoint_answers(procs: Procs, tmp_path: Path) -> None:
    """Loopback included: a client of the same user without the key (raw zmq, no CURVE) gets
    nothing from members, control or tap, and cannot fail the run."""
    eps = procs.bus("tcp")
    with BusClient(eps, "listener") as listener, BusClient(eps, "sender") as sender, ControlClient(eps) as ctl:
        listener.join(["t."])
        sender.join([], tracked=False)
        got = _raw_probe(eps, wait_s=0.5)
        for i in range(20):  # traffic a tap would copy
            sender.publish("t.", b"%d" % i)
            listener.recv(0.05)
            listener.ack()
        got.update({k: v for k, v in _raw_probe(eps, wait_s=1.5).items() if v is not None})
        sender.wait_until_idle(5.0)
        stats = ctl.stats()
    assert got == {"members": None, "control": None, "tap": None}
    assert stats["failed"] is None and set(stats["members"]) == {"listener", "sender"} and stats["taps"] == 0
    assert stats["topics"]["t."]["messages"] == 20


def _other_user() -> str:
    """A throw-away unix user (needs root and useradd)."""
    if os.geteuid() != 0:
        pytest.skip("creating a second unix user needs root")
    if shutil.which("useradd") is None:
        pytest.skip("no useradd on this machine")
    name = f"tbprobe{os.getpid() % 100000}"
    done = subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"useradd failed: {done.stderr.strip()}")
    return name


def _as_user(name: str, probe: Callable[[], dict[str, object]]) -> dict[str, object]:
    """Run `probe` in a forked child that has become user `name`; its result, as JSON."""
    import pwd

    user = pwd.getpwnam(name)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no exec (the interpreter lives where that user may not go)
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            os.write(w, json.dumps(probe(), default=repr).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as fh:
        out = fh.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0 and out, "the probe as the other user failed"
    return dict(json.loads(out))


@pytest.mark.timeout(60)
def test_another_local_user_gets_nothing(procs: Procs, tmp_path: Path) -> None:
    name = _other_user()
    try:
        for transport in ("tcp", "ipc"):
            run_dir = tmp_path / transport
            eps = procs.bus(transport, run_dir=run_dir)

            def probe() -> dict[str, object]:
                out = _raw_probe(eps, wait_s=1.0)
                try:
                    (run_dir / ACCESS_KEY_FILE).read_bytes()
                    out["key"] = "read"
                except OSError as exc:
                    out["key"] = type(exc).__name__
                return out

            got = _as_user(name, probe)
            assert got["members"] is None and got["control"] is None and got["tap"] is None, (transport, got)
            assert got["key"] in ("PermissionError", "FileNotFoundError"), (transport, got)  # (ipc: no key at all)
            with ControlClient(eps) as ctl:
                stats = ctl.stats()
            assert stats["failed"] is None and stats["members"] == {}, transport
    finally:
        subprocess.run(["userdel", name], capture_output=True)


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
        for attempt, (label, bad) in enumerate((("no key", no_key), ("wrong key", wrong_key),
                                                ("unknown client key", unknown_client)), start=1):
            with pytest.raises(BusError, match="refused the connection"):
                check_access(bad, timeout=3.0)
            with BusClient(bad, "intruder", bus_silence_timeout=30) as c:
                # a refused DEALER has no peer: a send fails at once once ZeroMQ knows (even this
                # first publish), or the join times out (bounded); nothing reaches the bus (below)
                with pytest.raises((JoinError, zmq.Again)):
                    c.publish("t.", b"\x01")
                    c.join(["t."], timeout=1.0)
                # its refusal (a kind of its own) is logged before the client goes
                _wait_log(run_dir / "bus.log", "refused a connection to members", count=attempt)
            with Tap(bad, [""]) as tap:
                time.sleep(0.2)
                assert tap.recv(0.3) == [], label
            with ControlClient(bad, timeout=0.5) as bad_ctl, pytest.raises(BusLost):
                bad_ctl.stats()
            stats = ctl.stats()
            assert stats["members"] == {} and stats["messages"] == 0 and stats["taps"] == 0, label
    log = _wait_log(run_dir / "bus.log", "refused a connection to members", "mechanism mismatch", "wrong server key",
                    "client key not allowed")
    assert "refused a connection to members" in log and "mechanism mismatch" in log
    assert "wrong server key" in log and "client key not allowed" in log
