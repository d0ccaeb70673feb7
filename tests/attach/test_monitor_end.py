"""`tickbus monitor` across the end of a run: one clean line and an exit status, never a
traceback, whenever the bus goes away (before the first snapshot, during the view, while
following, or with its run directory and key). Real bus processes."""

from __future__ import annotations

import io
import shutil
import threading
import time
from pathlib import Path

import pytest

from bus import ControlClient, start_bus_process
from orchestrator import monitor
from orchestrator.locate import Target


def _bus(tmp_path: Path, transport: str):  # type: ignore[no-untyped-def]
    return start_bus_process(tmp_path / "run", transport=transport, timeout=20.0)


def _shutdown(proc, eps) -> None:  # type: ignore[no-untyped-def]
    with ControlClient(eps, timeout=5.0) as ctl:
        ctl.shutdown()
    proc.wait(10)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_a_run_that_ended_before_the_first_snapshot(tmp_path: Path, transport: str) -> None:
    proc, eps = _bus(tmp_path, transport)
    _shutdown(proc, eps)
    if transport == "tcp":
        shutil.rmtree(tmp_path / "run")  # its key went with it
    target = Target(eps)
    for call in (lambda out, err: monitor.watch(target, once=True, out=out, err=err),
                 lambda out, err: monitor.follow(target, [""], out=out, err=err)):
        out, err = io.StringIO(), io.StringIO()
        assert call(out, err) == 1
        assert err.getvalue() == f"tickbus monitor: run {target.label} ended before anything could be shown\n"
        assert out.getvalue() == ""


@pytest.mark.timeout(60)
def test_a_run_that_ends_while_watched_or_followed(tmp_path: Path) -> None:
    proc, eps = _bus(tmp_path, "tcp")
    target = Target(eps)
    outs = {"watch": io.StringIO(), "follow": io.StringIO()}
    codes: dict[str, int] = {}
    loops = [0]  # the follower's loop turns (it pings the bus before the first)

    def turn() -> bool:
        loops[0] += 1
        return False

    threads = [
        threading.Thread(target=lambda: codes.__setitem__("watch", monitor.watch(
            target, interval=0.1, as_json=True, out=outs["watch"], err=outs["watch"]))),
        threading.Thread(target=lambda: codes.__setitem__("follow", monitor.follow(
            target, [""], out=outs["follow"], err=outs["follow"], until=turn))),
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while not outs["watch"].getvalue() or loops[0] < 1:
        assert time.monotonic() < deadline, "no snapshot, or the follower never pinged the bus"
        time.sleep(0.05)
    _shutdown(proc, eps)
    for t in threads:
        t.join(30)
        assert not t.is_alive()
    assert codes == {"watch": 0, "follow": 0}
    assert outs["watch"].getvalue().endswith(f"run {target.label} ended\n")
    assert outs["follow"].getvalue() == f"run {target.label} ended\n"
