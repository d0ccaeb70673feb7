"""Launched runs: a queue with a concurrency limit, one worker process per run, cancel, recovery.

State lives in files (STATE_DIR/jobs/JOB_ID/: job.json by the dashboard, status.json and
result.json by the worker), so a restarted dashboard knows which pid ran which run: that is what
lets it tell a dead run from a live one (see liveness) and adopt runs that outlived it.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.dashboard import liveness
from orchestrator.dashboard.worker import write_json
from recorder import runsdb

KILL_AFTER_S = 30.0  # a cancelled worker that has not stopped by then is killed
KEEP_FINISHED_S = 86_400.0


@dataclass
class Job:
    job_id: str
    label: str
    settings: dict[str, Any]
    created: float
    dir: Path
    state: str = "queued"  # queued | running | done
    pid: int | None = None
    pid_start: str | None = None
    run_id: str | None = None
    run_dir: str | None = None
    result: dict[str, Any] | None = None
    cancel_requested: float | None = None  # time.monotonic() of the request (of this dashboard's start, if older)
    delete_requested: bool = False  # delete the run (and forget the job) once it has ended
    error: str | None = None  # why a job ended without a run, or how its worker died
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def record(self) -> dict[str, Any]:
        keys = ("job_id", "label", "settings", "created", "state", "pid", "pid_start", "run_id", "run_dir", "error",
                "delete_requested")
        return {k: getattr(self, k) for k in keys} | {"cancel_requested": self.cancel_requested is not None}

    def save(self) -> None:
        write_json(self.dir / "job.json", self.record())

    @property
    def status(self) -> str:
        """queued, starting (worker up, no run row yet), running, or the run's final status."""
        if self.state == "queued":
            return "queued"
        if self.state == "running":
            return "running" if self.run_id else "starting"
        if self.result is not None:
            return str(self.result.get("status") or "failed")
        return "cancelled" if self.cancel_requested is not None else "failed"

    @property
    def cancel_note(self) -> str | None:
        """Said when a cancel reached a run that had already finished (it is not cancelled)."""
        if self.cancel_requested is not None and self.state == "done" and self.status == "completed":
            return "The cancel came too late: the run had already finished, and it completed."
        return None


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class JobManager:
    """Not thread-safe: every call comes from the event loop (tick() from a periodic task)."""

    WORKER = "orchestrator.dashboard.worker"  # the module each job runs as (`python -m WORKER JOB_DIR`)
    FOLDER = "jobs"

    def __init__(self, state_dir: Path, runs_db: Path, max_concurrent: int) -> None:
        self.dir = state_dir / self.FOLDER
        self.dir.mkdir(parents=True, exist_ok=True)
        self.runs_db = runs_db
        self.max_concurrent = max(1, int(max_concurrent))
        self.jobs: dict[str, Job] = {}
        self.recovered: list[tuple[str, str]] = []  # (run id, reason) marked cancelled at start-up
        self.to_delete: list[str] = []  # run ids whose rows are to be deleted (see _delete)

    # --- start-up ---------------------------------------------------------------------------

    def recover(self) -> None:
        """Adopt live workers of a previous dashboard, drop its queue, mark dead runs cancelled."""
        known: dict[str, liveness.Pid] = {}
        for job_dir in sorted(self.dir.iterdir()):
            rec = _read(job_dir / "job.json")
            if rec is None:
                shutil.rmtree(job_dir, ignore_errors=True)
                continue
            job = Job(rec["job_id"], rec["label"], rec["settings"], rec["created"], job_dir, rec["state"],
                      rec.get("pid"), rec.get("pid_start"), rec.get("run_id"), rec.get("run_dir"), error=rec.get("error"),
                      cancel_requested=time.monotonic() if rec.get("cancel_requested") else None,
                      delete_requested=bool(rec.get("delete_requested")))
            job.result = _read(job_dir / "result.json")
            self._read_status(job)
            if job.state == "queued":
                job.state, job.error = "done", "dropped: the dashboard stopped before it started"
                job.cancel_requested = time.monotonic()
                job.save()
            elif job.state == "running" and job.pid and liveness.pid_alive(liveness.Pid(job.pid, job.pid_start)):
                if job.run_id:
                    known[job.run_id] = liveness.Pid(job.pid, job.pid_start)
            elif job.state == "running":
                job.state = "done"
                job.save()
            if job.pid and job.run_id:
                known.setdefault(job.run_id, liveness.Pid(job.pid, job.pid_start))
            if job.state == "done" and time.time() - job.created > KEEP_FINISHED_S:
                shutil.rmtree(job_dir, ignore_errors=True)
                continue
            self.jobs[job.job_id] = job
        self._mark_dead_runs(known)

    def _mark_dead_runs(self, known: dict[str, liveness.Pid]) -> None:
        if not self.runs_db.exists():
            return
        conn = runsdb.connect(self.runs_db)
        try:
            rows = conn.execute("SELECT run_id, ts_start, metadata FROM runs WHERE status = 'running'").fetchall()
            for run_id, ts_start, metadata in rows:
                recorded = _recorded_pid(metadata, int(ts_start) / 1e9)
                if isinstance(recorded, str):
                    continue  # its orchestrator ran on another host: nothing here can tell
                pid = known.get(run_id) or recorded
                age = (time.time_ns() - int(ts_start)) / 1e9
                reason = liveness.run_is_dead(run_id, age, self.runs_db, pid)
                if reason:
                    runsdb.finish_run(conn, run_id, "cancelled", f"marked cancelled by the dashboard at start-up: {reason}")
                    self.recovered.append((run_id, reason))
        finally:
            conn.close()

    # --- the queue --------------------------------------------------------------------------

    def submit(self, settings: dict[str, Any], label: str) -> Job:
        job_id = f"job-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        job_dir = self.dir / job_id
        job_dir.mkdir(parents=True)
        write_json(job_dir / "settings.json", settings)
        job = Job(job_id, label, settings, time.time(), job_dir)
        job.save()
        self.jobs[job_id] = job
        self.tick()
        return job

    def active(self) -> list[Job]:
        return [j for j in self.jobs.values() if j.state == "running"]

    def tick(self) -> None:
        """Follow running workers, then start queued jobs while below the limit."""
        for job in self.active():
            self._follow(job)
        queued = sorted((j for j in self.jobs.values() if j.state == "queued"), key=lambda j: j.created)
        for job in queued[: max(0, self.max_concurrent - len(self.active()))]:
            self._start(job)

    def _start(self, job: Job) -> None:
        from orchestrator.processes import child_env

        log = open(job.dir / "worker.log", "ab")
        try:
            job.proc = subprocess.Popen(
                [sys.executable, "-m", self.WORKER, str(job.dir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=child_env(), start_new_session=True,  # a Ctrl-C at the terminal reaches the dashboard only
            )
        finally:
            log.close()
        job.state, job.pid = "running", job.proc.pid
        job.pid_start = liveness.proc_start_time(job.pid)
        job.save()

    def _read_status(self, job: Job) -> None:
        status = _read(job.dir / "status.json")
        if status and (status.get("run_id"), status.get("run_dir")) != (job.run_id, job.run_dir):
            job.run_id = status.get("run_id") or job.run_id
            job.run_dir = status.get("run_dir")
            job.save()

    def _exited(self, job: Job) -> tuple[bool, int | None]:
        """(gone, exit code); the code is unknown (None) for an adopted worker."""
        if job.proc is not None:
            code = job.proc.poll()
            return code is not None, code
        return job.pid is None or not liveness.pid_alive(liveness.Pid(job.pid, job.pid_start)), None

    def _follow(self, job: Job) -> None:
        self._read_status(job)
        gone, code = self._exited(job)
        if not gone:
            if job.cancel_requested is not None and time.monotonic() - job.cancel_requested > KILL_AFTER_S and job.pid:
                _signal(job.pid, signal.SIGKILL)  # its children die with it (parent-death signal)
            return
        job.result = _read(job.dir / "result.json")
        job.run_id = job.run_id or (job.result or {}).get("run_id")
        job.state, job.run_dir = "done", None
        if job.result is None:
            job.error = f"the run's orchestrator process (pid {job.pid}) {_how(code)}; see {job.dir / 'worker.log'}"
            self._close_run(job)
        job.save()
        if job.delete_requested:
            self._delete(job)

    def _close_run(self, job: Job) -> None:
        """A worker that died without a result may leave its run `running`: end it honestly."""
        if not job.run_id:
            return
        conn = runsdb.connect(self.runs_db)
        try:
            row = conn.execute("SELECT status FROM runs WHERE run_id = ?", (job.run_id,)).fetchone()
            if row and row[0] == "running":
                status = "cancelled" if job.cancel_requested is not None else "failed"
                runsdb.finish_run(conn, job.run_id, status, job.error)
        finally:
            conn.close()

    # --- user actions -----------------------------------------------------------------------

    def find(self, key: str) -> Job | None:
        """By job id or run id, the newest of a run's jobs (a resumed sweep has two); pool threads
        call this too: iterate a snapshot."""
        job = self.jobs.get(key)
        if job is None:
            matches = [j for j in list(self.jobs.values()) if j.run_id == key]
            job = max(matches, key=lambda j: j.created) if matches else None
        return job

    def cancel(self, job: Job) -> bool:
        """Queued: dropped. Running: SIGTERM, which the orchestrator turns into a cancelled run."""
        if job.state == "done":
            return False
        if job.cancel_requested is None:
            job.cancel_requested = time.monotonic()
        if job.state == "queued":
            job.state, job.error = "done", "cancelled while queued"
        elif job.pid:
            _signal(job.pid, signal.SIGTERM)
        job.save()
        return True

    def delete(self, job: Job, *, ended: bool = False) -> bool:
        """Forget the job and delete its run; a run still going is cancelled first and deleted
        once it has ended (True: deleted now). `ended`: its run is over (its worker may still be
        on its way out)."""
        if ended or job.state == "done" or (job.state == "queued" and self.cancel(job)):
            self._delete(job)
            return True
        job.delete_requested = True
        self.cancel(job)
        return False

    def _delete(self, job: Job) -> None:
        """Forget the job now; its run's rows go on `to_delete` (deleting a large run takes a
        while: the caller does it off the event loop)."""
        if job.run_id:
            self.to_delete.append(job.run_id)
        self.jobs.pop(job.job_id, None)
        shutil.rmtree(job.dir, ignore_errors=True)

    def shutdown(self, timeout: float = 20.0) -> None:
        """Cancel every run this dashboard started and wait (bounded) for them to end."""
        for job in list(self.jobs.values()):
            if job.state in ("queued", "running"):
                self.cancel(job)
        deadline = time.monotonic() + timeout
        while self.active() and time.monotonic() < deadline:
            time.sleep(0.1)
            for job in self.active():
                self._follow(job)
        for job in self.active():
            if job.pid:
                _signal(job.pid, signal.SIGKILL)
            if job.proc is not None:
                job.proc.wait(timeout=5)
            self._follow(job)


def _how(code: int | None) -> str:
    if code is None:
        return "is gone"
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _recorded_pid(metadata: str | None, run_start: float) -> liveness.Pid | str | None:
    """The orchestrator pid the run recorded (metadata `orchestrator_pid`), "elsewhere" when it
    ran on another host, or None when the run recorded none."""
    try:
        data = json.loads(metadata) if metadata else None
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("orchestrator_pid"), int):
        return None
    host = data.get("host")
    if host and host != platform.node():
        return "elsewhere"
    return liveness.Pid(data["orchestrator_pid"], started_by=run_start)
