"""Whole-process runs for the benchmark: wall time from spawn to exit, peak RSS of the process tree
(summed over the process and all its descendants, sampled from /proc every SAMPLE_S), and a
timeout that stops the whole tree (SIGTERM, then SIGKILL of every descendant ever seen).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMPLE_S = 0.05
KILL_GRACE_S = 5.0
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def _children_by_scan(pid: int) -> list[int]:
    """Fallback for kernels without /proc/PID/task/TID/children: scan every /proc/N/stat."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _stat(int(name))
        if st is not None and st[0] == pid:
            out.append(int(name))
    return out


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, starttime) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[19])


_HAVE_CHILDREN_FILE = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def process_tree(root: int) -> list[int]:
    kids = _children if _HAVE_CHILDREN_FILE else _children_by_scan
    seen, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.append(pid)
        todo.extend(kids(pid))
    return seen


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


@dataclass
class ProcResult:
    cmd: list[str]
    rc: int | None
    wall_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str
    timed_out: bool = False
    processes: int = 0  # most processes seen at once in the tree


class _Watch(threading.Thread):
    """Samples the tree's RSS every SAMPLE_S; on timeout stops the tree (SIGTERM, then SIGKILL)."""

    def __init__(self, proc: subprocess.Popen[bytes], t0: float, timeout: float | None) -> None:
        super().__init__(daemon=True)
        self.proc, self.t0, self.timeout = proc, t0, timeout
        self.done = threading.Event()
        self.peak = 0
        self.most = 0
        self.timed_out = False
        self.seen: dict[int, int] = {}  # pid -> starttime, every descendant ever sampled

    def sample(self) -> None:
        pids = process_tree(self.proc.pid)
        total = 0
        for pid in pids:
            total += _rss_bytes(pid)
            if pid not in self.seen:
                st = _stat(pid)
                if st is not None:
                    self.seen[pid] = st[1]
        self.peak = max(self.peak, total)
        self.most = max(self.most, len(pids))

    def run(self) -> None:
        while True:
            self.sample()
            if self.done.wait(SAMPLE_S):
                return
            if self.timeout is not None and time.perf_counter() - self.t0 > self.timeout:
                self.timed_out = True
                self.stop_tree()
                return

    def stop_tree(self) -> None:
        self.sample()  # record the current descendants before the root goes
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM)  # tickbus cancels its run and stops its children
        self.done.wait(KILL_GRACE_S)
        self.kill_leftovers()

    def kill_leftovers(self) -> None:
        """SIGKILL every process of the tree still alive (same pid AND start time: never a reused pid)."""
        for pid, start in list(self.seen.items()):
            st = _stat(pid)
            if st is not None and st[1] == start:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)


def run_process(cmd: list[str], *, timeout: float | None, log: Path, cwd: Path | None = None) -> ProcResult:
    """Run cmd as a whole process; wall time from spawn to exit; peak RSS of its tree."""
    out_path, err_path = log.with_suffix(".out"), log.with_suffix(".err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd,
                                start_new_session=True)
        watch = _Watch(proc, t0, timeout)
        watch.start()
        try:
            rc = proc.wait()  # blocking waitpid: exit time to the microsecond
            t1 = time.perf_counter()
        except BaseException:
            watch.timeout = 0.0  # stop the tree at the next sample
            watch.join()
            proc.wait()
            raise
        finally:
            watch.done.set()
            watch.join()
    watch.kill_leftovers()  # e.g. a child that outlived its parent after a timeout
    return ProcResult(cmd, rc, t1 - t0, watch.peak / 1e6, out_path.read_text(errors="replace"),
                      err_path.read_text(errors="replace"), watch.timed_out, watch.most)


def last_json(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                return json.loads(line)
    return None
