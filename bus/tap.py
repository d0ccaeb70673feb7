"""Tap: a passive listener of the bus's traffic (the monitor). Never counted; may lose messages."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import zmq

from bus.endpoints import Endpoints, coerce
from bus.security import secure_client


class Tap:
    """A SUB socket on the tap endpoint. Subscriptions propagate asynchronously, so a new tap
    may miss the first messages; under load the bus drops what a tap cannot take (HWM)."""

    def __init__(self, endpoints: Endpoints | str | os.PathLike[str], prefixes: Sequence[str] = ("",),
                 *, hwm: int = 1000) -> None:
        self.endpoints = coerce(endpoints)
        self._ctx: zmq.Context[Any] = zmq.Context()
        self._sock = self._ctx.socket(zmq.SUB)
        secure_client(self._sock, self.endpoints)  # CURVE keys, when the bus requires them
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.RCVHWM, hwm)
        self._sock.connect(self.endpoints.tap)
        for p in prefixes:
            self._sock.setsockopt(zmq.SUBSCRIBE, p.encode())
        self.malformed = 0
        self._closed = False

    def recv(self, timeout: float) -> list[tuple[str, bytes]]:
        """Wait up to `timeout` s; return everything available now, or [] on timeout."""
        out: list[tuple[str, bytes]] = []
        if not self._sock.poll(int(max(0.0, timeout) * 1000.0)):
            return out
        while True:
            try:
                frames = self._sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return out
            if len(frames) == 2:
                try:
                    out.append((frames[0].decode(), frames[1]))
                    continue
                except UnicodeDecodeError:
                    pass
            self.malformed += 1

    def recv_until(self, count: int, timeout: float) -> list[tuple[str, bytes]]:
        """Collect up to `count` messages within `timeout` s (a convenience for tests/tools)."""
        out: list[tuple[str, bytes]] = []
        deadline = time.monotonic() + timeout
        while len(out) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            out.extend(self.recv(left))
        return out

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._sock.close(0)
            self._ctx.term()

    def __enter__(self) -> "Tap":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
