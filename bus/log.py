"""A rate-limited stderr logger: malformed floods must not turn into a logging flood."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class RateLimitedLog:
    """At most `per_second` lines per one-second window; the rest are counted and summarised."""

    def __init__(self, prefix: str, per_second: int = 10, stream: TextIO | None = None) -> None:
        self.prefix = prefix
        self.per_second = per_second
        self.stream = stream
        self._window = 0.0
        self._count = 0
        self.suppressed = 0

    def __call__(self, line: str) -> None:
        now = time.monotonic()
        if now - self._window >= 1.0:
            self.flush()
            self._window, self._count = now, 0
        if self._count < self.per_second:
            self._count += 1
            self.emit(line)
        else:
            self.suppressed += 1

    def flush(self) -> None:
        """Report suppressed lines (call periodically and at exit)."""
        if self.suppressed:
            n, self.suppressed = self.suppressed, 0
            self.emit(f"... {n} more log lines suppressed")

    def tick(self) -> None:
        if self.suppressed and time.monotonic() - self._window >= 1.0:
            self.flush()

    def emit(self, line: str) -> None:
        stream = self.stream or sys.stderr
        try:
            stream.write(f"{self.prefix}: {line}\n")
            stream.flush()
        except (OSError, ValueError):
            pass
