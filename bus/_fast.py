"""Thin, allocation-light wrappers over pyzmq's Cython socket methods for the hot paths.

pyzmq's Python-level `Socket.send`/`send_multipart` add type checks and enum arithmetic that cost
~5 us per multipart message; the bus forwards every message through here, so it matters.
`has_more_input` (ZMQ_EVENTS) ends a drain loop without raising zmq.Again (~4 us per raise).
"""

from __future__ import annotations

from typing import Any

import zmq

_raw_send: Any
_raw_get: Any
try:
    from zmq.backend import Socket as _Base

    _raw_send = _Base.send
    _raw_get = _Base.get
except (ImportError, AttributeError):  # pragma: no cover - other pyzmq backends
    _raw_send = zmq.Socket.send
    _raw_get = zmq.Socket.getsockopt

SNDMORE = int(zmq.SNDMORE)
NOBLOCK = int(zmq.NOBLOCK)
_EVENTS = int(zmq.EVENTS)
_POLLIN = int(zmq.POLLIN)


def send2(sock: Any, a: bytes, b: bytes) -> None:
    _raw_send(sock, a, SNDMORE)
    _raw_send(sock, b, 0)


def send_parts(sock: Any, parts: tuple[bytes, ...] | list[bytes]) -> None:
    last = len(parts) - 1
    for i, p in enumerate(parts):
        _raw_send(sock, p, SNDMORE if i < last else 0)


def has_more_input(sock: Any) -> bool:
    return bool(int(_raw_get(sock, _EVENTS)) & _POLLIN)
