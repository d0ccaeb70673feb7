"""The process runtime: runs one component (or the datafeed) on the bus in its own process.

    python -m components.runtime --run-dir DIR --name NAME --spec JSON [--role component|datafeed]

It rebuilds the configured class from its spec (components.spec), joins the bus, and then loops:
receive what is queued, decode, dispatch, publish what the component emitted, acknowledge once the
queue is drained (after the outputs, on the same connection: the idle-barrier invariant 3).
How it ends follows the run contract (bus/run_contract.py): an exception in component code is
written as its failure record (with the traceback), reported to the bus (so the barrier fails at
once instead of timing out) and ends the process with EXIT_FAILED; so does a stall the datafeed
sees or a bus that went silent. A run that failed elsewhere ends it with EXIT_RUN_FAILED and no
record of its own. SIGTERM/SIGINT or a stop request from the bus end it gracefully: `stop()` runs
(the recorder flushes), the member leaves, EXIT_OK.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from bus import run_contract as RC
from bus.api import MemberClient, MemberLink
from bus.run_contract import FailureRecord
from components import codec
from components.component import Component
from components.spec import build_class

TICK_S = 0.2
# A batch of received messages is answered with one publish (a strategy running through several
# timestamps sends their BarProcessed as one message: ~30% less run time at 10 symbols), but never
# more than this many events wait: all a SIGKILLed component can take with it.
PUBLISH_EVERY = 256
# The datafeed sends whole timestamps per message, at least this many bars (unless a barrier
# comes first): at 10 symbols ~7 timestamps cross the bus, and are decoded, as one message.
FEED_MESSAGE_BARS = 64
PROGRESS_EVERY_S = 0.25
# The parent-death signal of a component process: it stops gracefully, knowing the orchestrator
# is gone (so nobody will finish the run). A signal of its own, because a SIGKILLed
# orchestrator's other threads may keep its pid alive for a moment after it is sent.
ORPHAN_SIGNAL = signal.SIGHUP


class Stopped(Exception):
    """Asked to stop (SIGTERM/SIGINT) while still starting: not a failure, nothing to report."""


class _Stop:
    """Set by SIGTERM/SIGINT, or by ORPHAN_SIGNAL (the parent-death signal: the orchestrator is
    gone); the loops check it at least every TICK_S."""

    requested = False
    orphaned = False
    by: str | None = None  # the signal's name

    @classmethod
    def install(cls) -> None:
        def handler(signum: int, frame: Any) -> None:
            cls.requested = True
            cls.by = signal.Signals(signum).name
            if signum == ORPHAN_SIGNAL:
                cls.orphaned = True

        for sig in (signal.SIGTERM, signal.SIGINT, ORPHAN_SIGNAL):
            signal.signal(sig, handler)


def publish_outbox(client: MemberLink, component: Component) -> None:
    """Publish what the component emitted, in order, consecutive events of a topic as one message."""
    for topic, batch in codec.group_by_topic(component.drain()):
        client.publish(topic, codec.encode(batch))


def decode_or_report(client: MemberLink, topic: str, payload: bytes) -> list[Any] | None:
    """The message's events, or None after reporting a frame that does not decode (dropped)."""
    try:
        return codec.decode(topic, payload)
    except codec.DecodeError as exc:
        print(f"{client.name}: {exc}", file=sys.stderr)
        return None


def serve(
    component: Component,
    client: MemberClient,
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
    parent = os.getppid()
    while not should_stop() and not client.stop_requested:
        messages = client.recv(TICK_S)
        if not messages:
            component.tick()
            publish_outbox(client, component)
            if os.getppid() != parent:
                break
            continue
        handle(component, client, messages)
    if trailing:  # what was delivered before the stop is still recorded
        while messages := client.recv(0.0):
            handle(component, client, messages)
    component.orphaned = _Stop.orphaned
    component.stop()
    publish_outbox(client, component)


def handle(component: Component, client: MemberLink, messages: list[tuple[str, bytes]]) -> None:
    """Dispatch a batch of deliveries, publish what it produced, then acknowledge them."""
    raw = component.wants_raw
    acked = 0
    try:
        for i, (topic, payload) in enumerate(messages, 1):
            if raw:
                component.on_raw(topic, payload)
            else:
                events = decode_or_report(client, topic, payload)
                if events is not None:
                    component.on_message(topic, events)
                    if component.queued_output >= PUBLISH_EVERY:  # send them now, with an ACK
                        publish_outbox(client, component)
                        client.ack(i - acked)
                        acked = i
    finally:  # what was emitted before a fault is still published (and recorded)
        publish_outbox(client, component)
    client.ack()


def write_progress(path: Path, sent: int, total: int, started: float, done: bool = False) -> None:
    elapsed = max(time.monotonic() - started, 1e-9)
    data = {"bars_sent": sent, "bars_total": total, "elapsed_s": elapsed, "done": done, "pid": os.getpid()}
    RC.write_atomic(path, json.dumps(data))


def feed_messages(timestamps: Iterable[list[Any]], window: int) -> Iterator[tuple[list[Any], bool]]:
    """The datafeed's messages: whole timestamps, at least FEED_MESSAGE_BARS bars, cut after every
    `window`-th timestamp, where the datafeed then waits for the barrier (the flag)."""
    batch: list[Any] = []
    rounds = 0
    for bars in timestamps:
        batch += bars
        rounds += 1
        barrier = rounds % window == 0
        if barrier or len(batch) >= FEED_MESSAGE_BARS:
            yield batch, barrier
            batch = []
    if batch:
        yield batch, False


def replay(
    datafeed: Any,
    client: MemberClient,
    *,
    barrier_timeout: float,
    progress_path: Path | None = None,
    should_stop: Callable[[], bool] = lambda: _Stop.requested,
    window: int = 1,
) -> bool:
    """Publish each timestamp's bars; True when the replay completed and everything settled.

    The datafeed waits for the barrier every `window` timestamps, which bounds how far it runs
    ahead of the slowest strategy (and how many timestamps the broker must keep: see
    SimulatedBroker.history); what a strategy sees does not depend on it (components/broker.py,
    "Synchronisation")."""
    client.join([], tracked=False)
    total = datafeed.total_bars
    started = time.monotonic()
    last_report = 0.0
    published = 0

    def settled(include_trailing: bool) -> bool:
        """Wait for the barrier, but give up at once when asked to stop (a cancelled run). The
        wait may be long (a window of slow strategies); what fails it is `barrier_timeout` s in
        which no member acknowledged anything: a hung component (the bus says which is pending).
        A dead or silent bus ends it sooner (client.recv raises BusLost)."""
        rid = client.request_idle(barrier_timeout, include_trailing=include_trailing, stall=True)
        while not client.take_idle_reply(rid):
            if should_stop() or client.stop_requested:
                return False
            client.recv(TICK_S)
        return True

    for batch, barrier in feed_messages(datafeed.timestamps(), window):
        if should_stop() or client.stop_requested:
            return False
        client.publish(codec.FEED_TOPIC, codec.encode(batch))
        published += len(batch)
        if barrier:
            if not settled(False):
                return False
            # everything published so far has been processed
            if progress_path is not None and time.monotonic() - last_report >= PROGRESS_EVERY_S:
                last_report = time.monotonic()
                write_progress(progress_path, published, total, started)
    if not settled(True):
        return False
    if progress_path is not None:
        write_progress(progress_path, published, total, started, done=True)
    return True


def leave_failure(run_dir: Path, record: FailureRecord) -> None:
    """Write the failure record where the orchestrator looks (and say it on stderr)."""
    try:
        record.write(run_dir)
    except OSError as exc:  # the run directory is gone: stderr is all that is left
        print(f"{record.process}: cannot write its failure record: {exc}", file=sys.stderr)
    print(record.describe(), file=sys.stderr)


def report_failure(run_dir: Path, record: FailureRecord) -> None:
    """Leave the record, and fail the bus so every wait ends now instead of timing out."""
    leave_failure(run_dir, record)
    try:
        from bus import ControlClient

        with_control = ControlClient(run_dir, timeout=1.0)
        try:
            with_control.fail(f"{record.member or record.process} failed: {record.detail}")
        finally:
            with_control.close()
    except Exception:
        pass  # the bus may be gone already; the orchestrator still sees our exit status


def _signalled(run_dir: Path, name: str) -> bool:
    """A process stopped by SIGTERM/SIGINT rather than by the bus's STOP stopped before its run
    did: a failure of its own (the orchestrator asks through the bus first). Its parent-death
    signal is not: the orchestrator, gone, is the cause."""
    if not _Stop.requested or _Stop.orphaned:
        return False
    leave_failure(run_dir, FailureRecord.now(name, RC.KILLED, name, f"stopped by {_Stop.by} before the run ended"))
    return True


def exception_record(name: str) -> FailureRecord:
    """The record of the exception being handled, raised by code of member `name` (an exception
    may say what kind of failure it is with a `failure_kind` attribute, e.g. the recorder's
    storage errors)."""
    exc = sys.exc_info()[1]
    kind = getattr(exc, "failure_kind", RC.EXCEPTION)
    if kind != RC.EXCEPTION:  # a failure that explains itself (e.g. the runs database's): no traceback
        return FailureRecord.now(name, kind, name, str(exc))
    text = traceback.format_exc()
    return FailureRecord.now(name, kind, name, text.strip().splitlines()[-1], text)


def bus_error_exit(run_dir: Path, name: str, exc: Exception) -> int:
    """How a bus error ends a process: a stall it saw or a silent bus are its record (EXIT_FAILED);
    a run the bus failed because of someone else is not (EXIT_RUN_FAILED)."""
    from bus import BusLost, IdleTimeout, JoinError, MemberLost

    if isinstance(exc, MemberLost):
        print(f"{name}: the run failed: {exc}", file=sys.stderr)
        return RC.EXIT_RUN_FAILED
    if isinstance(exc, IdleTimeout):
        pending = sorted(((n, c) for n, c in exc.pending.items() if c), key=lambda nc: (-nc[1], nc[0]))
        culprit = ", ".join(n for n, _ in pending) or None
        record = FailureRecord.now(name, RC.STALLED, culprit, f"the run stalled: {exc}")
    elif isinstance(exc, BusLost):
        record = FailureRecord.now(name, RC.BUS_LOST, "bus", str(exc))
    elif isinstance(exc, JoinError):
        record = FailureRecord.now(name, RC.START, name, str(exc))
    else:
        record = FailureRecord.now(name, RC.EXCEPTION, name, f"{type(exc).__name__}: {exc}")
    report_failure(run_dir, record)
    return RC.EXIT_FAILED


def _wait_until(ready: Callable[[], bool], timeout: float, why_not: Callable[[], str], every: float = 0.005) -> None:
    """Poll `ready` until it holds; Stopped on SIGTERM/SIGINT, TimeoutError(why_not()) after `timeout`."""
    deadline = time.monotonic() + timeout
    while not ready():
        if _Stop.requested:
            raise Stopped()
        if time.monotonic() > deadline:
            raise TimeoutError(why_not())
        time.sleep(every)


def wait_for_members(run_dir: Path, names: list[str], timeout: float) -> None:
    """Block until every named member has joined the bus: children start together (their imports
    overlap) and still join in dependency order (nothing is published before its subscribers)."""
    from bus import ControlClient
    from bus.control import Joined

    def stopped() -> None:
        if _Stop.requested:
            raise Stopped()

    control = ControlClient(run_dir, timeout=max(1.0, timeout))
    try:
        control.wait_members(Joined(names), timeout, check=stopped)
    finally:
        control.close()


def wait_for_bus(run_dir: Path, timeout: float) -> None:
    """Components are spawned while the bus is still starting: wait for its endpoints file."""
    from bus import Endpoints

    def up() -> bool:
        try:
            Endpoints.load(run_dir)
            return True
        except (OSError, ValueError, KeyError):
            return False

    _wait_until(up, timeout, lambda: f"no bus in {run_dir} within {timeout:g} s (no endpoints.json)")


def wait_for_go(path: Path, timeout: float) -> None:
    """The datafeed is spawned with the other components (its imports and its query overlap
    theirs) but replays only once the orchestrator says so by creating `path`."""
    _wait_until(path.exists, timeout,
                lambda: f"the orchestrator did not start the replay within {timeout:g} s ({path} never appeared)")


def _hand_over_closes(datafeed: Any, path: Path) -> None:
    """The closes a datafeed kept (`keep_closes`) for the orchestrator's figures of the run; a
    file that cannot be written only makes the orchestrator read the bars again."""
    kept = datafeed.replayed() if hasattr(datafeed, "replayed") else None
    if kept is not None:
        closes, symbols, bar_period = kept
        try:
            closes.save(path, symbols, bar_period)
        except OSError:
            pass


def instantiate(spec: dict[str, Any]) -> Any:
    cls = build_class(spec)
    return cls(**spec.get("init", {}))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m components.runtime")
    parser.add_argument("--run-dir", required=True, type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--spec", required=True, help="JSON class spec (components.spec)")
    parser.add_argument("--role", choices=("component", "datafeed"), default="component")
    parser.add_argument("--window", type=int, default=1,
                        help="datafeed: timestamps published between two barriers")
    parser.add_argument("--trailing", action="store_true", help="counted only by the final barrier")
    parser.add_argument("--non-critical", action="store_true", help="losing it does not fail the run")
    parser.add_argument("--barrier-timeout", type=float, default=30.0)
    parser.add_argument("--heartbeat-interval", type=float, default=0.1)
    parser.add_argument("--after", default="", help="comma-separated members to wait for before joining")
    parser.add_argument("--start-timeout", type=float, default=20.0, help="bound of the --after/--await-go wait")
    parser.add_argument("--await-go", action="store_true",
                        help="datafeed: open the data, then replay once the orchestrator creates the go file")
    args = parser.parse_args(argv)

    from bus.processes import die_with_parent

    _Stop.install()
    die_with_parent(ORPHAN_SIGNAL)
    from bus import BusClient, BusError

    client = None
    try:
        obj = instantiate(json.loads(args.spec))
        wait_for_bus(args.run_dir, args.start_timeout)
        if args.after:
            wait_for_members(args.run_dir, args.after.split(","), args.start_timeout)
        if args.role == "datafeed":
            obj.open()
            try:
                if args.await_go:
                    wait_for_go(args.run_dir / RC.GO_FILE, args.start_timeout)
                client = BusClient(args.run_dir, args.name, heartbeat_interval=args.heartbeat_interval)
                done = replay(obj, client, barrier_timeout=args.barrier_timeout,
                              progress_path=args.run_dir / RC.PROGRESS_FILE, window=max(args.window, 1))
                if done:
                    _hand_over_closes(obj, args.run_dir / RC.CLOSES_FILE)
            finally:
                obj.close()
            client.leave()
            if not done and _signalled(args.run_dir, args.name):
                return RC.EXIT_FAILED
            return RC.EXIT_OK if done else RC.EXIT_RUN_FAILED  # stopped before the end: not completed
        client = BusClient(args.run_dir, args.name, heartbeat_interval=args.heartbeat_interval)
        serve(obj, client, trailing=args.trailing, critical=not args.non_critical)
        confirmed = obj.confirmation()
        if confirmed is not None:
            RC.write_atomic(args.run_dir / RC.RECORDED_FILE, json.dumps(confirmed))
        client.leave()
        return RC.EXIT_FAILED if _signalled(args.run_dir, args.name) else RC.EXIT_OK
    except Stopped:
        return RC.EXIT_OK
    except BusError as exc:
        return bus_error_exit(args.run_dir, args.name, exc)
    except Exception:
        report_failure(args.run_dir, exception_record(args.name))
        return RC.EXIT_FAILED
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
