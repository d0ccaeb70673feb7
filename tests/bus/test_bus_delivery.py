"""Deliveries: the copies for one member of the PUBLISH records of one message travel as one."""

from __future__ import annotations

import os
from pathlib import Path

import msgpack
import pytest
import zmq

from bus import BusClient
from bus import protocol as P
from bus_testkit import Procs


@pytest.mark.timeout(30)
def test_records_of_one_message_reach_a_member_as_one_message_in_order(procs: Procs, tmp_path: Path) -> None:
    eps = procs.bus("ipc")
    ctx = zmq.Context()
    raw = ctx.socket(zmq.DEALER)
    raw.setsockopt(zmq.LINGER, 0)
    raw.setsockopt(zmq.ROUTING_ID, b"m" + os.urandom(15))
    raw.connect(eps.members)
    try:
        raw.send_multipart([P.DELIM, P.JOIN, b"1", msgpack.packb(
            {"name": "raw", "prefixes": ["x."], "tracked": False, "critical": False, "host": "elsewhere"})])
        assert raw.poll(5000) and raw.recv_multipart()[3] == P.OK
        with BusClient(eps, "sub") as sub, BusClient(eps, "pub") as pub:
            sub.join(["x.", "y."], tracked=False)
            pub.join(["go."], tracked=False)
            raw.send_multipart([b"go.", b""])
            assert pub.recv(5.0) == [("go.", b"")]  # while a delivery is unacked, publishes are held
            for topic, payload in (("x.a.", b"1"), ("y.", b"2"), ("x.b.", b"3")):
                pub.publish(topic, payload)
            pub.ack()  # the three PUBLISH records and the ACK as one message
            assert raw.poll(5000)
            assert raw.recv_multipart() == [b"x.a.", b"1", b"x.b.", b"3"]
            assert not raw.poll(200)  # nothing else: the two went as one
            got: list[tuple[str, bytes]] = []
            while len(got) < 3:
                got += sub.recv(5.0)
            assert got == [("x.a.", b"1"), ("y.", b"2"), ("x.b.", b"3")]
    finally:
        raw.close(0)
        ctx.term()
