"""What a holder of the run's access (its user, or its key over tcp) cannot do to a run any more:
publish a bar-like frame without joining, publish outside its role, or fail the run by joining
and going quiet. The run completes and records nothing of theirs. Real processes."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import zmq
from systemkit import make_orchestrator, processes_mentioning

from bus import BusClient, ControlClient
from bus.security import secure_client
from components import codec
from components.events import BarReceived
from components.models import BarPeriod
from orchestrator.strategies import resolve, with_parameters

SLOW = Path(__file__).resolve().parent.parent / "attach" / "strategies.py"  # holds at a bar until a file exists


def _bar_like() -> bytes:
    """A bar from before the run's first timestamp: the broker fails the run if it ever gets it."""
    return codec.encode([BarReceived(ts_event_ns=1, symbol="SYM000", bar_period=BarPeriod.MINUTE,
                                     open=1.0, high=1.0, low=1.0, close=1.0, volume=1)])


def test_intruders_neither_publish_nor_fail_the_run(secmaster: Path, tmp_path: Path, request: Any) -> None:
    hold = tmp_path / "go-on"
    slow = with_parameters(resolve(f"{SLOW}:Slow"), {"sleep_ms": "1", "hold_file": str(hold)}, None)
    orch = make_orchestrator(secmaster, tmp_path / "runs.db", [slow, resolve("SMACrossover")])
    request.addfinalizer(hold.touch)  # never leave the run held
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(orch.run()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while orch.process_run is None or not (orch.process_run.run_dir / "progress.json").exists():
        assert time.monotonic() < deadline, "the replay did not start"
        time.sleep(0.02)
    run_dir = orch.process_run.run_dir  # Slow holds at its 100th bar until `hold` exists

    ctx = zmq.Context()
    raw = ctx.socket(zmq.DEALER)
    raw.linger = 0
    with ControlClient(run_dir) as ctl:
        secure_client(raw, ctl.endpoints)
        raw.connect(ctl.endpoints.members)
        raw.send_multipart([codec.FEED_TOPIC.encode(), _bar_like()])  # never joined
        intruder = BusClient(run_dir, "intruder")
        intruder.join([codec.FEED_TOPIC], critical=True)  # asks to be critical
        intruder.publish(codec.FEED_TOPIC, _bar_like())  # not its role's topic
        intruder.flush()
        assert not intruder.critical
        intruder.close()  # ... and goes quiet without leaving: lost, not fatal
        deadline = time.monotonic() + 10
        while "intruder" not in (stats := ctl.stats())["lost_members"]:
            assert time.monotonic() < deadline, "the intruder was never lost"
            time.sleep(0.05)
    raw.close(0)
    ctx.term()
    assert stats["failed"] is None and stats["refused"] == 2, stats
    hold.touch()
    thread.join(60)
    assert not thread.is_alive(), "the run did not end"
    (res,) = result
    assert res.status == "completed", res.error
    assert res.bars == 1200  # the run's own bars, none of the intruders'
    assert processes_mentioning(str(run_dir)) == []
