"""Child processes of a run: spawning them and stopping them with escalation.

Every child starts in its own session (so a Ctrl-C at the terminal reaches only the orchestrator,
which then stops the run in order) and with a parent-death signal (components.runtime), so no
child outlives the orchestrator even when it is killed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bus.processes import with_parent_pid


@dataclass
class Child:
    name: str
    role: str
    proc: subprocess.Popen[bytes]
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def exit_reason(self) -> str | None:
        """None while running; else how it ended, in words."""
        code = self.proc.poll()
        if code is None:
            return None
        if code < 0:
            try:
                sig = signal.Signals(-code).name
            except ValueError:
                sig = f"signal {-code}"
            return f"{self.name} (pid {self.pid}) was killed by {sig}"
        return f"{self.name} (pid {self.pid}) exited with status {code}"


def child_env() -> dict[str, str]:
    """The parent's import path, so `package.module:Class` specs resolve in the child too."""
    env = dict(os.environ)
    paths = [p for p in sys.path if p and Path(p).is_dir()]
    if os.getcwd() not in paths:
        paths.insert(0, os.getcwd())
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return with_parent_pid(env)  # the child exits if we died while it was starting


def spawn(name: str, role: str, args: Sequence[str], env: dict[str, str] | None = None) -> Child:
    proc = subprocess.Popen(
        [sys.executable, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        env=env or child_env(),
        start_new_session=True,
    )
    return Child(name, role, proc)


def wait_exit(child: Child, timeout: float) -> bool:
    try:
        child.proc.wait(timeout=max(timeout, 0.0))
        return True
    except subprocess.TimeoutExpired:
        return False


TERM_GRACE_S = 1.0


def stop_child(child: Child, request: Callable[[], None] | None, timeout: float) -> str:
    """Graceful request, then SIGTERM, then SIGKILL, each after a bounded wait; says which worked."""
    if child.proc.poll() is not None:
        return "exited"
    if request is not None:
        try:
            request()
        except Exception:
            pass
        if wait_exit(child, timeout):
            return "stopped"
    child.proc.send_signal(signal.SIGTERM)
    if wait_exit(child, timeout):
        return "terminated"
    child.proc.kill()
    wait_exit(child, timeout)
    return "killed"


def is_stopped(pid: int) -> bool:
    """Whether the process is stopped (SIGSTOP, a debugger): it can act on no request or SIGTERM."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] in (["T"], ["t"])


def stop_children(children: Sequence[Child], request: Callable[[str], None] | None, timeout: float) -> list[str]:
    """Stop several at once: every graceful request first (bounded by `timeout` in all), then
    SIGTERM to those still running (they get TERM_GRACE_S more: a process that ignored the
    request is stuck, not slow; without a request SIGTERM is the graceful way and gets `timeout`),
    then SIGKILL. A stopped process (it can act on neither) is killed at once, and one the request
    cannot reach (no longer a bus member) goes straight to SIGTERM. Says, per child, which worked."""
    running = [c for c in children if c.proc.poll() is None]
    out: dict[int, str] = {id(c): "exited" for c in children if c not in running}
    for child in running:
        if is_stopped(child.pid):
            child.proc.kill()
            wait_exit(child, timeout)
            out[id(child)] = "killed"
    asked = []
    if request is not None:
        for child in running:
            if id(child) in out:
                continue
            try:
                request(child.name)
                asked.append(child)
            except Exception:
                pass
        deadline = time.monotonic() + timeout
        for child in asked:
            if wait_exit(child, deadline - time.monotonic()):
                out[id(child)] = "stopped"
    left = [c for c in running if id(c) not in out]
    for child in left:
        child.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + (min(timeout, TERM_GRACE_S) if asked or request is not None else timeout)
    for child in left:
        if wait_exit(child, deadline - time.monotonic()):
            out[id(child)] = "terminated"
    for child in left:
        if id(child) not in out:
            child.proc.kill()
            wait_exit(child, timeout)
            out[id(child)] = "killed"
    return [out[id(c)] for c in children]


def kill_all(children: Sequence[Child]) -> None:
    """Last resort: nothing of the run may survive."""
    for child in children:
        if child.proc.poll() is None:
            child.proc.kill()
    for child in children:
        wait_exit(child, 2.0)
