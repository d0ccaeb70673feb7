"""The benchmark's cases, data sets and outcomes, and the comparison of an engine's fills with the
exact reference (scripts/bench.py runs them; bench_engines.report prints them).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from bench_engines.common import Bars, Fill, strategy_periods
from bench_engines.proctree import ProcResult

MAX_JSON_DIFFS = 500  # differences listed per case in --json (the counts are always complete)


class Differences:
    """Engine fills vs the reference, with differences at exact SMA ties told apart."""

    def __init__(self, data: dict[str, Bars], periods: list[tuple[int, int]]) -> None:
        self.data, self.periods = data, periods
        self._dec: dict[str, list[Decimal]] = {}

    def _closes(self, sym: str) -> list[Decimal]:
        d = self._dec.get(sym)
        if d is None:  # the CSV's two-decimal text of every close, as exact decimals
            d = self._dec[sym] = [Decimal(f"{c:.2f}") for c in self.data[sym].close.tolist()]
        return d

    def tie(self, sym: str, i: int, fast: int, slow: int) -> bool:
        """Both SMAs defined at bar i and exactly equal: sum_fast / fast == sum_slow / slow."""
        if i < max(fast, slow) - 1:
            return False
        c = self._closes(sym)
        return sum(c[i - fast + 1 : i + 1]) * slow == sum(c[i - slow + 1 : i + 1]) * fast

    def bar_index(self, sym: str, ts: int) -> int | None:
        b = self.data.get(sym)
        if b is None:
            return None
        i = int(np.searchsorted(b.ts, ts))
        return i if i < len(b.ts) and int(b.ts[i]) == ts else None

    def compare(self, ref: list[Fill], got: list[Fill], ties_allowed: bool = True) -> dict[str, Any]:
        """Differences from the reference; `ties_allowed`: differences at exact ties still match."""
        cr, cg = Counter(ref), Counter(got)
        at_ties: list[dict[str, Any]] = []
        other: list[dict[str, Any]] = []
        for which, diff in (("reference only", cr - cg), ("engine only", cg - cr)):
            for fill, n in sorted(diff.items()):
                s, sym, ts, side, qty, price = fill
                i = self.bar_index(sym, ts)
                fast, slow = self.periods[s] if 0 <= s < len(self.periods) else (0, 0)
                tie_bar = None
                if i is not None and fast:
                    tie_bar = next((j for j in (i - 1, i - 2) if j >= 0 and self.tie(sym, j, fast, slow)), None)
                entry = {"which": which, "strategy": s, "periods": [fast, slow], "symbol": sym, "ts_event_ns": ts,
                         "bar": i, "side": side, "qty": qty, "price": price, "count": n, "tie_bar": tie_bar}
                (at_ties if tie_bar is not None else other).append(entry)
        return {
            "fills_match": not other and (ties_allowed or not at_ties),
            "tie_diffs": sum(e["count"] for e in at_ties),
            "unexplained_diffs": sum(e["count"] for e in other),
            "at_ties": at_ties,
            "unexplained": other,
        }


# ------------------------------------------------------------------------------ engines
@dataclass
class Case:
    symbols: int
    bars: int
    strategies: int

    @property
    def periods(self) -> list[tuple[int, int]]:
        return strategy_periods(self.strategies)

    @property
    def label(self) -> str:
        return f"{self.symbols}x{self.bars} S={self.strategies}"


@dataclass
class DataSet:
    symbols: int
    bars: int
    dir: Path
    csv: Path
    data: dict[str, Bars]
    gen_s: float
    csv_bytes: int = 0
    secmaster: Path | None = None
    import_result: ProcResult | None = None
    import_error: str | None = None

    def summary(self) -> dict[str, Any]:
        imp = self.import_result
        return {
            "symbols": self.symbols, "bars": self.bars, "gen_s": round(self.gen_s, 3),
            "csv_mb": round(self.csv_bytes / 1e6, 1),
            "import_s": round(imp.wall_s, 4) if imp and not imp.timed_out else None,
            "import_peak_rss_mb": round(imp.peak_rss_mb, 1) if imp else None,
            "import_error": self.import_error,
        }


@dataclass
class Outcome:
    engine: str
    case: Case
    status: str = "ok"
    wall_s: float | None = None
    run_s: float | None = None
    load_s: float | None = None
    peak_rss_mb: float | None = None
    load_peak_rss_mb: float | None = None
    fills: int | None = None
    pnl: float | None = None
    barrier: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    comparison: dict[str, Any] | None = None
    ratio_to_backtrader: float | None = None
    fill_list: list[Fill] | None = None  # not reported; for engine-to-engine checks

    @property
    def total_bars(self) -> int:
        return self.case.symbols * self.case.bars

    @property
    def bars_per_s(self) -> float | None:
        return self.total_bars / self.wall_s if self.status == "ok" and self.wall_s else None

    def to_dict(self) -> dict[str, Any]:
        b = self.barrier
        rounds_per_s = None
        if b and b.get("rounds") and self.run_s:
            rounds_per_s = round(b["rounds"] / self.run_s, 1)
        cmp = self.comparison or {}
        return {
            "engine": self.engine,
            "symbols": self.case.symbols,
            "bars": self.case.bars,
            "strategies": self.case.strategies,
            "periods": [list(p) for p in self.case.periods],
            "status": self.status,
            "wall_s": _r(self.wall_s, 4),
            "run_s": _r(self.run_s, 4),
            "load_s": _r(self.load_s, 4),
            "bars_per_s": _r(self.bars_per_s, 1),
            "peak_rss_mb": _r(self.peak_rss_mb, 1),
            "load_peak_rss_mb": _r(self.load_peak_rss_mb, 1),
            "ratio_to_backtrader": _r(self.ratio_to_backtrader, 3),
            "fills": self.fills,
            "fills_match": cmp.get("fills_match"),
            "tie_diffs": cmp.get("tie_diffs"),
            "unexplained_diffs": cmp.get("unexplained_diffs"),
            "pnl": _r(self.pnl, 6),
            "barrier": b,
            "rounds_per_s": rounds_per_s,
            **self.extra,
            "differences": (cmp.get("unexplained", []) + cmp.get("at_ties", []))[:MAX_JSON_DIFFS] or None,
        }


def _r(x: float | None, nd: int) -> float | None:
    return None if x is None else round(x, nd)
