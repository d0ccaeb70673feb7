"""Test strategies loaded by file path (`tests/attach/strategies.py:Slow`)."""

from __future__ import annotations

import os
import time

from components import ParamSpec, StrategyBase
from components.events import BarReceived


class Slow(StrategyBase):
    """Sleeps a little per bar so a run lasts long enough to attach to it mid-run; with
    `hold_file` it also waits at its `hold_at`-th bar (at most 30 s) until that file exists, so
    a test decides when the run may go on, however slow the machine."""

    name = "Slow"
    parameters = {
        "sleep_ms": ParamSpec(default=2.0, min=0.0, max=1000.0),
        "hold_file": ParamSpec(default=""),
        "hold_at": ParamSpec(default=100, min=1),
    }

    def setup(self) -> None:
        self.n = 0

    def on_bar(self, bar: BarReceived) -> None:
        self.n += 1
        if self.hold_file and self.n == self.hold_at:
            deadline = time.monotonic() + 30.0
            while not os.path.exists(self.hold_file) and time.monotonic() < deadline:
                time.sleep(0.01)
        time.sleep(self.sleep_ms / 1000.0)
