"""ControlClient: requests to the bus's control endpoint (orchestrator, monitor). Not a member.

Frames: see "Control client <-> bus" in bus/protocol.py. Not thread-safe.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import msgpack
import zmq

from bus import protocol as P
from bus.endpoints import Endpoints, coerce
from bus.errors import BusError, BusLost
from bus.security import secure_client


class ControlClient:
    def __init__(self, endpoints: Endpoints | str | os.PathLike[str], timeout: float = 5.0) -> None:
        self.endpoints = coerce(endpoints)
        self.timeout = float(timeout)
        self._ctx: zmq.Context[Any] = zmq.Context()
        self._sock = self._ctx.socket(zmq.DEALER)
        secure_client(self._sock, self.endpoints)  # CURVE keys, when the bus requires them
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.connect(self.endpoints.control)
        self._id = 0
        self._closed = False

    def request(self, command: bytes, timeout: float | None = None, **args: Any) -> dict[str, Any]:
        """Send one request and wait (bounded) for its reply; raise BusError if it failed."""
        self._id += 1
        rid = self._id
        try:
            self._sock.send_multipart((P.DELIM, command, msgpack.packb({"id": rid, **args})))
        except zmq.Again:  # only with CURVE (bus/security.py): the bus refused our key
            raise BusLost(f"bus at {self.endpoints.control} refused the connection (access key?)") from None
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not self._sock.poll(int(left * 1000.0) + 1):
                raise BusLost(f"bus at {self.endpoints.control} did not answer {command.decode()!r} "
                              f"within {limit:g} s")
            frames = self._sock.recv_multipart()
            if len(frames) != 2:
                continue
            try:
                reply = msgpack.unpackb(frames[1])
            except Exception:  # noqa: BLE001
                continue
            if not isinstance(reply, dict) or reply.get("id") != rid:
                continue  # a late reply to an earlier request
            if not reply.get("ok"):
                raise BusError(f"bus refused {command.decode()!r}: {reply.get('error')}")
            return reply

    def ping(self) -> int:
        """The bus's pid (a cheap liveness check)."""
        return int(self.request(P.CTL_PING)["pid"])

    def stats(self) -> dict[str, Any]:
        return dict(self.request(P.CTL_STATS)["stats"])

    def members(self) -> dict[str, dict[str, Any]]:
        return dict(self.request(P.CTL_MEMBERS)["members"])

    def wait_members(self, missing: Callable[[Mapping[str, Any]], str | None], timeout: float, *,
                     check: Callable[[], None] = lambda: None, every: float = 0.01) -> dict[str, dict[str, Any]]:
        """Poll members() until `missing(members)` is None (otherwise it says what is missing, e.g.
        `Joined`); `check` runs between polls and may raise to give up (a child that exited, a
        cancel). TimeoutError("<what is missing> within <timeout> s") once `timeout` passed."""
        deadline = time.monotonic() + timeout
        while True:
            members = self.members()
            lack = missing(members)
            if lack is None:
                return members
            if time.monotonic() > deadline:
                raise TimeoutError(f"{lack} within {timeout:g} s")
            check()
            time.sleep(every)

    def stop_member(self, name: str) -> None:
        """Ask a member to stop (its client sets stop_requested); it should then leave()."""
        self.request(P.CTL_STOP_MEMBER, name=name)

    def fail(self, reason: str) -> None:
        """Put the bus in the failed state: every pending and future wait raises MemberLost."""
        self.request(P.CTL_FAIL, reason=reason)

    def shutdown(self) -> None:
        """STOP every member, answer pending waits, reply, then the bus exits."""
        self.request(P.CTL_SHUTDOWN)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._sock.close(0)
            self._ctx.term()

    def __enter__(self) -> "ControlClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Joined:
    """A wait_members condition: every one of `names` is a member (`missing`: who is not, yet)."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = list(names)
        self.missing = list(self.names)

    def __call__(self, members: Mapping[str, Any]) -> str | None:
        self.missing = [n for n in self.names if n not in members]
        return f"{', '.join(self.missing)} did not join the bus" if self.missing else None
