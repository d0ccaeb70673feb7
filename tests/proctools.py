"""Process checks shared by the multi-process test folders."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention `text` (a run dir): orphans if any."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
        except OSError:
            continue
        if state == "Z":
            continue
        cmd = raw.replace(b"\0", b" ").decode(errors="replace")
        if text in cmd and int(pid) != os.getpid():
            found.append(f"{pid}: {cmd}")
    return found


def kill_hard(pid: int) -> None:
    """SIGCONT (a SIGSTOPped process cannot die otherwise), then SIGKILL; gone already is fine."""
    for sig in (signal.SIGCONT, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
