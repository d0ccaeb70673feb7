"""One dashboard run in its own process: `python -m orchestrator.dashboard.worker JOB_DIR`.

Why a process per run: the web server never blocks or shares signal handling with a run, several
runs go at once, and cancelling is the orchestrator's own SIGTERM path (status `cancelled`, every
process stopped). The worker reads JOB_DIR/settings.json (the settings `tickbus run` takes),
writes JOB_DIR/status.json as soon as the run id and run directory exist (so the dashboard can
show progress and bus stats while it runs) and JOB_DIR/result.json at the end.
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

WATCH_S = 0.05


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically, so a reader never sees half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


class _Watcher(threading.Thread):
    """Publishes the run id / run dir once known; re-sends a SIGTERM that arrived before the
    orchestrator installed its own handler, so an early cancel still cancels the run."""

    def __init__(self, orch: Any, job_dir: Path, signalled: list[int]) -> None:
        super().__init__(name="dashboard-watcher", daemon=True)
        self.orch, self.job_dir, self.signalled = orch, job_dir, signalled
        self.done = threading.Event()

    def run(self) -> None:
        seen: tuple[Any, ...] = ()
        last_kill = 0.0
        while not self.done.wait(WATCH_S):
            now = (self.orch.run_id, getattr(self.orch, "run_dir", None))
            if now != seen:
                seen = now
                write_json(self.job_dir / "status.json", {
                    "pid": os.getpid(), "run_id": now[0], "run_dir": str(now[1]) if now[1] else None,
                })
            if self.signalled and now[0] and time.monotonic() - last_kill > 0.2:
                last_kill = time.monotonic()
                os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str]) -> int:
    from orchestrator.commands.run import STATUS_EXIT, build_orchestrator
    from orchestrator.errors import UsageError

    job_dir = Path(argv[0])
    signalled: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda s, f: signalled.append(s))
    settings = json.loads((job_dir / "settings.json").read_text())
    try:
        orch = build_orchestrator(settings)
    except UsageError as exc:
        write_json(job_dir / "result.json", {"run_id": None, "status": "failed", "error": str(exc)})
        return 2
    if signalled:
        write_json(job_dir / "result.json", {"run_id": None, "status": "cancelled", "error": "cancelled before it started"})
        return STATUS_EXIT["cancelled"]
    watcher = _Watcher(orch, job_dir, signalled)
    watcher.start()
    try:
        result = orch.run()
    finally:
        watcher.done.set()
        watcher.join()
    write_json(job_dir / "result.json", result.to_dict())
    return STATUS_EXIT.get(result.status, 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
