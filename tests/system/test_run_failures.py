"""Failures end runs fast and visibly: right status and reason, records kept, no orphans."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from exerciser import KILL_AT, HangsInBroker, RaisesInBroker
from systemkit import EXERCISER, Background, make_orchestrator, processes_mentioning

from components.runtime import PUBLISH_EVERY

from orchestrator.strategies import resolve, with_parameters


def _run_row(db: Path, run_id: str) -> tuple[str, str | None]:
    conn = sqlite3.connect(db)
    row = conn.execute("SELECT status, error FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    conn.close()
    return row


def _recorded_failure(db: Path, run_id: str) -> dict[str, Any]:
    conn = sqlite3.connect(db)
    (metadata,) = conn.execute("SELECT metadata FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    conn.close()
    return json.loads(metadata)["failure"]


def _cause(result: Any) -> tuple[str, str | None]:
    assert result.failure is not None, result
    return result.failure.kind, result.failure.member


def test_strategy_exception_fails_the_run_with_its_traceback(secmaster: Path, tmp_path: Path) -> None:
    runs_db = tmp_path / "runs.db"
    strategies = [resolve(f"{EXERCISER}:RaisesOnBar"), with_parameters(resolve("SMACrossover"), {"fast_period": "5", "slow_period": "10"}, None)]
    orch = make_orchestrator(secmaster, runs_db, strategies)
    started = time.monotonic()
    result = orch.run()
    assert time.monotonic() - started < 30
    assert result.status == "failed" and _cause(result) == ("exception", "RaisesOnBar")
    assert "strategy blew up on purpose" in result.failure.traceback
    status, error = _run_row(runs_db, result.run_id)
    assert status == "failed" and "strategy blew up on purpose" in error
    assert _recorded_failure(runs_db, result.run_id)["member"] == "RaisesOnBar"
    # everything up to the fault is recorded: the 20 bars it saw (5 timestamps x 4 symbols)
    conn = sqlite3.connect(runs_db)
    assert conn.execute("SELECT COUNT(*) FROM bars WHERE run_id=?", (result.run_id,)).fetchone()[0] >= 20
    assert conn.execute("SELECT COUNT(*) FROM bars_processed WHERE run_id=? AND strategy_id='RaisesOnBar'", (result.run_id,)).fetchone()[0] >= 19
    assert processes_mentioning(str(orch.run_dir)) == []


def test_strategy_exception_in_process_also_fails(secmaster: Path, tmp_path: Path) -> None:
    result = make_orchestrator(secmaster, tmp_path / "runs.db", [resolve(f"{EXERCISER}:RaisesOnBar")], in_process=True).run()
    assert result.status == "failed" and _cause(result) == ("exception", "RaisesOnBar")
    assert "strategy blew up on purpose" in result.failure.traceback


def test_sigkilled_component_fails_the_run_naming_it(secmaster: Path, tmp_path: Path) -> None:
    runs_db = tmp_path / "runs.db"
    orch = make_orchestrator(secmaster, runs_db, [resolve(f"{EXERCISER}:KillsItself"), resolve("SMACrossover")])
    started = time.monotonic()
    result = orch.run()
    assert time.monotonic() - started < 30
    assert result.status == "failed" and _cause(result) == ("killed", "KillsItself")
    assert "SIGKILL" in result.failure.detail
    conn = sqlite3.connect(runs_db)
    # what it published is recorded; what it had not yet published (at most PUBLISH_EVERY events
    # and the message in hand) died with it
    recorded = conn.execute("SELECT COUNT(*) FROM bars_processed WHERE run_id=? AND strategy_id='KillsItself'", (result.run_id,)).fetchone()[0]
    assert KILL_AT - 1 - PUBLISH_EVERY - 4 <= recorded <= KILL_AT - 1
    assert processes_mentioning(str(orch.run_dir)) == []


def test_strategy_hung_mid_run_fails_the_run_as_stalled_naming_it(secmaster: Path, tmp_path: Path) -> None:
    runs_db = tmp_path / "runs.db"
    # a window of 16 timestamps: the old bound was barrier_timeout x window = 32 s of waiting
    orch = make_orchestrator(secmaster, runs_db, [resolve(f"{EXERCISER}:HangsOnBar"), resolve("SMACrossover")],
                             barrier_timeout=2.0, stop_timeout=2.0)
    started = time.monotonic()
    result = orch.run()
    took = time.monotonic() - started
    assert result.status == "failed" and _cause(result) == ("stalled", "HangsOnBar"), result.failure
    assert "no progress for 2 s" in result.failure.detail
    assert took < 2.0 + 2.0 + 1.0 + 10.0, f"took {took:.1f} s"  # stall bound + stop + SIGTERM grace + slack
    conn = sqlite3.connect(runs_db)  # what it published before hanging is recorded (not what it held)
    recorded = conn.execute("SELECT COUNT(*) FROM bars_processed WHERE run_id=? AND strategy_id='HangsOnBar'",
                            (result.run_id,)).fetchone()[0]
    assert 99 - PUBLISH_EVERY <= recorded <= 99 and recorded > 0
    assert processes_mentioning(str(orch.run_dir)) == []


@pytest.mark.parametrize("broker_in_bus", [True, False], ids=["hosted-by-the-bus", "own-process"])
def test_broker_exception_fails_the_run_with_its_traceback(secmaster: Path, tmp_path: Path, broker_in_bus: bool) -> None:
    runs_db = tmp_path / "runs.db"
    orch = make_orchestrator(secmaster, runs_db, [resolve("SMACrossover")], broker=RaisesInBroker,
                             broker_in_bus=broker_in_bus)
    started = time.monotonic()
    result = orch.run()
    assert time.monotonic() - started < 30
    assert result.status == "failed" and _cause(result) == ("exception", "broker"), result.failure
    assert "broker blew up on purpose" in result.failure.traceback
    assert _run_row(runs_db, result.run_id)[0] == "failed"
    conn = sqlite3.connect(runs_db)
    assert conn.execute("SELECT COUNT(*) FROM bars WHERE run_id=?", (result.run_id,)).fetchone()[0] > 0
    assert processes_mentioning(str(orch.run_dir)) == []


@pytest.mark.parametrize("broker_in_bus", [True, False], ids=["hosted-by-the-bus", "own-process"])
def test_hung_broker_fails_the_run_naming_it(secmaster: Path, tmp_path: Path, broker_in_bus: bool) -> None:
    orch = make_orchestrator(secmaster, tmp_path / "runs.db", [resolve("SMACrossover")], broker=HangsInBroker,
                             broker_in_bus=broker_in_bus, barrier_timeout=2.0, stop_timeout=2.0)
    started = time.monotonic()
    result = orch.run()
    took = time.monotonic() - started
    assert result.status == "failed"
    if broker_in_bus:  # it blocks the bus loop: the bus's watchdog ends the process, with the stack
        assert _cause(result) == ("hung", "broker") and "time.sleep(600)" in result.failure.traceback, result.failure
    else:  # heartbeats still flow: the datafeed's barrier sees no progress
        assert _cause(result) == ("stalled", "broker"), result.failure
    assert took < 25, f"took {took:.1f} s"
    assert processes_mentioning(str(orch.run_dir)) == []


def _start_cli_run(secmaster: Path, runs_db: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "run", "--secmaster", str(secmaster), "--runs-db", str(runs_db),
         "--strategy", f"{EXERCISER}:Slow", "--param", "sleep_ms=20", "--json", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True).stdout
    return [int(p) for p, pp in (line.split() for line in out.splitlines()) if int(pp) == pid]


def _wait_for_recorded_bars(runs_db: Path, deadline: float) -> bool:
    """Until the run has recorded a bar (a fixed sleep is not enough on a loaded machine)."""
    while time.monotonic() < deadline:
        try:
            conn = sqlite3.connect(f"file:{runs_db}?mode=ro", uri=True, timeout=1.0)
            try:
                if conn.execute("SELECT EXISTS (SELECT 1 FROM bars)").fetchone()[0]:
                    return True
            finally:
                conn.close()
        except sqlite3.Error:
            pass  # not created yet, or its schema not yet written
        time.sleep(0.1)
    return False


def test_sigterm_to_the_orchestrator_cancels_the_run_and_stops_every_process(secmaster: Path, tmp_path: Path) -> None:
    runs_db = tmp_path / "runs.db"
    proc = _start_cli_run(secmaster, runs_db)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_children_of(proc.pid)) < 4:
            time.sleep(0.1)
        children = _children_of(proc.pid)
        assert len(children) >= 4, "bus (hosting the broker), recorder, strategy and datafeed should be running"
        assert _wait_for_recorded_bars(runs_db, deadline), "no bar was recorded within 30 s"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["status"] == "cancelled" and summary["failure"]["kind"] == "cancelled"
    assert "SIGTERM" in summary["error"]
    assert _run_row(runs_db, summary["run_id"])[0] == "cancelled"
    assert 0 < summary["bars"] < 1200
    for pid in children:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:2]


def test_sigkilled_orchestrator_leaves_no_process_behind(secmaster: Path, tmp_path: Path) -> None:
    proc = _start_cli_run(secmaster, tmp_path / "runs.db")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_children_of(proc.pid)) < 4:
            time.sleep(0.1)
        children = _children_of(proc.pid)
        assert len(children) >= 4
        cmd = Path(f"/proc/{children[0]}/cmdline").read_bytes().split(b"\0")
        run_dir = cmd[cmd.index(b"--run-dir") + 1].decode()
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and processes_mentioning(run_dir):
            time.sleep(0.2)
        assert processes_mentioning(run_dir) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cancel_from_another_thread_ends_the_run_cancelled(secmaster: Path, tmp_path: Path) -> None:
    import threading

    orch = make_orchestrator(secmaster, tmp_path / "runs.db", [with_parameters(resolve(f"{EXERCISER}:Slow"), {"sleep_ms": "20"}, None)])
    timer = threading.Timer(4.0, orch.cancel, args=("stopped by the test",))
    timer.start()
    try:
        result = orch.run()
    finally:
        timer.cancel()
    assert result.status == "cancelled" and result.error == "stopped by the test"
    assert 0 < result.bars < 1200
    assert processes_mentioning(str(orch.run_dir)) == []


def test_a_component_that_never_joins_fails_the_run_within_start_timeout(secmaster: Path, tmp_path: Path) -> None:
    strategies = [resolve("SMACrossover"), resolve(f"{EXERCISER}:HangsAtSetup")]
    orch = make_orchestrator(secmaster, tmp_path / "runs.db", strategies, start_timeout=3.0, stop_timeout=1.0)
    started = time.monotonic()
    result = orch.run()
    assert time.monotonic() - started < 20  # 3 s to join, then stop request, SIGTERM, SIGKILL: 1 s each
    assert result.status == "failed" and _cause(result) == ("start", "HangsAtSetup")
    assert "did not join the bus within 3 s" in result.failure.detail
    assert processes_mentioning(str(orch.run_dir)) == []


def test_a_component_that_fails_before_joining_is_named_with_its_traceback(secmaster: Path, tmp_path: Path) -> None:
    strategies = [resolve(f"{EXERCISER}:FailsAtSetup"), resolve("SMACrossover")]
    orch = make_orchestrator(secmaster, tmp_path / "runs.db", strategies)
    result = orch.run()
    assert result.status == "failed" and _cause(result) == ("exception", "FailsAtSetup")
    assert "setup failed on purpose" in result.failure.traceback
    assert processes_mentioning(str(orch.run_dir)) == []


# --- the right culprit, named fast (failure records: bus/run_contract.py) -----------------------


def _slow_run(secmaster: Path, tmp_path: Path) -> Any:
    slow = with_parameters(resolve(f"{EXERCISER}:Slow"), {"sleep_ms": "5"}, None)
    return make_orchestrator(secmaster, tmp_path / "runs.db", [slow, resolve("SMACrossover")])


@pytest.mark.parametrize("victim", ["Slow", "recorder"])
def test_a_frozen_member_is_named_and_ends_the_run_within_2_s_of_its_loss(secmaster: Path, tmp_path: Path,
                                                                          victim: str) -> None:
    """SIGSTOP: heartbeats stop, the bus loses it (1 s) and records it; the frozen process is
    killed, not waited for; the datafeed that ended because of it is not blamed."""
    run = Background(_slow_run(secmaster, tmp_path))
    os.kill(run.child(victim).pid, signal.SIGSTOP)
    result = run.wait()
    assert result.status == "failed" and _cause(result) == ("lost", victim), result.failure
    assert "no heartbeat" in result.failure.detail
    assert run.ended_at - result.failure.time < 2.0, f"ended {run.ended_at - result.failure.time:.1f} s after the loss"
    assert processes_mentioning(str(run.orch.run_dir)) == []


def test_a_killed_bus_is_named_and_ends_the_run_within_2_s(secmaster: Path, tmp_path: Path) -> None:
    run = Background(_slow_run(secmaster, tmp_path))
    run.child("Slow")
    os.kill(run.orch.process_run.bus_proc.pid, signal.SIGKILL)
    killed = time.time()
    result = run.wait()
    assert result.status == "failed" and _cause(result) == ("killed", "bus"), result.failure
    assert run.ended_at - killed < 2.0 + 1.0, f"ended {run.ended_at - killed:.1f} s after the kill"
    assert processes_mentioning(str(run.orch.run_dir)) == []


def test_an_external_fail_request_is_the_cause_not_the_datafeed(secmaster: Path, tmp_path: Path) -> None:
    from bus import ControlClient

    run = Background(_slow_run(secmaster, tmp_path))
    run.child("Slow")
    with ControlClient(run.orch.run_dir, timeout=2.0) as control:
        control.fail("operator pulled the plug")
    result = run.wait()
    assert result.status == "failed" and _cause(result) == ("requested", None), result.failure
    assert result.failure.detail == "operator pulled the plug"
