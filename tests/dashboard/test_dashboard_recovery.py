"""Start-up: runs left `running` are marked cancelled only when their processes are really gone."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from orchestrator.dashboard import liveness
from orchestrator.dashboard.jobs import JobManager
from recorder import runsdb


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _run(conn: object, name: str, age_s: float, metadata: dict[str, object] | None) -> str:
    run_id = runsdb.create_run(conn, [name], {"strategies": [name]}, metadata)  # type: ignore[arg-type]
    conn.execute("UPDATE runs SET ts_start = ? WHERE run_id = ?", (time.time_ns() - int(age_s * 1e9), run_id))  # type: ignore[attr-defined]
    return run_id


def test_only_runs_whose_orchestrator_is_gone_are_cancelled(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    conn = runsdb.connect(db)
    host = platform.node()
    dead = _run(conn, "dead-pid", 5, {"orchestrator_pid": _dead_pid(), "host": host})
    alive = _run(conn, "alive-pid", 0, {"orchestrator_pid": os.getpid(), "host": host})  # started before its run
    reused = _run(conn, "reused-pid", 0, {"orchestrator_pid": os.getpid(), "host": host})
    conn.execute("UPDATE runs SET ts_start = 1000000000 WHERE run_id = ?", (reused,))  # this pid started long after
    elsewhere = _run(conn, "elsewhere", 600, {"orchestrator_pid": _dead_pid(), "host": host + "-other"})
    old_unknown = _run(conn, "old-unknown", 600, None)
    young_unknown = _run(conn, "young-unknown", 5, None)
    job_dead = _run(conn, "job-dead", 5, None)
    conn.close()
    job_dir = tmp_path / "state" / "jobs" / "job-1"
    job_dir.mkdir(parents=True)
    (job_dir / "job.json").write_text(json.dumps({
        "job_id": "job-1", "label": "job-dead", "settings": {}, "created": time.time(), "state": "running",
        "pid": _dead_pid(), "pid_start": None, "run_id": job_dead, "run_dir": None,
    }))

    manager = JobManager(tmp_path / "state", db, 1)
    manager.recover()

    conn = runsdb.connect(db)
    status = dict(conn.execute("SELECT run_id, status FROM runs"))
    errors = dict(conn.execute("SELECT run_id, error FROM runs"))
    conn.close()
    assert {k: status[k] for k in (dead, reused, old_unknown, job_dead)} == dict.fromkeys((dead, reused, old_unknown, job_dead), "cancelled")
    assert {k: status[k] for k in (alive, elsewhere, young_unknown)} == dict.fromkeys((alive, elsewhere, young_unknown), "running")
    assert "is gone" in errors[dead] and "no process runs it" in errors[old_unknown]
    assert {r for r, _ in manager.recovered} == {dead, reused, old_unknown, job_dead}
    assert manager.jobs["job-1"].state == "done"


def test_unknown_pid_run_is_alive_while_a_process_names_it_or_holds_the_database(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    runsdb.connect(db).close()
    assert liveness.run_is_dead("2026-01-01_00-00-00_X", 600, db, None)
    holder = subprocess.Popen([sys.executable, "-c", f"import sqlite3, time; c = sqlite3.connect({str(db)!r}); c.execute('select 1'); time.sleep(30)"])
    namer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "2026-01-01_00-00-00_Y"])
    try:
        deadline = time.monotonic() + 5
        while not liveness.others_holding(db):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert liveness.run_is_dead("2026-01-01_00-00-00_X", 600, db, None) is None
        holder.kill()
        holder.wait()
        assert liveness.run_is_dead("2026-01-01_00-00-00_Y", 600, db, None) is None
        assert liveness.run_is_dead("2026-01-01_00-00-00_X", 600, db, None)
    finally:
        for p in (holder, namer):
            p.kill()
            p.wait()


def _until(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_queued_run_cancelled_before_a_restart_stays_cancelled_and_in_its_place(tmp_path: Path) -> None:
    from orchestrator.dashboard.app import Config, Dashboard

    db = tmp_path / "runs.db"
    runsdb.connect(db).close()
    manager = JobManager(tmp_path / "state", db, 1)
    first = manager.submit({}, "Broken")  # its worker starts, and fails at once (no secmaster)
    queued = manager.submit({}, "Waits")
    assert queued.status == "queued" and manager.cancel(queued) and queued.status == "cancelled"

    def settled() -> bool:
        manager.tick()
        return first.state == "done"

    _until(settled, 60, "the first job's worker did not end")
    conn = runsdb.connect(db)
    newer = runsdb.create_run(conn, ["Newer"], {"strategies": ["Newer"]})
    runsdb.finish_run(conn, newer, "completed")
    conn.close()

    restarted = Dashboard(Config(db, tmp_path / "secmaster.db", state_dir=tmp_path / "state"))
    restarted.jobs.recover()
    assert restarted.jobs.jobs[queued.job_id].status == "cancelled"  # not "failed"
    entries = restarted.list_entries()
    assert [e["key"] for e in entries] == [newer, queued.job_id, first.job_id]  # newest first, not pinned on top
    assert entries[1]["status"] == "cancelled" and entries[1]["error"] == "cancelled while queued"


def test_a_cancel_that_comes_too_late_says_so(tmp_path: Path) -> None:
    from components.sample_data import build_sample_secmaster

    secmaster = build_sample_secmaster(tmp_path / "secmaster.db", symbols=1, bars=50)
    manager = JobManager(tmp_path / "state", tmp_path / "runs.db", 1)
    job = manager.submit({"secmaster": str(secmaster), "runs_db": str(tmp_path / "runs.db"),
                          "strategies": [["SMACrossover", {}]], "in_process": True}, "SMA-Crossover")
    _until(lambda: job.proc is not None and job.proc.poll() is not None, 60, "the run did not end")
    assert manager.cancel(job)  # the dashboard has not noticed yet: the request goes out, too late
    manager.tick()
    assert job.state == "done" and job.status == "completed"
    assert job.cancel_note == "The cancel came too late: the run had already finished, and it completed."
