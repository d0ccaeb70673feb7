"""The soak's strategy (scripts/soak.py), loaded by file path into the run's processes."""

from __future__ import annotations

import time

from components import ParamSpec, StrategyBase
from components.events import BarReceived


class Slow(StrategyBase):
    """Sleeps a little per bar, so a run lasts long enough to be hurt in the middle of it."""

    name = "Slow"
    sleep_ms = ParamSpec(default=1.0, min=0.0, max=1000.0)

    def on_bar(self, bar: BarReceived) -> None:
        time.sleep(self.sleep_ms / 1000.0)
