"""The barrier never releases before every transitive reaction was processed (invariants 2-4).

Topology, one process each: the driver (this test, untracked) publishes "r0." 1-2 times per round;
8 fan-out members f0..f7 react with "r1.<f>."; c1 subscribes to two of those ("r1.f0.", "r1.f1.")
and reacts with "r2."; c2 ends the chain (driver -> f -> c1 -> c2: 3 hops deep). Every member sleeps at random and, after processing
a batch, publishes an echo "done.<name>." listing what it processed, then acks. Because the echo
is published before the ack on the member's ordered connection, the bus forwards it to the driver
before it can release the barrier. So after each wait_until_idle the driver must already hold the
echo of every reaction of that round: a missing one means the barrier released early.
Each member also logs its sequence; the logs are checked for completeness and order at the end.
"""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import msgpack
import pytest

from bus import BusClient, ControlClient
from bus_testkit import Procs, echoes, wait_exit, wait_members

FANOUT = 8
ROUNDS = int(os.environ.get("TICKBUS_TEST_ROUNDS", "5000"))  # per transport: 10,000 in all
FAN = [f"f{i}" for i in range(FANOUT)]
CHAIN = ["c1", "c2"]
FEEDS_CHAIN = ["f0", "f1"]  # the fan-out members whose reactions c1 subscribes to


def expected(rnd: int, k: int) -> list[tuple[str, int, tuple[str, ...]]]:
    out: list[tuple[str, int, tuple[str, ...]]] = []
    for j in range(k):
        d = f"d{j}"
        for f in FAN:
            out.append((f, rnd, (d,)))
            if f in FEEDS_CHAIN:
                path: tuple[str, ...] = (d, f)
                for c in CHAIN:
                    out.append((c, rnd, path))
                    path = path + (c,)
    return sorted(out)


def start_topology(procs: Procs, eps, tmp: Path, seed: int, sleep_prob: float = 0.01) -> dict[str, Path]:
    logs = {}
    for i, f in enumerate(FAN):
        logs[f] = tmp / f"{f}.json"
        procs.member(eps, f, prefixes=["r0."], react={"r0.": "r1.{name}."}, sleep_prob=sleep_prob,
                     seed=seed * 100 + i, log=str(logs[f]))
    for i, c in enumerate(CHAIN):
        logs[c] = tmp / f"{c}.json"
        prefixes = [f"r1.{f}." for f in FEEDS_CHAIN] if i == 0 else [f"r{i + 1}."]
        react = {"r": f"r{i + 2}."} if i + 1 < len(CHAIN) else {}
        procs.member(eps, c, prefixes=prefixes, react=react, sleep_prob=sleep_prob,
                     seed=seed * 100 + 50 + i, log=str(logs[c]))
    wait_members(eps, FAN + CHAIN)
    return logs


def run_rounds(drv: BusClient, rounds: int, rng: random.Random, first: int = 0) -> list[int]:
    ks = []
    for rnd in range(first, first + rounds):
        k = 2 if rng.random() < 0.3 else 1
        for j in range(k):
            drv.publish("r0.", msgpack.packb([rnd, [f"d{j}"]]))
        drv.wait_until_idle(30.0)
        got = sorted(echoes(drv.recv(0)))
        want = expected(rnd, k)
        if got != want:
            missing = sorted(set(want) - set(got))[:5]
            extra = sorted(set(got) - set(want))[:5]
            pytest.fail(f"round {rnd}: barrier released with {len(got)}/{len(want)} reactions "
                        f"processed; missing {missing}, unexpected {extra}")
        ks.append(k)
    return ks


def check_logs(logs: dict[str, Path], ks: list[int]) -> None:
    """Each member processed exactly its share of every round, rounds in order."""
    for name, path in logs.items():
        data = json.loads(path.read_text())
        seen = [(rnd, tuple(p)) for _t, rnd, p in data["processed"]]
        rounds = [r for r, _ in seen]
        assert rounds == sorted(rounds), f"{name} processed rounds out of order"
        want = sorted(e[1:] for r, k in enumerate(ks) for e in expected(r, k) if e[0] == name)
        assert sorted(seen) == want, f"{name}: processed {len(seen)} messages, expected {len(want)}"
        assert data["malformed"] == 0


@pytest.mark.timeout(180)
def test_barrier_chain_fanout_random_sleeps(procs: Procs, tmp_path: Path, transport: str) -> None:
    eps = procs.bus(transport, heartbeat_timeout=2.0)
    logs = start_topology(procs, eps, tmp_path, seed=7 if transport == "ipc" else 11)
    rng = random.Random(3)
    t0 = time.monotonic()
    with BusClient(eps, "driver") as drv:
        drv.join(["done."], tracked=False)
        ks = run_rounds(drv, ROUNDS, rng)
        elapsed = time.monotonic() - t0
        stats = drv.stats()
    with ControlClient(eps) as ctl:
        ctl.shutdown()
    for p in procs.procs:
        assert wait_exit(p, 15) == 0
    check_logs(logs, ks)
    assert stats["malformed"] == 0 and stats["failed"] is None
    assert stats["barrier"]["rounds"] >= ROUNDS
    msgs = sum(len(expected(0, k)) for k in ks)
    print(f"{transport}: {ROUNDS} rounds, {msgs} reactions in {elapsed:.1f} s "
          f"(barrier p50 {stats['barrier']['p50_us']} us)")
    for name in FAN + CHAIN:
        m = stats["members"][name]
        assert m["pending"] == 0 and m["delivered"] == m["acknowledged"], (name, m)
