"""Process checks (and a free port) shared by the multi-process test folders."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path


def _live_processes() -> list[tuple[int, str]]:
    """(pid, /proc path) of every live process but this one (zombies aside)."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            out.append((int(pid), f"/proc/{pid}"))
    return out


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention `text` (a run dir): orphans if any."""
    found = []
    for pid, path in _live_processes():
        try:
            cmd = Path(f"{path}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append(f"{pid}: {cmd}")
    return found


def processes_with_env(name: str, value: str) -> list[int]:
    """Live processes whose environment has NAME=VALUE: everything a test started with it, and
    everything those started."""
    found = []
    for pid, path in _live_processes():
        try:
            env = Path(f"{path}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"{name}={value}".encode() in env:
            found.append(pid)
    return found


def describe(pids: set[int] | list[int]) -> list[str]:
    """Each pid with its state, parent and command line: what an assertion about leftovers shows."""
    out = []
    for pid in sorted(pids):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            out.append(f"{pid} (state {stat[0]}, parent {stat[1]}): {cmd.strip()}")
        except OSError:
            out.append(f"{pid} (gone)")
    return out


def kill_hard(pid: int) -> None:
    """SIGCONT (a SIGSTOPped process cannot die otherwise), then SIGKILL; gone already is fine."""
    for sig in (signal.SIGCONT, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
