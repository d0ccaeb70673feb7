"""Nanosecond epoch times as ISO-8601 UTC text (the form runs.db times are shown in)."""

from __future__ import annotations

import datetime as dt


def iso_ns(ns: int | None, *, fraction: bool = True) -> str:
    """`2024-01-02T12:16:00Z`; sub-second digits only when present and `fraction`."""
    if ns is None:
        return ""
    sec, rem = divmod(int(ns), 1_000_000_000)
    text = dt.datetime.fromtimestamp(sec, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if rem and fraction:
        text += f".{rem:09d}".rstrip("0")
    return text + "Z"


def iso_to_ns(text: str, *, end: bool = False) -> int:
    """ISO-8601 (naive = UTC) to ns since the epoch; a bare date as an `end` means its last ns.

    Raises ValueError for text that is not a date or datetime.
    """
    if len(text) == 10:
        day = dt.date.fromisoformat(text)
        ns = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()) * 1_000_000_000
        return ns + 86_400 * 1_000_000_000 - 1 if end else ns
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp() * 1_000_000) * 1000
