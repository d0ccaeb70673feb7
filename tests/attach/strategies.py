"""Test strategies loaded by file path (`tests/attach/strategies.py:Slow`)."""

from __future__ import annotations

import time

from components import ParamSpec, StrategyBase
from components.events import BarReceived


class Slow(StrategyBase):
    """Sleeps a little per bar so a run lasts long enough to attach to it mid-run."""

    name = "Slow"
    parameters = {"sleep_ms": ParamSpec(default=2.0, min=0.0, max=1000.0)}

    def on_bar(self, bar: BarReceived) -> None:
        time.sleep(self.sleep_ms / 1000.0)
