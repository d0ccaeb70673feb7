"""A configurable member process for the bus tests (run with sys.executable, config as JSON).

Config keys: endpoints, name, prefixes, tracked/trailing/critical, react {prefix: out_topic},
echo (publish "done.<name>." after each batch, listing what was processed), sleep_prob/sleep_max
(random sleeps before reacting and before echoing), seed, log (JSON file of everything processed,
written at exit), hello (publish "hello.<name>." right after joining), ack (false: never ack),
heartbeat_interval.

Payloads are msgpack [round, path]; a reaction appends this member's name to path. Exits 0 after
leaving when the bus asks it to stop or on SIGTERM.
"""

from __future__ import annotations

import json
import random
import signal
import sys
import time

import msgpack

from bus import BusClient, BusError


class _Term(Exception):
    pass


def _on_term(signum: int, frame: object) -> None:
    raise _Term()


def main() -> int:
    cfg = json.loads(sys.argv[1])
    signal.signal(signal.SIGTERM, _on_term)
    name = cfg["name"]
    rng = random.Random(cfg.get("seed", 0))
    sleep_prob = float(cfg.get("sleep_prob", 0.0))
    sleep_max = float(cfg.get("sleep_max", 0.002))
    react: dict[str, str] = cfg.get("react", {})
    echo = bool(cfg.get("echo", True))
    do_ack = bool(cfg.get("ack", True))
    processed: list[list] = []
    c = BusClient(cfg["endpoints"], name, heartbeat_interval=cfg.get("heartbeat_interval", 0.1))
    status = 0
    try:
        c.join(cfg.get("prefixes", []), tracked=cfg.get("tracked", True), trailing=cfg.get("trailing", False),
               critical=cfg.get("critical", True))
        if cfg.get("hello"):
            c.publish(f"hello.{name}.", msgpack.packb(name))
            c.flush()
        while not c.stop_requested:
            msgs = c.recv(0.5)
            if not msgs:
                continue
            done = []
            for topic, payload in msgs:
                rnd, path = msgpack.unpackb(payload)
                if sleep_prob and rng.random() < sleep_prob:
                    time.sleep(rng.random() * sleep_max)
                for prefix, out in react.items():
                    if topic.startswith(prefix):
                        c.publish(out.replace("{name}", name), msgpack.packb([rnd, path + [name]]))
                processed.append([topic, rnd, path])
                done.append([rnd, path])
            if sleep_prob and rng.random() < sleep_prob:
                time.sleep(rng.random() * sleep_max)
            if echo:
                c.publish(f"done.{name}.", msgpack.packb(done))
            if do_ack:
                c.ack()
        c.leave()
    except _Term:
        c.leave()
    except BusError as exc:
        print(f"{name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        status = 3
    finally:
        c.close()
        if cfg.get("log"):
            with open(cfg["log"], "w") as fh:
                json.dump({"processed": processed, "stop_reason": c.stop_reason,
                           "malformed": c.malformed}, fh)
    return status


if __name__ == "__main__":
    sys.exit(main())
