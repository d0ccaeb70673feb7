"""Is the orchestrator of a `running` run still alive? Decides which runs are really dead.

onesecondtrader marks every `running` run `cancelled` at start-up, which also "cancels" runs that are
still going (started from the command line, or by another dashboard). Here a run is marked only
when its processes are really gone:

1. Its orchestrator's pid is known (a job record of this dashboard, or the `orchestrator_pid`
   the orchestrator records in the run's metadata): dead iff that process is gone, a zombie, or
   the pid now belongs to another process (a start time other than the recorded one, or later
   than the run's start). A pid recorded on another host (metadata `host`) cannot be checked
   from here: such a run is left alone.
2. The pid is unknown (a run recorded by an older tickbus, or by other tools): dead iff all of
   a. no live process names the run id on its command line (the recorder of a multi-process
      run carries the run id in its `--spec`, for the whole run);
   b. no other process has the runs database open (whoever records a run, in-process or not,
      keeps it open; processes of other users cannot be inspected and do not count);
   c. it started more than `grace_s` ago (between creating the run row and starting its
      recorder an orchestrator holds neither of the above for a moment).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bus.registry import pid_exited, proc_start_time

__all__ = ["Pid", "pid_alive", "proc_start_time", "started_at", "command_lines_naming", "others_holding", "run_is_dead"]


@dataclass(frozen=True)
class Pid:
    pid: int
    start: str | None = None  # /proc start-time token recorded at launch: guards against pid reuse
    started_by: float | None = None  # epoch s by which the process had started (its run's start)


def started_at(pid: int) -> float | None:
    """Epoch seconds at which `pid` started (Linux /proc), or None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            ticks = int(fh.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/stat", "rb") as fh:
            btime = next(int(line.split()[1]) for line in fh if line.startswith(b"btime "))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def pid_alive(p: Pid) -> bool:
    if pid_exited(p.pid, p.start):
        return False
    if p.started_by is not None:
        t = started_at(p.pid)
        if t is not None and t > p.started_by + 2.0:  # btime and ticks are coarse
            return False  # a newer process under a recycled pid
    return True


def _pids() -> list[int]:
    try:
        return [int(n) for n in os.listdir("/proc") if n.isdigit() and int(n) != os.getpid()]
    except OSError:
        return []


def command_lines_naming(text: str) -> bool:
    """Whether a live process (other than this one) has `text` in its command line."""
    needle = text.encode()
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                if needle in fh.read():
                    return True
        except OSError:
            continue
    return False


def others_holding(path: Path) -> bool:
    """Whether another process has `path` (or its -wal/-shm file) open."""
    try:
        target = str(path.resolve())
    except OSError:
        return False
    names = {target, target + "-wal", target + "-shm"}
    for pid in _pids():
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{fd_dir}/{fd}") in names:
                    return True
            except OSError:
                continue
    return False


def run_is_dead(run_id: str, age_s: float, runs_db: Path, known: Pid | None, *, grace_s: float = 60.0) -> str | None:
    """Why the run's orchestrator is certainly gone, or None when it may be alive."""
    if known is not None:
        return None if pid_alive(known) else f"its orchestrator (pid {known.pid}) is gone"
    if age_s < grace_s:
        return None
    if command_lines_naming(run_id):
        return None
    if others_holding(runs_db):
        return None
    return "no process runs it or holds the runs database open"
