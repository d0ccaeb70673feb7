"""Small pieces: topic/prefix rules, endpoints file, registry bookkeeping, stats shape, endpoints."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

import bus
from bus import BusClient, BusError, ControlClient, Endpoints
from bus import protocol as P
from bus.registry import LatencyRing, Member, Registry
from bus_testkit import Procs


def test_topic_and_prefix_rules() -> None:
    assert P.topic_error(b"BarReceived.AAPL.") is None
    assert P.topic_error(b"") and P.topic_error(b"BarReceived.AAPL") and P.topic_error(b"\xff.")
    assert P.prefix_error("") is None and P.prefix_error("FillEvent.s1.") is None
    assert P.prefix_error("FillEvent.s1") and P.prefix_error(3)
    assert P.matches(b"FillEvent.s1.", (b"FillEvent.s1.",))
    assert not P.matches(b"FillEvent.s10.", (b"FillEvent.s1.",))


def test_protocol_doc_names_every_kind() -> None:
    doc = P.__doc__ or ""
    for name in ("JOIN", "WAIT", "ACK", "LEAVE", "STATS", "HEARTBEAT", "PUBLISH", "DELIVER", "STOP",
                 "REPLY", "HEARTBEAT_REPLY"):
        assert name in doc, name
    for kind in P.COMMAND_FRAMES:
        assert f", {kind.decode()}," in doc, kind
    for cmd in P.CONTROL_COMMANDS:
        assert cmd.decode() in doc, cmd


def test_endpoints_roundtrip(tmp_path: Path) -> None:
    eps = Endpoints(members="ipc:///a", control="ipc:///b", tap="ipc:///c", pid=42, transport="ipc")
    eps.save(tmp_path / "endpoints.json")
    assert Endpoints.load(tmp_path) == eps == Endpoints.load(tmp_path / "endpoints.json")
    assert not [p for p in tmp_path.iterdir() if p.name != "endpoints.json"]  # no temp left over
    assert json.loads((tmp_path / "endpoints.json").read_text())["curve_server_key"] is None


def test_registry_routes_and_counts() -> None:
    reg = Registry(max_trailing_backlog=1)
    a = Member("a", b"A", ["x."], tracked=True)
    r = Member("r", b"R", [""], trailing=True)
    u = Member("u", b"U", ["x.", "x.y."], tracked=False)
    for m in (a, r, u):
        reg.add(m)
    targets, st, n_main, n_trail = reg.route(b"x.y.")  # type: ignore[misc]
    assert targets == (a, r, u) and (n_main, n_trail) == (1, 1)  # u matches twice, gets one copy
    assert reg.route(b"bad") is None
    reg.pending_main, reg.pending_trailing, a.pending, r.pending = 1, 1, 1, 1
    assert not reg.idle(False)
    assert reg.ack(a, 1) is None and reg.idle(False) and not reg.idle(True)
    assert reg.ack(r, 5) is not None and r.pending == 0 and reg.idle(True)  # over-ack clamped
    reg.remove(u, "left")
    assert reg.route(b"x.")[0] == (a, r)  # type: ignore[index]
    assert reg.lose(a, "process 1 exited") == "member 'a' lost: process 1 exited"
    assert reg.failed_member == "a" and reg.lost == {"a": "process 1 exited"}
    assert reg.refuse("z", b"Z") is not None  # a failed bus takes no new members


def test_latency_ring_is_bounded() -> None:
    ring = LatencyRing(100)
    for i in range(1000):
        ring.add(i / 1e6)
    s = ring.summary()
    assert ring.count == 1000 and s["max_us"] == 999.0 and 900 <= s["p50_us"] <= 999


def test_stats_shape_and_control_requests(procs: Procs, tmp_path: Path) -> None:
    eps = procs.bus("tcp")
    assert eps.members.startswith("tcp://127.0.0.1:") and eps.transport == "tcp"
    with ControlClient(eps) as ctl, BusClient(eps, "m") as m, BusClient(eps, "p") as p:
        assert ctl.ping() == eps.pid
        m.join(["a."])
        p.join([], tracked=False)
        p.publish("a.b.", b"12345")
        assert m.recv(2) == [("a.b.", b"12345")]
        m.ack()
        p.wait_until_idle(5)
        s = ctl.stats()
        assert set(s) >= {"uptime_s", "topics", "members", "barrier", "malformed", "failed",
                          "lost_members", "taps"}
        assert s["topics"]["a.b."] == {"messages": 1, "bytes": 5}
        mi = s["members"]["m"]
        assert set(mi) >= {"tracked", "trailing", "critical", "pid", "delivered", "acknowledged",
                           "pending", "heartbeat_age_s", "published"}
        assert (mi["delivered"], mi["acknowledged"], mi["pending"]) == (1, 1, 0)
        assert s["members"]["p"]["published"] == 1 and mi["heartbeat_age_s"] < 1.0
        assert set(s["barrier"]) >= {"rounds", "p50_us", "p99_us", "max_us", "waiting"}
        assert s["barrier"]["rounds"] == 1 and s["failed"] is None and s["taps"] == 0
        assert set(ctl.members()) == {"m", "p"} == set(m.stats()["members"])  # members can ask too
        with pytest.raises(BusError, match="no member named"):
            ctl.stop_member("nobody")
        m.leave()
        p.leave()


def test_ipc_run_dir_is_private_and_long_paths_work(procs: Procs, tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    eps = procs.bus("ipc", run_dir=deep)
    assert stat.S_IMODE(deep.stat().st_mode) == 0o700
    path = Path(eps.members[len("ipc://"):])
    assert len(str(path)) < 108 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with BusClient(deep, "m") as m:
        m.join(["x."])
        t0 = time.monotonic()
        m.wait_until_idle(5)
        assert time.monotonic() - t0 < 5
        m.leave()


def test_package_exports() -> None:
    for name in ("BusClient", "ControlClient", "Endpoints", "start_bus_process", "MemberClient", "MemberLink",
                 "BusError", "MemberLost", "IdleTimeout", "BusLost", "JoinError"):
        assert hasattr(bus, name), name
    assert issubclass(bus.MemberLost, bus.BusError) and issubclass(bus.JoinError, bus.BusError)
