"""The bus's three sockets and its endpoints file: bound together, closed and removed together.

Where they bind (protocol.py, "Sockets and endpoints"): ipc paths in the 0700 run directory (a
private 0700 temp dir when a path would exceed the unix-socket limit), or tcp, always with CURVE
(bus/security.py: the keys, and the addresses with --listen).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq

from bus.endpoints import ENDPOINTS_FILE, Endpoints, refuse_if_running
from bus.security import ServerSecurity

IPC_PATH_MAX = 100  # sun_path is 108 bytes on Linux; keep a margin


class BusSockets:
    """members (ROUTER), control (ROUTER) and tap (XPUB), once `bind()` ran."""

    members: zmq.Socket[bytes]
    control: zmq.Socket[bytes]
    tap: zmq.Socket[bytes]

    def __init__(self, run_dir: Path, transport: str, tap_hwm: int, security: ServerSecurity | None,
                 log: Callable[[str], None]) -> None:
        self.run_dir = run_dir
        self.transport = transport
        self.tap_hwm = tap_hwm
        self.security = security
        self._log = log
        self.endpoints: Endpoints | None = None
        self._ctx: zmq.Context[zmq.Socket[bytes]] | None = None
        self._short_dir: str | None = None

    def bind(self) -> Endpoints:
        """Create the 0700 run dir, bind the three sockets, write endpoints.json atomically."""
        self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.run_dir, 0o700)
        refuse_if_running(self.run_dir / ENDPOINTS_FILE)
        transport = self.transport
        if transport == "ipc" and not zmq.has("ipc"):
            transport = "tcp"
        if transport == "tcp" and self.security is None:
            self.security = ServerSecurity()  # every tcp bus requires the run's key (CURVE)
        ctx = self._ctx = zmq.Context()
        self.members = ctx.socket(zmq.ROUTER)
        self.members.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.members.setsockopt(zmq.SNDHWM, 0)
        self.members.setsockopt(zmq.RCVHWM, 0)
        self.control = ctx.socket(zmq.ROUTER)
        self.tap = ctx.socket(zmq.XPUB)
        self.tap.setsockopt(zmq.SNDHWM, self.tap_hwm)
        self.tap.setsockopt(zmq.XPUB_VERBOSER, 1)  # every (un)subscribe reaches us: count taps
        sec = self.security
        if sec is not None:
            sec.start(ctx, self.run_dir, self._log)  # keys and authenticator before any bind
        eps: dict[str, Any] = {}
        for name, sock in (("members", self.members), ("control", self.control), ("tap", self.tap)):
            if sec is not None:
                sec.secure(name, sock)
            sock.bind((sec.address(name) if sec is not None else None) or self._endpoint_for(name, transport))
            eps[name] = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        if sec is not None:
            eps = sec.published(eps)  # with CURVE: writes access.key, adds the key fields
        self.endpoints = Endpoints(pid=os.getpid(), transport=transport, **eps)
        self.endpoints.save(self.run_dir / ENDPOINTS_FILE)
        return self.endpoints

    def _endpoint_for(self, name: str, transport: str) -> str:
        if transport == "tcp":
            return "tcp://127.0.0.1:*"
        path = str((self.run_dir / f"{name}.sock").absolute())
        if len(path) > IPC_PATH_MAX:  # too long for a unix socket: use a short private dir
            if self._short_dir is None:
                self._short_dir = tempfile.mkdtemp(prefix="tickbus-")  # mode 0700
            path = os.path.join(self._short_dir, f"{name}.sock")
        return f"ipc://{path}"

    def close(self) -> None:
        """Close the sockets (members lingers 1 s for its last STOPs and replies), then remove
        endpoints.json if it is still ours, and the ipc socket files."""
        if self.security is not None:
            self.security.stop()
        if self._ctx is None:
            return
        self.members.close(linger=1000)
        self.control.close(linger=200)
        self.tap.close(linger=0)
        self._ctx.term()
        ep = self.run_dir / ENDPOINTS_FILE
        try:
            if Endpoints.load(ep).pid == os.getpid():
                ep.unlink()
        except (OSError, ValueError, KeyError):
            pass
        if self.endpoints and self.endpoints.transport == "ipc":
            for addr in (self.endpoints.members, self.endpoints.control, self.endpoints.tap):
                try:
                    os.unlink(addr[len("ipc://"):])
                except OSError:
                    pass
        if self._short_dir:
            shutil.rmtree(self._short_dir, ignore_errors=True)
