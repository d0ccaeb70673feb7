"""Partial acks and waits that do not block: deliveries a member holds unacknowledged stay pending
(no WAIT returns meanwhile); request_idle is answered once they are acknowledged, and
take_idle_reply tells answers to older requests from the one asked about."""

from __future__ import annotations

import time

import pytest
from bus_testkit import Procs

from bus import BusClient, IdleTimeout


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


def test_held_deliveries_stay_pending_until_acknowledged(procs: Procs, transport: str) -> None:
    eps = procs.bus(transport)
    with BusClient(eps, "feed") as feed, BusClient(eps, "holder") as holder:
        feed.join([], tracked=False)
        holder.join(["feed."])
        for i in range(3):
            feed.publish("feed.", b"%d" % i)
        held = _recv_all(holder, 3)
        assert [p for _, p in held] == [b"0", b"1", b"2"]

        holder.ack(1)  # the other two stay pending
        assert holder.unacked == 2
        # (the ACK and the stats request travel on two members' connections: poll, bounded)
        deadline = time.monotonic() + 10.0
        while feed.stats()["members"]["holder"]["pending"] != 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert feed.stats()["members"]["holder"]["pending"] == 2
        with pytest.raises(IdleTimeout, match="holder=2"):
            feed.wait_until_idle(0.5)

        old = feed.request_idle(10.0)
        new = feed.request_idle(10.0)
        assert not _answered(feed, new, 0.3), "two deliveries are still pending"
        holder.ack()
        assert _answered(feed, new, 10.0)
        assert not feed.take_idle_reply(old)  # answered too, but not what was asked about
        feed.wait_until_idle(10.0)
