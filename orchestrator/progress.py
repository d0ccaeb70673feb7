"""One live line on stderr, only on a terminal: a run's progress bar (bars done / total, bars/s,
ETA) and the base a sweep's line (orchestrator/sweep/progress.py) shares."""

from __future__ import annotations

import sys
from typing import TextIO


class StatusLine:
    """A line rewritten in place; ended with a newline by `close`."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self._shown = False

    def write(self, text: str) -> None:
        if not self.enabled:
            return
        self.stream.write("\r\x1b[K" + text)
        self.stream.flush()
        self._shown = True

    def close(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False


class ProgressBar(StatusLine):
    def __init__(self, stream: TextIO | None = None, width: int = 30, min_interval: float = 0.1) -> None:
        super().__init__(stream)
        self.width = width
        self.min_interval = min_interval
        self._last = 0.0

    def __call__(self, done: int, total: int, elapsed: float) -> None:
        import time

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
        self.write(f"[{bar}] {frac:6.1%} {done:,}/{total:,} bars {rate:,.0f} bars/s ETA {eta_s}")
