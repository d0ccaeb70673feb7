"""Starting a bus process, and the parent-death contract every child process of a run keeps.

`spawn_bus_process` starts `python -m bus` (or a module that hosts members in it) without
waiting, so a caller can start other processes while the bus imports and binds; `wait_bus_ready`
then waits, bounded, for its endpoints.json. `start_bus_process` is both.

No orphans: a spawner names itself in TICKBUS_PARENT_PID (`with_parent_pid`) and the child calls
`die_with_parent` first thing, which asks Linux to SIGTERM it when that parent dies and catches a
parent that died while the child was still starting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict, Unpack

from bus.endpoints import ENDPOINTS_FILE, Endpoints, refuse_if_running
from bus.errors import BusError
from bus.run_contract import PARENT_PID_ENV


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask Linux to send `sig` to this process when its parent dies; send it now if the parent
    named in TICKBUS_PARENT_PID is already gone (it died while we were starting)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    expected = os.environ.get(PARENT_PID_ENV)
    if expected and expected.isdigit() and os.getppid() != int(expected):
        os.kill(os.getpid(), sig)


def with_parent_pid(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: ours) naming this process as the parent a spawned child must outlive."""
    out = dict(os.environ if env is None else env)
    out[PARENT_PID_ENV] = str(os.getpid())
    return out


class SpawnOptions(TypedDict, total=False):
    """How spawn_bus_process starts a bus (start_bus_process takes the same)."""

    transport: str
    heartbeat_timeout: float
    max_trailing_backlog: int
    tap_hwm: int
    log_file: str | os.PathLike[str] | None
    env: dict[str, str] | None
    extra_args: Sequence[str]
    module: str


def start_bus_process(run_dir: str | os.PathLike[str], *, timeout: float = 10.0,
                      **options: Unpack[SpawnOptions]) -> tuple[subprocess.Popen[bytes], Endpoints]:
    """spawn_bus_process, then wait_bus_ready: BusError with the child's stderr if it exits or
    does not come up within `timeout`."""
    proc = spawn_bus_process(run_dir, **options)
    return proc, wait_bus_ready(proc, run_dir, timeout, options.get("log_file", "bus.log"))


def spawn_bus_process(
    run_dir: str | os.PathLike[str],
    *,
    transport: str = "ipc",
    heartbeat_timeout: float = 1.0,
    max_trailing_backlog: int = 10_000,
    tap_hwm: int = 1000,
    log_file: str | os.PathLike[str] | None = "bus.log",
    env: dict[str, str] | None = None,
    extra_args: Sequence[str] = (),
    module: str = "bus",
) -> subprocess.Popen[bytes]:
    """Spawn the bus without waiting for it (then `wait_bus_ready`). Its stderr goes to `log_file`
    (relative paths are inside run_dir; None inherits ours). `module` is what runs it: `bus`, or
    one that hosts members in the bus process (components.hosting; extra_args name them)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(run_dir, 0o700)
    refuse_if_running(run_dir / ENDPOINTS_FILE)
    cmd = [
        sys.executable, "-m", module, "--run-dir", str(run_dir), "--transport", transport,
        "--heartbeat-timeout", repr(float(heartbeat_timeout)),
        "--max-trailing-backlog", str(int(max_trailing_backlog)), "--tap-hwm", str(int(tap_hwm)),
        *extra_args,  # e.g. security.bus_args(listen), --policy FILE
    ]
    log_path = None if log_file is None else (run_dir / log_file)
    log_fh = open(log_path, "ab") if log_path is not None else None
    try:
        # Own session: a Ctrl-C at the terminal reaches only the orchestrator, which stops the run
        # in order; `python -m bus` also asks Linux to end it if its parent dies.
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stderr=log_fh, env=with_parent_pid(env),
                                start_new_session=True)
    finally:
        if log_fh is not None:
            log_fh.close()


def wait_bus_ready(proc: subprocess.Popen[bytes], run_dir: str | os.PathLike[str], timeout: float = 10.0,
                   log_file: str | os.PathLike[str] | None = "bus.log") -> Endpoints:
    """Until the spawned bus has written its endpoints (bounded; BusError with its stderr if it
    exits first or does not come up in time, and then it is killed)."""
    ep_file = Path(run_dir) / ENDPOINTS_FILE
    log_path = None if log_file is None else (Path(run_dir) / log_file)
    deadline = time.monotonic() + timeout
    while True:
        rc = proc.poll()
        if rc is not None:
            raise BusError(f"bus process exited with status {rc} before it was ready: {_tail(log_path)}")
        try:
            eps = Endpoints.load(ep_file)
            if eps.pid == proc.pid:
                return eps
        except (OSError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait(5)
            raise BusError(f"bus process did not write {ep_file} within {timeout:g} s: {_tail(log_path)}")
        time.sleep(0.005)


def _tail(path: Path | None, limit: int = 2000) -> str:
    if path is None:
        return "(stderr not captured)"
    try:
        data = path.read_bytes()[-limit:].decode("utf-8", "replace").strip()
    except OSError as exc:
        return f"(cannot read {path}: {exc.strerror})"
    return data or "(no output)"
