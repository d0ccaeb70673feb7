"""A one-line progress bar on stderr (bars done / total, bars/s, ETA), only on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    def __init__(self, stream: TextIO | None = None, width: int = 30, min_interval: float = 0.1) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.width = width
        self.min_interval = min_interval
        self._last = 0.0
        self._shown = False

    def __call__(self, done: int, total: int, elapsed: float) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < self.min_interval and done < total:
            return
        self._last = now
        frac = min(done / total, 1.0) if total else 1.0
        filled = int(frac * self.width)
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else float("nan")
        eta_s = f"{eta:5.0f}s" if eta == eta else "    ?"
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {frac:6.1%} {done:,}/{total:,} bars {rate:,.0f} bars/s ETA {eta_s}")
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False
