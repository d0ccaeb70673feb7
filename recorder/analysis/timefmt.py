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
