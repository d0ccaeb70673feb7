"""The process runtime: runs one component (or the datafeed) on the bus in its own process.

    python -m components.runtime --run-dir DIR --name NAME --spec JSON [--role component|datafeed]

It rebuilds the configured class from its spec (components.spec), joins the bus, and then loops:
receive what is queued, decode, dispatch, publish what the component emitted, acknowledge once the
queue is drained (after the outputs, on the same connection: the idle-barrier invariant 3).
An exception in component code is written with its traceback to `DIR/errors/NAME.txt`, reported
to the bus (so the barrier fails at once instead of timing out) and ends the process with status 1.
SIGTERM/SIGINT or a stop request from the bus end it gracefully: `stop()` runs (the recorder
flushes), the member leaves, status 0.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import signal
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from components import codec
from components.component import Component
from components.spec import build_class

EXIT_OK = 0
EXIT_COMPONENT_ERROR = 1
EXIT_BARRIER_FAILED = 3
TICK_S = 0.2
PROGRESS_EVERY_S = 0.25


class _Stop:
    """Set by SIGTERM/SIGINT; the loops check it at least every TICK_S."""

    requested = False

    @classmethod
    def install(cls) -> None:
        def handler(signum: int, frame: Any) -> None:
            cls.requested = True

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when its parent dies, so no run leaves orphans."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def publish_events(client: Any, events: list[Any]) -> int:
    """Publish events in order, consecutive ones of a topic as one message; how many."""
    for topic, batch in codec.group_by_topic(events):
        client.publish(topic, codec.encode(batch))
    return len(events)


def publish_outbox(client: Any, component: Component) -> int:
    return publish_events(client, component.drain())


def decode_or_report(client: Any, topic: str, payload: bytes) -> list[Any] | None:
    """The message's events, or None after reporting a frame that does not decode (dropped)."""
    try:
        return codec.decode(topic, payload)
    except codec.DecodeError as exc:
        print(f"{client.name}: {exc}", file=sys.stderr)
        return None


def dispatch(client: Any, component: Component, topic: str, payload: bytes) -> int:
    """Decode, hand to the component, publish what it emitted; the number of events published."""
    events = decode_or_report(client, topic, payload)
    if events is None:
        return 0
    try:
        component.on_message(topic, events)
    finally:  # what was emitted before a fault is still published (and recorded)
        published = publish_outbox(client, component)
    return published


def serve(
    component: Component,
    client: Any,
    *,
    tracked: bool = True,
    trailing: bool = False,
    critical: bool = True,
    should_stop: Callable[[], bool] = lambda: _Stop.requested,
) -> None:
    """Join and dispatch until stopped; raises whatever the component raises."""
    client.join(component.subscriptions(), tracked=tracked, trailing=trailing, critical=critical)
    component.start()
    publish_outbox(client, component)
    raw = component.wants_raw
    parent = os.getppid()
    while not should_stop() and not client.stop_requested:
        messages = client.recv(TICK_S)
        if not messages:
            component.tick()
            publish_outbox(client, component)
            if os.getppid() != parent:
                break
            continue
        for topic, payload in messages:
            if raw:
                component.on_raw(topic, payload)
            else:
                dispatch(client, component, topic, payload)
        client.ack()
    component.stop()
    publish_outbox(client, component)


def release(client: Any, component: Component, bars: list[Any], payload: bytes) -> None:
    """Publish what the broker emitted for a feed message; when it ends with the very bars it
    was given (the broker re-publishes them after matching), send the feed's payload on the
    market topic as it is instead of encoding the same bars again."""
    out = component.drain()
    n = len(bars)
    reuse = n > 0 and len(out) >= n and all(a is b for a, b in zip(out[len(out) - n:], bars))
    publish_events(client, out[: len(out) - n] if reuse else out)
    if reuse:
        client.publish(codec.MARKET_TOPIC, payload)


def pace(
    component: Component,
    client: Any,
    *,
    barrier_timeout: float,
    should_stop: Callable[[], bool] = lambda: _Stop.requested,
) -> None:
    """Run the broker as the pacer of the replay (conservative synchronisation).

    The datafeed publishes timestamps ahead; the broker holds them (unacknowledged, so the
    datafeed's own barrier still waits for them) and releases the next one - matches it, then
    publishes its fills and bars - only when the bus says everything it published before has
    been processed by every other counted member. A round is broker -> strategies -> broker
    instead of a trip back to the datafeed, and a strategy still sees exactly what it would see
    with one full barrier per timestamp (bus/protocol.py, invariant 4, "Pacing").
    """
    client.join(component.subscriptions())
    component.start()
    publish_outbox(client, component)
    held: deque[bytes] = deque()
    waiting: bytes | None = None  # the latest idle request; older answers prove nothing
    asked = 0.0
    parent = os.getppid()
    while not should_stop() and not client.stop_requested:
        messages = client.recv(TICK_S if (waiting is not None or not held) else 0.0)
        dirty = False
        for topic, payload in messages:
            if topic == codec.FEED_TOPIC:
                held.append(payload)
            else:
                dirty |= dispatch(client, component, topic, payload) > 0
        if waiting is not None and client.take_idle_reply(waiting):
            waiting = None
        if waiting is None and held:
            payload = held.popleft()
            bars = decode_or_report(client, codec.FEED_TOPIC, payload)
            if bars is not None:
                try:
                    component.on_message(codec.FEED_TOPIC, bars)
                finally:
                    release(client, component, bars, payload)
                dirty = True
        if dirty:  # outputs, their ACK and the WAIT travel as one message
            waiting = client.request_idle(barrier_timeout, ack=client.unacked - len(held))
            asked = time.monotonic()
        else:
            client.ack(client.unacked - len(held))
            if waiting is not None and time.monotonic() - asked > barrier_timeout + 5.0:
                raise TimeoutError(f"no idle answer from the bus within {barrier_timeout:g} s")
        if not messages and waiting is None and not held:
            component.tick()
            if os.getppid() != parent:
                break
    component.stop()
    publish_outbox(client, component)


def write_progress(path: Path, sent: int, total: int, started: float, done: bool = False) -> None:
    elapsed = max(time.monotonic() - started, 1e-9)
    data = {"bars_sent": sent, "bars_total": total, "elapsed_s": elapsed, "done": done, "pid": os.getpid()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def replay(
    datafeed: Any,
    client: Any,
    *,
    barrier_timeout: float,
    progress_path: Path | None = None,
    should_stop: Callable[[], bool] = lambda: _Stop.requested,
    window: int = 1,
) -> bool:
    """Publish each timestamp's bars; True when the replay completed and everything settled.

    With `window` > 1 the broker paces the replay (see `pace`) and the datafeed only waits for the
    barrier every `window` timestamps, which bounds how far it runs ahead; with 1 it waits after
    every timestamp (no pacer needed)."""
    client.join([], tracked=False)
    total = datafeed.total_bars
    started = time.monotonic()
    last_report = 0.0
    published = done = rounds = 0
    in_flight: deque[int] = deque()  # bars published up to each timestamp not yet known settled

    def report_released() -> None:
        """While waiting: how many timestamps the broker has released (bus stats) -> bars done."""
        nonlocal last_report
        if progress_path is None or time.monotonic() - last_report < PROGRESS_EVERY_S:
            return
        last_report = time.monotonic()
        released = int(client.stats().get("topics", {}).get(codec.MARKET_TOPIC, {}).get("messages", 0))
        first = rounds - len(in_flight) + 1  # the timestamp in_flight[0] belongs to
        bars_done = None
        while in_flight and first <= released:
            bars_done = in_flight.popleft()
            first += 1
        if bars_done is not None:
            write_progress(progress_path, bars_done, total, started)

    def settled(include_trailing: bool) -> bool:
        """Wait for the barrier, but give up at once when asked to stop (a cancelled run)."""
        rid = client.request_idle(barrier_timeout * window, include_trailing=include_trailing, exclude_self=False)
        deadline = time.monotonic() + barrier_timeout * window + 5.0
        while not client.take_idle_reply(rid):
            if should_stop() or client.stop_requested:
                return False
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer from the bus within {barrier_timeout * window:g} s")
            client.recv(TICK_S)
            report_released()
        in_flight.clear()
        return True

    for bars in datafeed.timestamps():
        if should_stop() or client.stop_requested:
            return False
        client.publish(codec.FEED_TOPIC, codec.encode(bars))
        published += len(bars)
        rounds += 1
        in_flight.append(published)
        if rounds % window == 0:
            if not settled(False):
                return False
            done = published  # everything published so far has been processed
            if progress_path is not None and time.monotonic() - last_report >= PROGRESS_EVERY_S:
                last_report = time.monotonic()
                write_progress(progress_path, done, total, started)
    if not settled(True):
        return False
    if progress_path is not None:
        write_progress(progress_path, published, total, started, done=True)
    return True


def report_error(run_dir: Path, name: str, text: str) -> None:
    """Leave the traceback where the orchestrator looks, and fail the bus so waits end now."""
    errors = run_dir / "errors"
    errors.mkdir(parents=True, exist_ok=True)
    (errors / f"{name}.txt").write_text(text)
    print(text, file=sys.stderr, end="" if text.endswith("\n") else "\n")
    try:
        from bus import ControlClient

        with_control = ControlClient(run_dir, timeout=1.0)
        try:
            with_control.fail(f"{name} failed: {text.strip().splitlines()[-1]}")
        finally:
            with_control.close()
    except Exception:
        pass  # the bus may be gone already; the orchestrator still sees our exit status


def instantiate(spec: dict[str, Any]) -> Any:
    cls = build_class(spec)
    return cls(**spec.get("init", {}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.runtime")
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--spec", required=True, help="JSON class spec (components.spec)")
    parser.add_argument("--role", choices=("component", "pacer", "datafeed"), default="component",
                        help="pacer: the broker releasing timestamps (see pace)")
    parser.add_argument("--window", type=int, default=1,
                        help="datafeed: timestamps published ahead of the barrier (needs a pacer when > 1)")
    parser.add_argument("--trailing", action="store_true", help="counted only by the final barrier")
    parser.add_argument("--non-critical", action="store_true", help="losing it does not fail the run")
    parser.add_argument("--barrier-timeout", type=float, default=30.0)
    parser.add_argument("--heartbeat-interval", type=float, default=0.1)
    args = parser.parse_args(argv)

    die_with_parent()
    _Stop.install()
    from bus import BusClient, BusError

    client = None
    try:
        obj = instantiate(json.loads(args.spec))
        client = BusClient(args.run_dir, args.name, heartbeat_interval=args.heartbeat_interval)
        if args.role == "datafeed":
            obj.open()
            try:
                done = replay(obj, client, barrier_timeout=args.barrier_timeout,
                              progress_path=args.run_dir / "progress.json", window=max(args.window, 1))
            finally:
                obj.close()
            client.leave()
            return EXIT_OK if done else EXIT_BARRIER_FAILED
        if args.role == "pacer":
            pace(obj, client, barrier_timeout=args.barrier_timeout)
        else:
            serve(obj, client, trailing=args.trailing, critical=not args.non_critical)
        client.leave()
        return EXIT_OK
    except BusError as exc:
        report_error(args.run_dir, args.name, f"{type(exc).__name__}: {exc}\n")
        return EXIT_BARRIER_FAILED
    except Exception:
        report_error(args.run_dir, args.name, traceback.format_exc())
        return EXIT_COMPONENT_ERROR
    finally:
        if client is not None:
            client.close()


def _profiled_main() -> int:
    """With TICKBUS_PROFILE=DIR each component process writes DIR/<name>.prof (cProfile)."""
    out = os.environ.get("TICKBUS_PROFILE")
    if not out:
        return main()
    import cProfile

    name = sys.argv[sys.argv.index("--name") + 1] if "--name" in sys.argv else str(os.getpid())
    profiler = cProfile.Profile()
    try:
        return profiler.runcall(main)
    finally:
        Path(out).mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(str(Path(out) / f"{name}.prof"))


if __name__ == "__main__":
    sys.exit(_profiled_main())
