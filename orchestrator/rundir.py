"""Run directories: where a live run keeps its sockets and keys, and how other commands find it.

Why a fixed root: `tickbus ps`, `attach` and `monitor` must find the live runs of this user
without being told. Each run gets a short private (0700) directory under the root - ipc socket
paths must stay below ~100 bytes - holding the files of the run contract (bus/run_contract.py),
among them run.json, written here: who runs it and where to record.

Root: $TICKBUS_RUN_ROOT if set (tests isolate themselves with it), else
$XDG_RUNTIME_DIR/tickbus, else /tmp/tickbus-<uid>. A root not owned by us, or open to others,
is refused: a run directory is where keys and sockets live.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bus.registry import pid_exited, proc_start_time
from bus.run_contract import PROGRESS_FILE, RUN_FILE, write_atomic
STALE_EMPTY_S = 60.0  # a run dir without run.json this old, whose creator is gone, is debris


class RunDirError(Exception):
    """The run root cannot be used safely (owner or permissions)."""


def runs_root() -> Path:
    explicit = os.environ.get("TICKBUS_RUN_ROOT")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        return Path(xdg) / "tickbus"
    return Path(tempfile.gettempdir()) / f"tickbus-{os.getuid()}"


def ensure_root() -> Path:
    """The root, created 0700; refuse one that someone else owns or that is a symlink."""
    root = runs_root()
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = os.lstat(root)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise RunDirError(f"{root} is not a directory")
    if st.st_uid != os.getuid():
        raise RunDirError(f"{root} belongs to uid {st.st_uid}, not to us: set TICKBUS_RUN_ROOT")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(root, 0o700)
    return root


def create_run_dir() -> Path:
    """A fresh private directory for one run: `<root>/<pid>-<random>` (short, for ipc paths)."""
    path = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-", dir=ensure_root()))
    os.chmod(path, 0o700)
    return path


def utc_now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class RunInfo:
    """run.json: enough for ps/attach/monitor to find, describe and record into a live run."""

    run_id: str
    pid: int  # the orchestrator
    runs_db: str
    run_dir: str
    endpoints: str  # path of endpoints.json (what clients load: it carries the CURVE key fields)
    bus: dict[str, str] = field(default_factory=dict)  # members/control/tap, for people reading this file
    symbols: list[str] = field(default_factory=list)
    strategies: list[str] = field(default_factory=list)
    started: str = field(default_factory=utc_now_iso)
    started_unix: float = field(default_factory=time.time)
    proc_start: str | None = None  # detects a reused orchestrator pid
    listen: str | None = None  # the members endpoint when bound with --listen
    access_key: str | None = None  # CURVE access key file
    expect_attach: int = 0
    on_attach_loss: str = "fail"

    @property
    def dir(self) -> Path:
        return Path(self.run_dir)

    def alive(self) -> bool:
        return not pid_exited(self.pid, self.proc_start)

    def progress(self) -> dict[str, Any] | None:
        """The datafeed's progress.json, or None before the replay starts."""
        try:
            data = json.loads((self.dir / PROGRESS_FILE).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


def write_run_info(info: RunInfo) -> None:
    """Atomic (temp file + rename), so ps never reads half a file."""
    write_atomic(info.dir / RUN_FILE, json.dumps(asdict(info), indent=1) + "\n")


def new_run_info(run_dir: Path, **fields: Any) -> RunInfo:
    return RunInfo(run_dir=str(run_dir), pid=os.getpid(), proc_start=proc_start_time(os.getpid()), **fields)


def read_run_info(run_dir: str | os.PathLike[str]) -> RunInfo | None:
    try:
        data = json.loads((Path(run_dir) / RUN_FILE).read_text())
        known = {k: v for k, v in data.items() if k in RunInfo.__dataclass_fields__}
        return RunInfo(**known)
    except (OSError, ValueError, TypeError):
        return None


def live_runs(*, clean: bool = True) -> list[RunInfo]:
    """Runs whose orchestrator is alive, oldest first. With `clean`, directories left behind by
    runs whose orchestrator died (killed before it could clean up) are removed."""
    root = runs_root()
    if not root.is_dir():
        return []
    runs = []
    for d in sorted(root.iterdir()):
        if not d.is_dir() or d.is_symlink():
            continue
        info = read_run_info(d)
        if info is not None and info.alive():
            runs.append(info)
        elif clean and _is_debris(d, info):
            shutil.rmtree(d, ignore_errors=True)
    return sorted(runs, key=lambda r: r.started_unix)


def _is_debris(d: Path, info: RunInfo | None) -> bool:
    try:
        if os.lstat(d).st_uid != os.getuid():
            return False
    except OSError:
        return False
    if info is not None:
        return True  # its orchestrator is gone
    creator = d.name.split("-", 1)[0]
    try:
        age = time.time() - d.stat().st_mtime
    except OSError:
        return False
    return creator.isdigit() and age > STALE_EMPTY_S and pid_exited(int(creator), None)


def remove_run_dir(run_dir: Path) -> None:
    shutil.rmtree(run_dir, ignore_errors=True)
