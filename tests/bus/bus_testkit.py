"""Helpers for the bus tests: spawn member processes, wait for joins, always clean up."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgpack

from proctools import kill_hard

from bus import ControlClient, Endpoints, start_bus_process
from bus.control import Joined

HERE = Path(__file__).resolve().parent
MEMBER_SCRIPT = HERE / "bus_member.py"


class Procs:
    """Every subprocess a test starts; `cleanup` SIGCONTs and SIGKILLs stragglers."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []
        self.buses: list[tuple[subprocess.Popen[bytes], Endpoints]] = []
        self.run_dirs: dict[str, Path] = {}

    def bus(self, transport: str = "ipc", *, run_dir: Path | None = None, **kw: Any) -> Endpoints:
        run_dir = run_dir or self.tmp / f"run-{transport}-{len(self.buses)}"
        proc, eps = start_bus_process(run_dir, transport=transport, timeout=20.0, **kw)
        self.buses.append((proc, eps))
        self.procs.append(proc)
        self.run_dirs[eps.control] = run_dir
        return eps

    def bus_proc(self, eps: Endpoints) -> subprocess.Popen[bytes]:
        return next(p for p, e in self.buses if e == eps)

    def member(self, eps: Endpoints | Path, name: str, **cfg: Any) -> subprocess.Popen[bytes]:
        run_dir = eps if isinstance(eps, Path) else self.run_dirs[eps.control]
        cfg = {"endpoints": str(run_dir), "name": name, **cfg}
        p = subprocess.Popen([sys.executable, str(MEMBER_SCRIPT), json.dumps(cfg)], cwd=str(HERE))
        self.procs.append(p)
        return p

    def spawn(self, args: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        p = subprocess.Popen(args, **kw)
        self.procs.append(p)
        return p

    def cleanup(self) -> None:
        for proc, eps in self.buses:
            if proc.poll() is None:
                try:
                    with ControlClient(eps, timeout=2.0) as ctl:
                        ctl.shutdown()
                except Exception:  # noqa: BLE001 - cleanup must go on
                    pass
        deadline = time.monotonic() + 5.0
        for p in self.procs:
            if p.poll() is None:
                try:
                    p.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    pass
        for p in self.procs:
            if p.poll() is None:
                kill_hard(p.pid)
                p.wait(10)


def wait_members(eps: Endpoints, names: list[str] | set[str], timeout: float = 30.0) -> None:
    """Bounded wait until every name is a joined member (TimeoutError naming the others)."""
    with ControlClient(eps, timeout=5.0) as ctl:
        ctl.wait_members(Joined(sorted(names)), timeout, every=0.02)


def wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> int:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"process {proc.pid} did not exit within {timeout} s") from None


def echoes(messages: list[tuple[str, bytes]]) -> list[tuple[str, int, tuple[str, ...]]]:
    """Decode "done.<name>." echoes into (name, round, path) items."""
    out = []
    for topic, payload in messages:
        assert topic.startswith("done."), topic
        name = topic.split(".")[1]
        for rnd, path in msgpack.unpackb(payload):
            out.append((name, rnd, tuple(path)))
    return out
