"""A sweep's one live line on stderr (only on a terminal): variants done/total, failed,
variants/s, aggregate bars/s, ETA, and the best variant so far by the sweep's sort figure."""

from __future__ import annotations

import math
import time
from typing import Any, TextIO

from orchestrator.progress import StatusLine
from recorder.layout import METRIC_COLUMNS


class SweepProgress(StatusLine):
    def __init__(self, total: int, done: int = 0, sort: str = "net_pnl", stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self.total, self.done, self.failed = total, done, 0
        self.sort = sort
        self.bars = 0
        self.best: tuple[float, dict[str, Any]] | None = None
        self.started = time.monotonic()
        self._count = 0  # variants done by this driver (the rate's)
        self.write(self.line())

    def add(self, result: dict[str, Any], figures: dict[str, Any], params: dict[str, Any]) -> None:
        self.done += 1
        self._count += 1
        self.failed += result.get("status") != "completed"
        self.bars += int(result.get("bars") or 0)
        value = figures.get(self.sort)
        if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
            score = value if METRIC_COLUMNS[self.sort] else -value
            if self.best is None or score > self.best[0]:
                self.best = (score, {"value": value, "params": params})
        self.write(self.line())

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self._count / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        best = ""
        if self.best is not None:
            shown = " ".join(f"{k}={v}" for k, v in self.best[1]["params"].items())
            best = f"  best {self.sort} {self.best[1]['value']:,.4g} ({shown})"
        return (f"variants {self.done:,}/{self.total:,}  failed {self.failed:,}  {rate:,.2f} variants/s  "
                f"{self.bars / elapsed:,.0f} bars/s  ETA {'?' if eta != eta else f'{eta:,.0f} s'}{best}")
