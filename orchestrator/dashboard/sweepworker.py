"""One dashboard sweep in its own process: `python -m orchestrator.dashboard.sweepworker JOB_DIR`.

It is `tickbus sweep` (the same plan, phases, local worker pool, driver and runs.db records) with the
dashboard's job files: JOB_DIR/settings.json holds the sweep's settings (as `tickbus sweep`
takes them, the strategy as [spec, fixed params]), or `resume` (a sweep id), `runs_db` and
`workers` to finish one as `tickbus sweep resume` does; JOB_DIR/status.json names the sweep id as
soon as the sweep row exists; JOB_DIR/result.json its final status. SIGTERM is the dashboard's
cancel: the driver stops its workers and marks the sweep `cancelled` (`tickbus sweep resume`
finishes it). The pool's workers carry a parent-death signal, so none outlives this process.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from orchestrator.dashboard.worker import write_json

WATCH_S = 0.2


class _Resender(threading.Thread):
    """A SIGTERM that reached this process's own handler (before or after the driver's) is sent
    again while the sweep runs, so the driver's handler sees it: an early cancel still cancels."""

    def __init__(self, signalled: list[int]) -> None:
        super().__init__(name="dashboard-sweep-resender", daemon=True)
        self.signalled = signalled
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(WATCH_S):
            if self.signalled:
                os.kill(os.getpid(), signal.SIGTERM)


def settings_of(job_dir: Path) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((job_dir / "settings.json").read_text())
    raw["strategies"] = [(spec, dict(fixed)) for spec, fixed in raw.get("strategies") or []]
    return raw


def main(argv: list[str]) -> int:
    from orchestrator.errors import UsageError

    job_dir = Path(argv[0])
    signalled: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, f: signalled.append(s))
    try:
        return _sweep(job_dir, settings_of(job_dir), signalled)
    except UsageError as exc:  # before any variant ran: a new sweep records nothing
        write_json(job_dir / "result.json", {"run_id": None, "status": "failed", "error": str(exc)})
        return 2


def _sweep(job_dir: Path, raw: dict[str, Any], signalled: list[int]) -> int:
    """A new sweep, or with `resume: SWEEP_ID` the variants of one not yet recorded."""
    from orchestrator.commands.sweep import DEFAULT_DB
    from orchestrator.sweep import phases, plan as P, resources, store

    resuming = raw.get("resume")
    runs_db = str(raw.get("runs_db") or DEFAULT_DB)
    with resources.runs_db(runs_db) as conn:  # (checked: a runs.db that cannot be recorded into is a UsageError)
        if resuming:
            info, plan = resources.resume_plan(conn, str(resuming), runs_db, workers=raw.get("workers"))
        else:
            plan = P.prepare(raw, origin="the sweep's settings")
        try:
            if signalled:
                write_json(job_dir / "result.json", {"run_id": None, "status": "cancelled", "error": "cancelled before it started"})
                return 130
            search = resources.search_for(plan)  # --search tpe without Optuna: failed, nothing recorded
            executor = resources.executor(plan.settings)  # a Dask scheduler not reached: the same
            running = False
            resender = _Resender(signalled)
            try:
                if resuming:
                    sweep_id = info.sweep_id
                    store.restart(conn, sweep_id)
                else:
                    sweep_id = phases.create(conn, plan)
                write_json(job_dir / "status.json", {"pid": os.getpid(), "run_id": sweep_id, "run_dir": None})
                running = True  # from here on the sweep closes the executor
                resender.start()
                outcome = phases.run(plan, conn, sweep_id, executor, lambda total, done: None, search)
            finally:
                resender.done.set()
                if not running:
                    executor.close(cancel=True)
        finally:
            plan.close()
    write_json(job_dir / "result.json", {"run_id": sweep_id, "status": outcome.status, "error": outcome.error,
                                         "elapsed_s": round(outcome.elapsed_s, 3), "ended": time.time()})
    return {"completed": 0, "cancelled": 130}.get(outcome.status, 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
