"""The run contract: what the processes of one run agree on besides the wire (bus/protocol.py).

Check the code against this text: the constants below are the only spellings of the run
directory's file names, the exit codes and the failure kinds.

The run directory
-----------------
One private (0700) directory per run, created by the orchestrator (orchestrator/rundir.py) and
given to every child as --run-dir. Its files, who writes them, who reads them:

  policy.json     the orchestrator, before the bus starts       the bus (--policy: bus/policy.py)
  endpoints.json  the bus, once its endpoints are bound        every client (bus/endpoints.py)
  run.json        the orchestrator, once the run is joinable    ps / attach / monitor
  access.key      the bus, with CURVE (bus/security.py)         tcp clients (the run's key)
  progress.json   the datafeed, at its barriers                 the orchestrator, the dashboard
  go              the orchestrator, when the replay may start   the datafeed
  failures/NAME.json  a process that fails (NAME: its own name) the orchestrator: the root cause
  recorded.json   the recorder, after its last write           the orchestrator: "completed"
  closes.bin      the datafeed, after its replay, when its     the orchestrator: the run's figures
                  bars are not recorded (components/datafeed.py ReplayedCloses)
  bus.log         the bus process's stderr                      people

Every file is written atomically (a temporary file renamed into place): a reader sees all of it
or nothing.

Exit codes (every child process)
--------------------------------
  EXIT_OK          0  stopped as asked, or the replay completed
  EXIT_FAILED      1  it failed itself: its failure record says how (an exception, a database
                      that vanished, a hung member it hosts)
  EXIT_RUN_FAILED  3  it ended because the run failed elsewhere (the bus failed its wait, or
                      the bus went away): a consequence, the cause is someone else's record

The parent
----------
Every child of a run is spawned with TICKBUS_PARENT_PID naming its spawner (PARENT_PID_ENV) and
ends when that process dies (bus/processes.die_with_parent): no run leaves orphans.

The failure record
------------------
failures/NAME.json, one per failing process, written before it exits:

  {"process": NAME, "kind": KIND, "member": CULPRIT, "detail": ONE_LINE, "traceback": TEXT|null,
   "time": UNIX_SECONDS, "pid": PID}

`member` names the culprit, which is not always the writer: the bus writes "lost" for the member
it lost, the datafeed "stalled" for the member that made no progress. The orchestrator adds its
own records (a child killed by a signal, a cancel) and names as the root cause the earliest
record in time (`root_cause`): the processes that ended because of it come later. Kinds:

  exception  code of `member` raised (traceback set)
  killed     `member` was killed by a signal
  exited     `member` exited with an unexpected status and left no record
  lost       the bus lost `member` (its process exited, its connection vanished, no heartbeat)
  stalled    the run made no progress for the barrier timeout; `member` had work pending
  hung       `member`, hosted by the bus, did not return from a call (detail: where it was)
  bus_lost   the bus itself went away or went silent
  storage    the runs database failed under the recorder (vanished, replaced, read-only, full)
  start      `member` did not start (did not join in time, bad configuration)
  requested  the bus was asked to fail the run (control `fail`; detail: the reason given)
  cancelled  the run was cancelled (a signal to the orchestrator, a user's cancel)
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# --- files of the run directory ---
POLICY_FILE = "policy.json"
ENDPOINTS_FILE = "endpoints.json"
RUN_FILE = "run.json"
PROGRESS_FILE = "progress.json"
GO_FILE = "go"
FAILURES_DIR = "failures"
RECORDED_FILE = "recorded.json"
CLOSES_FILE = "closes.bin"
BUS_LOG = "bus.log"

# --- environment of every child: the pid of the process it must not outlive ---
PARENT_PID_ENV = "TICKBUS_PARENT_PID"

# --- exit codes ---
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_RUN_FAILED = 3

# --- failure kinds ---
EXCEPTION = "exception"
KILLED = "killed"
EXITED = "exited"
LOST = "lost"
STALLED = "stalled"
HUNG = "hung"
BUS_LOST = "bus_lost"
STORAGE = "storage"
START = "start"
REQUESTED = "requested"
CANCELLED = "cancelled"
KINDS = frozenset({EXCEPTION, KILLED, EXITED, LOST, STALLED, HUNG, BUS_LOST, STORAGE, START, REQUESTED, CANCELLED})


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file renamed into place."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@dataclass(frozen=True, slots=True)
class FailureRecord:
    """Why a run failed, as one process saw it (see the module docstring)."""

    process: str
    kind: str
    member: str | None
    detail: str
    traceback: str | None = None
    time: float = 0.0
    pid: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown failure kind {self.kind!r}")

    @classmethod
    def now(cls, process: str, kind: str, member: str | None, detail: str, traceback: str | None = None) -> FailureRecord:
        return cls(process, kind, member, detail.strip(), traceback, time.time(), os.getpid())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FailureRecord:
        return cls(
            process=str(data["process"]), kind=str(data["kind"]),
            member=None if data.get("member") is None else str(data["member"]),
            detail=str(data.get("detail", "")),
            traceback=None if data.get("traceback") is None else str(data["traceback"]),
            time=float(data.get("time", 0.0)), pid=int(data.get("pid", 0)),
        )

    def describe(self) -> str:
        """One paragraph for a person: the culprit, what happened, and the traceback if any."""
        who = self.member or self.process
        text = f"{who}: {self.detail}" if self.detail else who
        return f"{text}\n{self.traceback.rstrip()}" if self.traceback else text

    def write(self, run_dir: str | os.PathLike[str]) -> Path:
        """failures/PROCESS.json in the run directory (a later record of the same process replaces it)."""
        folder = Path(run_dir) / FAILURES_DIR
        folder.mkdir(mode=0o700, exist_ok=True)
        path = folder / f"{self.process}.json"
        write_atomic(path, json.dumps(self.to_dict()) + "\n")
        return path


def read_failures(run_dir: str | os.PathLike[str]) -> list[FailureRecord]:
    """Every failure record of the run directory, earliest first (unreadable files skipped)."""
    folder = Path(run_dir) / FAILURES_DIR
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            out.append(FailureRecord.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(out, key=lambda r: r.time)


# For the same culprit, the record that says most about what happened to it.
_TELLING = (EXCEPTION, HUNG, STORAGE, KILLED, START, STALLED, LOST, EXITED, BUS_LOST, REQUESTED, CANCELLED)


def root_cause(records: list[FailureRecord]) -> FailureRecord | None:
    """The earliest record; of the records about the same culprit, the most telling one (a
    strategy SIGKILLed is seen by the orchestrator as "killed" and by the bus as "lost")."""
    if not records:
        return None
    first = min(records, key=lambda r: r.time)
    same = [r for r in records if r.member is not None and r.member == first.member] or [first]
    return min(same, key=lambda r: (_TELLING.index(r.kind), r.time))
