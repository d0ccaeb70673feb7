#!/usr/bin/env python3
"""Benchmark the bus: barrier rounds/s and round latency for reaction chains and fan-outs, over
ipc and tcp (which, as every tcp bus, encrypts with CURVE), next to a raw pyzmq REQ/REP round trip
between two processes and a bare relay (the yardsticks, unencrypted).

A round = the publisher (this process) publishes one message on "b0." and waits until idle.
Topology (depth d, fan-out f): f parallel chains of d members each; member (level k, chain j)
receives level k-1's output and, unless it is last, publishes "b{k}.{j}.". So a round crosses
d+1 hops of the bus on its critical path and f*d messages are processed.

    python scripts/bench_bus.py [--quick] [--json] [--full] [--transports ipc,tcp]

Not a test: numbers depend on the machine. Targets (2 cores): depth-2 chain p50 <= 4 raw round
trips; >= 10,000 messages/s through the bus with batched acks (the "throughput" lines).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from typing import Any

import zmq

from bus import BusClient, ControlClient, start_bus_process
from bus.control import Joined

PAYLOAD = b"x" * 64


# ---------------------------------------------------------------------------- child modes
def run_member(cfg: dict[str, Any]) -> int:
    """A bench member: forward each delivery to out_topic (if any), ack per drained batch."""
    c = BusClient(cfg["endpoints"], cfg["name"])
    c.join(cfg["prefixes"], tracked=True)
    out = cfg.get("out")
    try:
        while not c.stop_requested:
            msgs = c.recv(1.0)
            if out:
                for _topic, payload in msgs:
                    c.publish(out, payload)
            c.ack()
        c.leave()
    finally:
        c.close()
    return 0


def run_rep(transport: str) -> int:
    """Raw yardstick peer: a REP socket echoing every request."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    s = ctx.socket(zmq.REP)
    if transport == "ipc":
        d = tempfile.mkdtemp(prefix="tb-rtt-")
        s.bind(f"ipc://{d}/rep.sock")
    else:
        s.bind("tcp://127.0.0.1:*")
    print(s.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    while True:
        msg = s.recv()
        if msg == b"quit":
            s.send(b"bye")
            return 0
        s.send(msg)


def run_relay(transport: str) -> int:
    """Raw relay yardstick: a bare ROUTER forwarding [dest, payload] -- the bus's routing
    with none of its bookkeeping. Peers say hello with their name first."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    r = ctx.socket(zmq.ROUTER)
    if transport == "ipc":
        r.bind(f"ipc://{tempfile.mkdtemp(prefix='tb-relay-')}/relay.sock")
    else:
        r.bind("tcp://127.0.0.1:*")
    print(r.getsockopt_string(zmq.LAST_ENDPOINT), flush=True)
    peers: dict[bytes, bytes] = {}
    while True:
        ident, dest, payload = r.recv_multipart()
        if dest == b"hello":
            peers[payload] = ident
            r.send_multipart([ident, b"ok", b""])
        elif dest == b"quit":
            return 0
        elif dest in peers:  # (messages to peers that have not said hello yet are dropped)
            r.send_multipart([peers[dest], ident, payload])


def run_relay_member(endpoint: str, name: str, nxt: str) -> int:
    """Raw relay peer: forward whatever arrives to `nxt` (through the relay)."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    d = ctx.socket(zmq.DEALER)
    d.connect(endpoint)
    d.send_multipart([b"hello", name.encode()])
    d.recv_multipart()
    out = nxt.encode()
    while True:
        _src, payload = d.recv_multipart()
        if payload == b"quit":
            return 0
        d.send_multipart([out, payload])


def raw_relay(transport: str, depth: int, n: int) -> float:
    """p50 of a round through a bare relay and a chain of `depth` raw peers, microseconds:
    the same 2*(depth+1) hops as a bus round, without tracking (the floor for a Python bus)."""
    relay = subprocess.Popen([sys.executable, __file__, "--relay", transport], stdout=subprocess.PIPE)
    peers = []
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    d = ctx.socket(zmq.DEALER)
    try:
        assert relay.stdout is not None
        ep = relay.stdout.readline().decode().strip()
        names = [f"p{k}" for k in range(depth)] + ["pub"]
        for k in range(depth):
            peers.append(subprocess.Popen([sys.executable, __file__, "--relay-member",
                                           json.dumps([ep, names[k], names[k + 1]])]))
        d.connect(ep)
        d.send_multipart([b"hello", b"pub"])
        d.recv_multipart()
        deadline = time.monotonic() + 10
        while True:  # probe until the whole chain has said hello
            d.send_multipart([b"p0", PAYLOAD])
            if d.poll(100):
                d.recv_multipart()
                break
            if time.monotonic() > deadline:
                raise RuntimeError("raw relay chain did not come up")
        while d.poll(50):
            d.recv_multipart()
        lat = []
        for i in range(n + 200):
            t0 = time.perf_counter()
            d.send_multipart([b"p0", PAYLOAD])
            d.recv_multipart()
            if i >= 200:
                lat.append(time.perf_counter() - t0)
        return pct(lat, 0.5) * 1e6
    finally:
        for k in range(depth):
            d.send_multipart([f"p{k}".encode(), b"quit"])
        d.send_multipart([b"quit", b""])
        d.close(0)
        for p in peers + [relay]:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()


# ---------------------------------------------------------------------------- measurements
def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * q))] if s else 0.0


def raw_rtt(transport: str, n: int) -> float:
    """p50 of a REQ/REP round trip between this process and a child, in microseconds."""
    child = subprocess.Popen([sys.executable, __file__, "--rep", transport], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        ep = child.stdout.readline().decode().strip()
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        s = ctx.socket(zmq.REQ)
        s.connect(ep)
        lat = []
        for i in range(n + 200):
            t0 = time.perf_counter()
            s.send(PAYLOAD)
            s.recv()
            if i >= 200:
                lat.append(time.perf_counter() - t0)
        s.send(b"quit")
        s.recv()
        s.close(0)
        return pct(lat, 0.5) * 1e6
    finally:
        child.wait(5)


def spawn_members(eps: str, depth: int, fanout: int) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    procs, names = [], []
    for k in range(1, depth + 1):
        for j in range(fanout):
            name = f"L{k}C{j}"
            cfg = {
                "endpoints": eps, "name": name,
                "prefixes": ["b0."] if k == 1 else [f"b{k - 1}.{j}."],
                "out": f"b{k}.{j}." if k < depth else None,
            }
            procs.append(subprocess.Popen([sys.executable, __file__, "--member", json.dumps(cfg)]))
            names.append(name)
    return procs, names


def stop_members(ctl: ControlClient, procs: list[subprocess.Popen[bytes]], names: list[str]) -> None:
    for n in names:
        try:
            ctl.stop_member(n)
        except Exception:  # noqa: BLE001
            pass
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def rounds(pub: Any, seconds: float, batch: int = 1) -> tuple[int, list[float], float]:
    """Run barrier rounds for `seconds`; returns (rounds, latencies, elapsed)."""
    for _ in range(50):  # warm-up
        for _ in range(batch):
            pub.publish("b0.", PAYLOAD)
        pub.wait_until_idle(10)
    lat = []
    t_start = time.perf_counter()
    end = t_start + seconds
    n = 0
    while True:
        t0 = time.perf_counter()
        for _ in range(batch):
            pub.publish("b0.", PAYLOAD)
        pub.wait_until_idle(10)
        t1 = time.perf_counter()
        lat.append(t1 - t0)
        n += 1
        if t1 >= end:
            return n, lat, t1 - t_start


def bench_transport(transport: str, shapes: list[tuple[int, int]], seconds: float,
                    throughput_batches: list[int]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    cases, tput = [], []
    with tempfile.TemporaryDirectory(prefix="tb-bench-") as run_dir:
        proc, eps = start_bus_process(run_dir, transport=transport, heartbeat_timeout=5.0)
        ctl = ControlClient(eps)
        pub = BusClient(eps, "publisher")
        pub.join([], tracked=False)
        try:
            for depth, fanout in shapes:
                procs, names = spawn_members(run_dir, depth, fanout)
                try:
                    ctl.wait_members(Joined(names), 30.0, every=0.05)
                    n, lat, el = rounds(pub, seconds)
                    cases.append({"transport": transport, "depth": depth, "fanout": fanout,
                                  "rounds_per_s": round(n / el, 1), "p50_us": round(pct(lat, 0.5) * 1e6, 1),
                                  "p99_us": round(pct(lat, 0.99) * 1e6, 1)})
                finally:
                    stop_members(ctl, procs, names)
            for batch in throughput_batches:
                procs, names = spawn_members(run_dir, 1, 1)
                try:
                    ctl.wait_members(Joined(names), 30.0, every=0.05)
                    n, lat, el = rounds(pub, seconds, batch)
                    tput.append({"transport": transport, "depth": 1, "fanout": 1, "batch": batch,
                                 "messages_per_s": round(n * batch / el), "round_p50_us":
                                 round(pct(lat, 0.5) * 1e6, 1)})
                finally:
                    stop_members(ctl, procs, names)
        finally:
            pub.leave()
            pub.close()
            ctl.shutdown()
            ctl.close()
            proc.wait(10)
    return cases, tput


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short runs (whole script < 30 s)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--full", action="store_true", help="every depth x fan-out combination")
    ap.add_argument("--transports", default="ipc,tcp")
    ap.add_argument("--member", help=argparse.SUPPRESS)
    ap.add_argument("--rep", help=argparse.SUPPRESS)
    ap.add_argument("--relay", help=argparse.SUPPRESS)
    ap.add_argument("--relay-member", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.relay:
        return run_relay(args.relay)
    if args.relay_member:
        return run_relay_member(*json.loads(args.relay_member))
    if args.member:
        return run_member(json.loads(args.member))
    if args.rep:
        return run_rep(args.rep)

    seconds = 0.5 if args.quick else 3.0
    if args.full:
        shapes = [(d, f) for d in (1, 2, 3) for f in (1, 4, 16)]
    else:
        shapes = [(1, 1), (2, 1), (3, 1), (1, 4), (1, 16)]
    transports = [t for t in args.transports.split(",") if t]
    rtt = {t: raw_rtt(t, 1500 if args.quick else 10000) for t in transports}
    relay = {f"{t}/depth{d}": round(raw_relay(t, d, 700 if args.quick else 5000), 1)
             for t in transports for d in (1, 2)}
    cases: list[dict[str, Any]] = []
    tput: list[dict[str, Any]] = []
    for t in transports:
        cs, tp = bench_transport(t, shapes, seconds, [10, 100])
        cases += cs
        tput += tp

    result = {"raw_rtt_us": round(rtt.get("ipc", next(iter(rtt.values()))), 1),
              "raw_rtt_us_by_transport": {k: round(v, 1) for k, v in rtt.items()},
              "raw_relay_us": relay, "cases": cases, "throughput": tput}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"raw REQ/REP round trip p50: " + ", ".join(f"{t} {v:.1f} us" for t, v in rtt.items()))
    print("raw relay round (bare ROUTER relay + raw peers, same hops as a bus round, no tracking) p50: "
          + ", ".join(f"{k} {v:.0f} us" for k, v in relay.items()))
    print(f"{'transport':<10} {'depth':>5} {'fanout':>6} {'rounds/s':>10} {'p50 us':>9} {'p99 us':>9} {'p50/rtt':>8}")
    for c in cases:
        r = rtt.get(c["transport"])
        ratio = f"{c['p50_us'] / r:8.2f}" if r else f"{'-':>8}"
        print(f"{c['transport']:<10} {c['depth']:>5} {c['fanout']:>6} {c['rounds_per_s']:>10.0f} "
              f"{c['p50_us']:>9.1f} {c['p99_us']:>9.1f} {ratio}")
    print("throughput (publisher sends a batch per round, member acks per drained batch):")
    for t in tput:
        print(f"  {t['transport']:<4} batch {t['batch']:>4}: {t['messages_per_s']:>8} msgs/s "
              f"(round p50 {t['round_p50_us']:.0f} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
