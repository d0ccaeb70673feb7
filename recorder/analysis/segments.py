"""Splitting one symbol's bars into chart segments, the ways onesecondtrader's Chart view splits them:
by bar count (with overlap), by calendar period, around each round trip (with padding bars), and
where conditions on bar fields and indicators hold (runs merged across small gaps, padded with
context bars). A segment is a range of bar indexes; times are UTC.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from recorder.analysis.load import SymbolBars
from recorder.analysis.timefmt import iso_ns

#: Calendar periods, longest first; weeks start on Monday.
PERIODS = ("year", "quarter", "month", "week", "day", "4hour", "hour", "15min", "5min", "1min")
OPERATORS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}
BAR_FIELDS = ("open", "high", "low", "close", "volume")
_MINUTE = 60_000_000_000
_DAY = 1440 * _MINUTE


class SegmentError(ValueError):
    """A split that cannot be made (unknown field or period, bad size); the message says why."""


@dataclass(frozen=True)
class Segment:
    start: int  # first bar index
    end: int  # last bar index (inclusive)
    label: str
    mark: tuple[int, int] | None = None  # bars to highlight: the condition's run, or the trade
    trade: int | None = None  # which of the given round trips

    @property
    def bars(self) -> int:
        return self.end - self.start + 1


def _minute_label(ns: int) -> str:
    return iso_ns(ns, fraction=False)[:16].replace("T", " ")


def by_bars(ts: np.ndarray, size: int, overlap: int) -> list[Segment]:
    """Windows of `size` bars, each starting `size - overlap` bars after the previous one."""
    if size < 1:
        raise SegmentError("bars per chart must be at least 1")
    if not 0 <= overlap < size:
        raise SegmentError("the overlap must be at least 0 and less than the bars per chart")
    out: list[Segment] = []
    start = 0
    while start < len(ts):
        end = min(start + size, len(ts)) - 1
        out.append(Segment(start, end, f"{_minute_label(int(ts[start]))} … {_minute_label(int(ts[end]))}"))
        if end == len(ts) - 1:
            break
        start += size - overlap
    return out


def _period_keys(ts: np.ndarray, period: str) -> np.ndarray:
    """A number per bar that is equal exactly for bars of the same calendar period."""
    if period in ("year", "quarter", "month"):
        months = ts.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64)
        return months // {"year": 12, "quarter": 3, "month": 1}[period]
    if period == "week":  # 1970-01-01 was a Thursday: shift so that weeks start on Monday
        return (ts // _DAY + 3) // 7
    length = {"day": _DAY, "4hour": 240 * _MINUTE, "hour": 60 * _MINUTE, "15min": 15 * _MINUTE,
              "5min": 5 * _MINUTE, "1min": _MINUTE}.get(period)
    if length is None:
        raise SegmentError(f"unknown period {period!r} (one of {', '.join(PERIODS)})")
    return ts // length


def _period_label(ns: int, period: str) -> str:
    text = iso_ns(ns, fraction=False)
    if period == "year":
        return text[:4]
    if period == "quarter":
        return f"{text[:4]} Q{(int(text[5:7]) - 1) // 3 + 1}"
    if period == "month":
        return text[:7]
    if period == "week":
        monday = ns - ((ns // _DAY + 3) % 7) * _DAY
        return f"week of {iso_ns(monday)[:10]}"
    if period == "day":
        return text[:10]
    return _minute_label(ns)


def by_period(ts: np.ndarray, period: str) -> list[Segment]:
    """One segment per calendar period that has bars."""
    if not len(ts):
        return []
    keys = _period_keys(ts.astype(np.int64), period)
    cuts = np.flatnonzero(np.diff(keys)) + 1
    starts = np.r_[0, cuts]
    ends = np.r_[cuts, len(ts)] - 1
    return [Segment(int(s), int(e), _period_label(int(ts[s]), period)) for s, e in zip(starts, ends)]


def around_trades(ts: np.ndarray, entry_ts: np.ndarray, exit_ts: np.ndarray, padding: int, labels: Sequence[str]) -> list[Segment]:
    """One segment per round trip: its bars (entry to exit) with `padding` bars either side."""
    if padding < 0:
        raise SegmentError("padding bars must be at least 0")
    out = []
    last = len(ts) - 1
    for i, (t0, t1) in enumerate(zip(entry_ts, exit_ts)):
        first = min(int(np.searchsorted(ts, t0, side="left")), last)
        final = max(int(np.searchsorted(ts, t1, side="right")) - 1, first)
        out.append(Segment(max(0, first - padding), min(last, final + padding), labels[i], (first, final), i))
    return out


@dataclass(frozen=True)
class Condition:
    """`left op right`: fields are bar fields or indicator keys; `right` may be a number."""

    left: str
    op: str
    right: str | float

    def __str__(self) -> str:
        right = f"{self.right:g}" if isinstance(self.right, float) else self.right
        return f"{self.left} {self.op} {right}"


def field_names(bars: SymbolBars) -> dict[str, str]:
    """Field key -> label: the bar fields, then each indicator (`strategy|name`; labelled by its
    name alone when one strategy recorded indicators)."""
    strategies = {s for s, _ in bars.indicators}
    out = {f: f for f in BAR_FIELDS}
    for strategy, name in sorted(bars.indicators):
        out[f"{strategy}|{name}"] = name if len(strategies) == 1 else f"{strategy}: {name}"
    return out


def field(bars: SymbolBars, key: str) -> np.ndarray:
    if key in BAR_FIELDS:
        return np.asarray(getattr(bars, key), dtype=np.float64)
    strategy, sep, name = key.partition("|")
    values = bars.indicators.get((strategy, name)) if sep else None
    if values is None:
        raise SegmentError(f"no field {key!r} in these bars (bar fields and the recorded indicators)")
    return values


def matching(bars: SymbolBars, conditions: Sequence[Condition]) -> np.ndarray:
    """Bars where every condition holds (a comparison with NaN never does)."""
    if not conditions:
        raise SegmentError("give at least one condition")
    hit = np.ones(len(bars), dtype=bool)
    for c in conditions:
        op = OPERATORS.get(c.op)
        if op is None:
            raise SegmentError(f"unknown operator {c.op!r} (one of {' '.join(OPERATORS)})")
        left = field(bars, c.left)
        right = np.full(len(bars), c.right) if isinstance(c.right, float) else field(bars, c.right)
        with np.errstate(invalid="ignore"):
            hit &= op(left, right) & ~np.isnan(left) & ~np.isnan(right)
    return hit


def where(bars: SymbolBars, conditions: Sequence[Condition], gap: int, context: int) -> list[Segment]:
    """Runs of bars where the conditions hold; runs at most `gap` bars apart are merged; each
    segment adds `context` bars either side (the run itself is the segment's mark)."""
    if gap < 0 or context < 0:
        raise SegmentError("gap tolerance and context bars must be at least 0")
    hit = matching(bars, conditions)
    edges = np.diff(np.r_[0, hit.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    runs: list[tuple[int, int]] = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        if runs and s - runs[-1][1] - 1 <= gap:
            runs[-1] = (runs[-1][0], e)
        else:
            runs.append((s, e))
    last = len(bars) - 1
    return [
        Segment(max(0, s - context), min(last, e + context), f"{_minute_label(int(bars.ts[s]))} ({e - s + 1} bars)", (s, e))
        for s, e in runs
    ]
