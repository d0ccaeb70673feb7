"""The run's policy (bus/policy.py): only joined members publish, each only what its role owns;
whether a joiner's loss fails the run is the run's decision, and a member that cannot fail the run
cannot stall it either. Real bus processes, real sockets."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
import zmq
from bus_testkit import HERE, Procs

from bus import (BusClient, BusError, ControlClient, IdleTimeout, JoinError, MemberLost, spawn_bus_process,
                 start_bus_process, wait_bus_ready)
from bus import protocol as P
from bus.policy import EXPECTED, OPEN, OWN, SURPRISE, Admission, Policy
from bus.security import secure_client

HB = 0.5  # heartbeat timeout of these buses: a closed client is lost within ~1 s


def _policy_bus(procs: Procs, tmp_path: Path, policy: dict[str, Any], transport: str = "ipc", **kw: Any):  # type: ignore[no-untyped-def]
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    return procs.bus(transport, run_dir=tmp_path / "run", heartbeat_timeout=HB, extra_args=["--policy", str(path)], **kw)


def _drain(client: BusClient, seconds: float) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got += client.recv(0.05)
        client.ack()
    return got


def _wait_lost(ctl: ControlClient, name: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stats = ctl.stats()
        if name in stats["lost_members"]:
            return stats
        assert time.monotonic() < deadline, f"{name} was never lost"
        time.sleep(0.05)


def test_policy_rules() -> None:
    policy = Policy.from_dict({
        "members": {"own": {"critical": True, "publish": ["a."]}, "weak": {"critical": False, "publish": []}},
        "attachers": {"expected": 2, "on_loss": "fail", "publish": ["req.{name}.", "done."]},
    })
    assert policy.admit("own", True) == Admission(OWN, True, (b"a.",))
    assert policy.admit("own", False).critical is False  # a member may lower its criticality ...
    assert policy.admit("weak", True).critical is False  # ... never raise it beyond the run's
    assert policy.admit("x", True) == Admission(EXPECTED, True, (b"req.x.", b"done."))
    assert policy.admit("y", False) == Admission(EXPECTED, False, (b"req.y.", b"done."))  # asked for drop
    assert policy.admit("z", True) == Admission(SURPRISE, False, (b"req.z.", b"done."))  # beyond the expected
    assert "one topic segment" in str(policy.admit("a.b", True))
    dropping = Policy.from_dict({"attachers": {"expected": 1, "on_loss": "drop"}})
    assert dropping.admit("x", True) == Admission(EXPECTED, False, ())
    assert Policy.without_rules().admit("anyone", True) == Admission(OPEN, True, None)
    for bad, why in (({"members": {"a": {"publish": ["a"]}}}, "does not end with '.'"),
                     ({"attachers": {"on_loss": "maybe"}}, "'maybe' is not 'fail' or 'drop'"),
                     ({"attachers": {"expected": -1}}, "is not a count"),
                     ({"members": {"a": {"critical": "yes"}}}, "is not true or false"),
                     ({"member": {}}, "unknown key(s) 'member'")):
        with pytest.raises(ValueError) as err:
            Policy.from_dict(bad)
        assert why in str(err.value), (bad, err.value)


@pytest.mark.timeout(60)
def test_a_connection_that_never_joined_publishes_nothing(procs: Procs, tmp_path: Path, transport: str) -> None:
    """Issue 13 item 3: a bar-like frame from a connection that never joined is refused, counted
    and logged, never delivered (any bus: with or without a policy)."""
    eps = procs.bus(transport, run_dir=tmp_path / "run")
    ctx = zmq.Context()
    raw = ctx.socket(zmq.DEALER)
    secure_client(raw, eps)
    raw.linger = 0
    raw.connect(eps.members)
    try:
        with BusClient(eps, "listener") as listener, BusClient(eps, "pub") as pub:
            listener.join(["BarReceived."])
            pub.join([], tracked=False)
            raw.send_multipart([b"BarReceived.feed.", b"bar-like"])
            raw.send_multipart([b"BarReceived.feed.", b"bar-like", b"", P.STATS, b"1"])  # its reply: proof it was read
            assert raw.poll(5000) and raw.recv_multipart()[1] == P.STATS_REPLY
            pub.publish("BarReceived.feed.", b"real")
            got = _drain(listener, 0.5)
            pub.wait_until_idle(5.0)
            stats = pub.stats()
        assert got == [("BarReceived.feed.", b"real")]
        assert stats["refused"] == 2 and stats["topics"]["BarReceived.feed."]["messages"] == 1
    finally:
        raw.close(0)
        ctx.term()
    log = (tmp_path / "run" / "bus.log").read_text()
    assert "PUBLISH b'BarReceived.feed.' refused: a connection that has not joined may not publish it" in log


@pytest.mark.timeout(60)
def test_each_member_publishes_only_what_its_role_owns(procs: Procs, tmp_path: Path) -> None:
    eps = _policy_bus(procs, tmp_path, {
        "members": {"feed": {"publish": ["bar."]}, "strat": {"publish": ["req.strat."]}, "quiet": {"publish": []}},
        "attachers": {"expected": 0, "publish": ["req.{name}."]},
    })
    with BusClient(eps, "listener") as listener, BusClient(eps, "feed") as feed, BusClient(eps, "strat") as strat, \
            BusClient(eps, "quiet") as quiet, BusClient(eps, "att") as att:
        listener.join([""], tracked=False)  # a surprise joiner may still listen
        for c in (feed, strat, quiet, att):
            c.join([], tracked=False)
        for client, topic in ((feed, "bar."), (feed, "req.strat."), (strat, "req.strat."), (strat, "req.other."),
                              (strat, "req.strat."), (quiet, "bar."), (att, "req.att."), (att, "req.strat."),
                              (att, "bar.")):
            client.publish(topic, client.name.encode())
        for c in (feed, strat, quiet, att):
            c.wait_until_idle(5.0)
        got = _drain(listener, 0.5)
        stats = listener.stats()
    assert sorted(got) == [("bar.", b"feed"), ("req.att.", b"att"), ("req.strat.", b"strat"), ("req.strat.", b"strat")]
    refused = {n: m["refused"] for n, m in stats["members"].items()}
    assert refused == {"listener": 0, "feed": 1, "strat": 1, "quiet": 1, "att": 2} and stats["refused"] == 5
    assert {n: m["admission"] for n, m in stats["members"].items()} == {
        "listener": SURPRISE, "feed": OWN, "strat": OWN, "quiet": OWN, "att": SURPRISE}
    log = (tmp_path / "run" / "bus.log").read_text()
    assert "PUBLISH b'req.other.' refused: member 'strat' may not publish it" in log


@pytest.mark.timeout(60)
def test_whether_a_loss_fails_the_run_is_the_runs_decision(procs: Procs, tmp_path: Path,
                                                             request: pytest.FixtureRequest) -> None:
    """Issue 13 item 2: a surprise joiner (beyond the expected attachers) and one that asked for
    drop are dropped when lost, whatever they asked; an expected attacher's loss fails the run."""
    eps = _policy_bus(procs, tmp_path, {"members": {"driver": {"publish": []}},
                                        "attachers": {"expected": 2, "on_loss": "fail", "publish": []}})
    with BusClient(eps, "driver") as driver, ControlClient(eps) as ctl:
        driver.join([], tracked=False)
        first, lowered, surprise = clients = [BusClient(eps, n) for n in ("first", "lowered", "surprise")]
        request.addfinalizer(lambda: [c.close() for c in clients])
        first.join(["x."], critical=True)
        lowered.join(["x."], critical=False)
        surprise.join(["x."], critical=True)  # asks to be critical: the run did not expect it
        assert (driver.critical, first.critical, lowered.critical, surprise.critical) == (True, True, False, False)
        admissions = {n: m["admission"] for n, m in ctl.members().items()}
        assert admissions == {"driver": OWN, "first": EXPECTED, "lowered": EXPECTED, "surprise": SURPRISE}
        for victim in (surprise, lowered):  # goes quiet without leaving (as if killed)
            victim.close()
            stats = _wait_lost(ctl, victim.name)
            assert stats["failed"] is None and victim.name not in stats["members"]
        driver.wait_until_idle(5.0)
        first.close()
        _wait_lost(ctl, "first")
        with pytest.raises(MemberLost, match="first"):
            driver.wait_until_idle(5.0)


@pytest.mark.timeout(60)
def test_a_member_that_cannot_fail_the_run_cannot_stall_it(procs: Procs, tmp_path: Path) -> None:
    """A surprise joiner that takes deliveries and never acknowledges them is dropped once the
    stall bound passes (the wait then succeeds); a critical member that stalls still fails it."""
    eps = _policy_bus(procs, tmp_path, {"members": {"driver": {"publish": ["job."]}, "worker": {"publish": []}}})
    with BusClient(eps, "driver") as driver, BusClient(eps, "worker") as worker, BusClient(eps, "lazy") as lazy:
        driver.join([], tracked=False)
        worker.join(["job."])
        lazy.join(["job."], critical=True)
        driver.publish("job.", b"1")
        assert len(worker.recv(5.0)) == 1 and len(lazy.recv(5.0)) == 1  # lazy never acks
        worker.ack()
        rid = driver.request_idle(1.0, stall=True)
        started = time.monotonic()
        while not driver.take_idle_reply(rid):
            driver.recv(0.05)
            assert time.monotonic() - started < 10, "the wait never ended"
        stats = driver.stats()
        assert "lazy" in stats["lost_members"] and "no progress for 1 s" in stats["lost_members"]["lazy"]
        assert stats["failed"] is None
        driver.publish("job.", b"2")
        assert len(worker.recv(5.0)) == 1  # and never acks: the worker is the run's own
        rid = driver.request_idle(1.0, stall=True)
        with pytest.raises(IdleTimeout, match=r"no progress for 1 s; pending: worker=1"):
            while not driver.take_idle_reply(rid):
                driver.recv(0.05)
        assert "worker" in driver.stats()["members"]
        worker.ack()


@pytest.mark.timeout(60)
def test_a_hosted_member_obeys_the_policy(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"members": {"echo": {"publish": ["pong."]}, "driver": {"publish": ["ping."]}}}))
    run_dir = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")]))
    proc = spawn_bus_process(run_dir, env=env, module="hosted_echo", extra_args=["--policy", str(policy)])
    try:
        wait_bus_ready(proc, run_dir, 20.0)
        with BusClient(run_dir, "driver") as driver, BusClient(run_dir, "listener") as listener:
            driver.join([], tracked=False)
            listener.join(["pong.", "bye."])
            driver.publish("ping.", b"1")
            got = []
            deadline = time.monotonic() + 5
            while not got and time.monotonic() < deadline:
                got += listener.recv(0.1)
                listener.ack()
            assert got == [("pong.", b"1")]
            with ControlClient(run_dir) as ctl:
                ctl.stop_member("echo")  # its stop() publishes "bye.", which it may not
                stats = ctl.stats()
            assert _drain(listener, 0.3) == [] and stats["refused"] == 1
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_a_bad_policy_file_stops_the_bus_with_a_clear_error(tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"attachers": {"on_loss": "maybe"}}))
    with pytest.raises(BusError, match=r"policy .*policy.json: attachers.on_loss: 'maybe' is not 'fail' or 'drop'"):
        start_bus_process(tmp_path / "run", extra_args=["--policy", str(policy)], timeout=20.0)


@pytest.mark.timeout(30)
def test_a_name_that_cannot_stand_in_the_topics_is_refused(procs: Procs, tmp_path: Path) -> None:
    eps = _policy_bus(procs, tmp_path, {"attachers": {"publish": ["req.{name}."]}})
    with BusClient(eps, "a.b") as c, pytest.raises(JoinError, match="one topic segment"):
        c.join([])
    with BusClient(eps, "ab") as c:
        c.join([])
        c.publish("req.ab.", msgpack.packb(1))
        c.wait_until_idle(5.0)
        assert c.stats()["refused"] == 0
