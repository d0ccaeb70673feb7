"""InProcessBus: same client interface, same delivery and idle semantics as the bus process."""

from __future__ import annotations

import random
import threading
import time

import msgpack
import pytest

from bus import BusLost, IdleTimeout, InProcessBus, JoinError, MemberLost
from bus_testkit import echoes

FAN = [f"f{i}" for i in range(8)]


def _member(bus: InProcessBus, name: str, prefixes: list[str], react: str | None, seed: int,
            **join: bool) -> threading.Thread:
    c = bus.client(name)
    c.join(prefixes, **join)
    rng = random.Random(seed)

    def loop() -> None:
        while not c.stop_requested:
            msgs = c.recv(0.2)
            if not msgs:
                continue
            done = []
            for _topic, payload in msgs:
                rnd, path = msgpack.unpackb(payload)
                if rng.random() < 0.02:
                    time.sleep(rng.random() * 0.002)
                if react:
                    c.publish(react.replace("{name}", name), msgpack.packb([rnd, path + [name]]))
                done.append([rnd, path])
            if rng.random() < 0.02:
                time.sleep(rng.random() * 0.002)
            c.publish(f"done.{name}.", msgpack.packb(done))
            c.ack()
        c.leave()

    t = threading.Thread(target=loop, name=name, daemon=True)
    t.start()
    return t


@pytest.mark.timeout(60)
def test_inprocess_barrier_chain_fanout() -> None:
    bus = InProcessBus()
    threads = [_member(bus, f, ["r0."], "r1.{name}.", i) for i, f in enumerate(FAN)]
    threads.append(_member(bus, "c1", ["r1."], "r2.", 50))
    threads.append(_member(bus, "c2", ["r2."], None, 51))
    drv = bus.client("driver")
    drv.join(["done."], tracked=False)
    for rnd in range(1000):
        drv.publish("r0.", msgpack.packb([rnd, ["d0"]]))
        drv.wait_until_idle(10)
        got = sorted(echoes(drv.recv(0)))
        want = sorted([(f, rnd, ("d0",)) for f in FAN] + [("c1", rnd, ("d0", f)) for f in FAN]
                      + [("c2", rnd, ("d0", f, "c1")) for f in FAN])
        assert got == want, f"round {rnd}: {len(got)}/{len(want)}"
    stats = bus.stats()
    assert stats["barrier"]["rounds"] == 1000 and stats["malformed"] == 0
    assert all(m["pending"] == 0 for m in stats["members"].values() if m["tracked"])
    bus.shutdown()
    for t in threads:
        t.join(5)
        assert not t.is_alive()


def test_inprocess_semantics_match_the_bus() -> None:
    bus = InProcessBus(max_trailing_backlog=2)
    pub, m, rec, dup = bus.client("pub"), bus.client("m"), bus.client("rec"), bus.client("m")
    pub.join([], tracked=False)
    m.join(["BarReceived.AAPL."])
    rec.join([""], trailing=True)
    with pytest.raises(JoinError, match="already joined"):
        dup.join(["x."])
    with pytest.raises(JoinError, match="end with"):
        bus.client("bad").join(["BarReceived.AAPL"])
    for topic in ("BarReceived.AAPLX.", "BarReceived.AAPL."):
        pub.publish(topic, b"p")
    assert [t for t, _ in m.recv(1)] == ["BarReceived.AAPL."]
    with pytest.raises(IdleTimeout, match="m=1"):
        pub.wait_until_idle(0.05)
    m.ack()
    pub.wait_until_idle(1, include_trailing=False)  # rec lags by 2 <= 2
    with pytest.raises(IdleTimeout, match=r"rec=2 \(trailing\)"):
        pub.wait_until_idle(0.05)
    assert len(rec.recv(1)) == 2
    rec.ack()
    pub.wait_until_idle(1)
    stats = bus.stats()
    assert set(stats) >= {"uptime_s", "topics", "members", "barrier", "malformed", "failed",
                          "lost_members", "taps"}
    assert stats["topics"]["BarReceived.AAPLX."] == {"messages": 1, "bytes": 1}
    assert set(stats["members"]["m"]) >= {"tracked", "trailing", "critical", "pid", "delivered",
                                          "acknowledged", "pending", "heartbeat_age_s", "published"}
    pub.publish("BarReceived.AAPL.", b"p")
    m.leave()  # pending dropped without error
    rec.recv(1)
    rec.ack()
    pub.wait_until_idle(1)
    # a member closed without leaving is lost; a critical one fails the bus
    rec.close()
    with pytest.raises(MemberLost, match="rec"):
        pub.wait_until_idle(1)
    assert "rec" in bus.stats()["lost_members"]


def test_inprocess_stop_fail_and_shutdown() -> None:
    bus = InProcessBus()
    a, pub = bus.client("a"), bus.client("pub")
    a.join(["x."])
    pub.join([], tracked=False)
    bus.stop_member("a")
    assert a.recv(1) == [] and a.stop_requested
    pub.publish("x.", b"")
    errors: list[BaseException] = []
    t = threading.Thread(target=lambda: _catch(errors, lambda: pub.wait_until_idle(10)))
    t.start()
    time.sleep(0.05)
    bus.fail("orchestrator: broker died")
    t.join(5)
    assert isinstance(errors[0], MemberLost) and "broker died" in str(errors[0])
    bus2 = InProcessBus()
    w, p2 = bus2.client("w"), bus2.client("p2")
    w.join(["y."])
    p2.publish("y.", b"")
    bus2.shutdown()
    with pytest.raises(BusLost):
        p2.wait_until_idle(1)


def _catch(errors: list[BaseException], fn) -> None:  # type: ignore[no-untyped-def]
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001
        errors.append(exc)
