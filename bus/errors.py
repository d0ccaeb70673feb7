"""Errors raised by the bus client, control client and in-process bus."""

from __future__ import annotations


class BusError(Exception):
    """Base of every bus error (also: a request the bus refused, a bus that failed to start)."""


class MemberLost(BusError):
    """The bus is failed (a critical member was lost, or it was failed on request).

    `member` names the lost member when there is one; `reason` is the bus's explanation.
    """

    def __init__(self, message: str, member: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.member = member
        self.reason = reason or message


class IdleTimeout(BusError):
    """wait_until_idle gave up; the message names the members that still have pending deliveries."""

    def __init__(self, message: str, pending: dict[str, int] | None = None) -> None:
        super().__init__(message)
        self.pending = dict(pending or {})


class BusLost(BusError):
    """The bus went silent (no heartbeat replies) or shut down while we were waiting on it."""


class JoinError(BusError):
    """A JOIN was refused (duplicate name, bad prefixes, failed bus) or was not answered in time."""
