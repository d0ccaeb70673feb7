"""What a member's code is given to talk to the bus, as types: BusClient in a process of its own,
bus.hosted.Link inside the bus process. Components are written against these, never a class."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class MemberLink(Protocol):
    """Enough to handle deliveries: publish what they cause, then acknowledge them (invariant 3).
    A hosted member gets only this (bus/hosted.py)."""

    name: str
    stop_requested: bool

    def publish(self, topic: str, payload: bytes) -> None: ...

    def ack(self, count: int | None = None) -> None: ...


class MemberClient(MemberLink, Protocol):
    """A member in its own process (bus/client.py): joins, receives, waits for the barrier, leaves."""

    def join(self, prefixes: Sequence[str], *, tracked: bool = True, trailing: bool = False,
             critical: bool = True, timeout: float = 10.0) -> None: ...

    def recv(self, timeout: float) -> list[tuple[str, bytes]]: ...

    def request_idle(self, timeout: float, *, include_trailing: bool = False, ack: int = 0,
                     stall: bool = False) -> bytes: ...

    def take_idle_reply(self, rid: bytes) -> bool: ...

    def wait_until_idle(self, timeout: float, *, include_trailing: bool = True) -> None: ...

    def stats(self, timeout: float = 5.0) -> dict[str, Any]: ...

    def leave(self) -> None: ...

    def close(self) -> None: ...
