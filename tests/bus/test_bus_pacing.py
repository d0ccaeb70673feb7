"""Pacing: a member holding deliveries asks, without blocking, to hear when its own outputs have
been processed by everyone else (WAIT with exclude_self); partial acks keep the rest pending."""

from __future__ import annotations

import time

from bus_testkit import Procs

from bus import BusClient


def _recv_all(client: BusClient, n: int, timeout: float = 10.0) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        got += client.recv(0.2)
    assert len(got) == n, got
    return got


def _answered(client: BusClient, rid: bytes, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client.recv(0.05)
        if client.take_idle_reply(rid):
            return True
    return False


def test_held_deliveries_stay_pending_and_exclude_self_waits_only_for_others(procs: Procs, transport: str) -> None:
    eps = procs.bus(transport)
    with BusClient(eps, "feed") as feed, BusClient(eps, "pacer") as pacer, BusClient(eps, "worker") as worker:
        feed.join([], tracked=False)
        pacer.join(["feed."])
        worker.join(["work."])
        for i in range(3):
            feed.publish("feed.", b"%d" % i)
        held = _recv_all(pacer, 3)
        assert [p for _, p in held] == [b"0", b"1", b"2"]

        # release one: publish work, ack only the released delivery, ask about the others
        pacer.publish("work.", b"job-0")
        pacer.ack(1)
        rid = pacer.request_idle(10.0)
        assert not _answered(pacer, rid, 0.5), "worker has not processed job-0 yet"
        (job,) = _recv_all(worker, 1)
        assert job == ("work.", b"job-0")
        worker.ack()
        assert _answered(pacer, rid, 10.0), "everyone else is done: the pacer must hear it"

        # its own held deliveries (2 pending) did not count, but they do for a plain waiter
        stats = pacer.stats()
        assert stats["members"]["pacer"]["pending"] == 2
        try:
            feed.wait_until_idle(0.5)
            raise AssertionError("a plain WAIT must not return while the pacer holds deliveries")
        except Exception as exc:  # IdleTimeout naming the pacer
            assert "pacer=2" in str(exc)

        # a stale answer is ignored: ask twice, only the latest request counts
        pacer.publish("work.", b"job-1")
        pacer.ack(1)
        old = pacer.request_idle(10.0)
        pacer.publish("work.", b"job-2")
        new = pacer.request_idle(10.0)
        jobs = _recv_all(worker, 2)
        assert [p for _, p in jobs] == [b"job-1", b"job-2"]
        worker.ack()
        assert _answered(pacer, new, 10.0)
        assert not pacer.take_idle_reply(old)
        pacer.ack()
        feed.wait_until_idle(10.0)
