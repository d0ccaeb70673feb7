"""A one-line progress bar on stderr, for long imports run by a person at a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Redraws `[####    ]  42%  120/285 MB  190,000 rows/s` at most ~10 times a second."""

    def __init__(self, total_bytes: int, stream: TextIO | None = None, width: int = 30) -> None:
        self.total = max(total_bytes, 1)
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.start = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def update(self, done_bytes: int, rows: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        frac = min(done_bytes / self.total, 1.0)
        filled = int(frac * self.width)
        rate = rows / max(now - self.start, 1e-9)
        self.stream.write(
            f"\r[{'#' * filled}{' ' * (self.width - filled)}] {frac * 100:3.0f}%"
            f"  {done_bytes / 1e6:,.0f}/{self.total / 1e6:,.0f} MB  {rate:,.0f} rows/s "
        )
        self.stream.flush()
        self._drawn = True

    def finish(self) -> None:
        """End the bar's line so the next message starts on a fresh one."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
