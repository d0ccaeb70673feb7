"""Where a sweep's data is cut: the holdout split (`--holdout P%` or a time) and the walk-forward
windows (`--walk-forward N`), from the distinct bar times of the data every variant replays.

* `--holdout P%`: the last P percent of the distinct bar times, by count (at least one), are
  held out; the split is the first held-out time. `--holdout TIME`: held out from TIME on.
  Either way both sides must keep at least one bar time.
* `--walk-forward N`: the distinct bar times in N consecutive windows of (nearly) equal count;
  window k covers [start_k, start_{k+1} - 1 ns], the last one up to the last bar time: the
  windows tile the data, no overlap, no gap.

A variant's run is bounded by ISO-8601 `start`/`end` settings (as `tickbus run --start/--end`),
at microsecond precision: an `end` just before a bar time is that time less 1 microsecond.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from orchestrator.errors import UsageError
from recorder.analysis.timefmt import iso_ns, iso_to_ns

US = 1000


def bar_times(datafeed: type) -> np.ndarray:
    """The sorted distinct bar times the configured datafeed replays."""
    from recorder.metrics import feed_bars

    return np.unique(feed_bars(datafeed).ts)


def iso(ns: int) -> str:
    """ns as ISO-8601 text a `start` takes exactly (bar times are whole microseconds at least)."""
    return iso_ns(ns)


def iso_end(ns: int) -> str:
    """An inclusive `end` at ns (floored to the microsecond)."""
    return iso_ns(ns // US * US)


def split(given: str, ts: np.ndarray) -> int:
    """The first held-out bar time; UsageError when a side would be empty."""
    if not len(ts):
        raise UsageError("--holdout: the sweep's data has no bars")
    if given.endswith("%"):
        held = max(1, math.floor(len(ts) * float(given[:-1]) / 100 + 1e-9))
        if held >= len(ts):
            raise UsageError(f"--holdout {given}: the data has {len(ts):,} bar times; nothing is left in sample")
        return int(ts[len(ts) - held])
    at = iso_to_ns(given)
    k = int(np.searchsorted(ts, at, side="left"))
    if k == 0 or k == len(ts):
        raise UsageError(f"--holdout {given}: the sweep's data runs from {iso(int(ts[0]))} to {iso(int(ts[-1]))}; "
                         f"the split leaves {'nothing in sample' if k == 0 else 'nothing held out'}")
    return int(ts[k])


def holdout_spec(given: str, ts: np.ndarray, top: int, start: str | None, end: str | None) -> dict[str, Any]:
    at = split(given, ts)
    before = int(ts[np.searchsorted(ts, at) - 1])
    return {"given": given, "split_ns": at, "top": top, "in_sample_end": iso_end(at - 1), "last_in_sample_ns": before,
            "start": start, "end": end, "bar_times": int(len(ts)), "held_out_bar_times": int((ts >= at).sum())}


def windows(ts: np.ndarray, n: int) -> list[tuple[int, int]]:
    """(start_ns, end_ns inclusive) of n consecutive windows of the bar times."""
    if len(ts) < n:
        raise UsageError(f"--walk-forward {n}: the sweep's data has only {len(ts):,} bar times")
    cuts = [round(k * len(ts) / n) for k in range(n + 1)]
    starts = [int(ts[c]) for c in cuts[:-1]]
    return [(s, (starts[k + 1] - 1) if k + 1 < n else int(ts[-1])) for k, s in enumerate(starts)]


def bounds_settings(start_ns: int | None, end_ns: int | None) -> dict[str, str]:
    """The `start`/`end` run settings of a variant bounded by (start_ns, end_ns)."""
    out = {}
    if start_ns is not None:
        out["start"] = iso(start_ns)
    if end_ns is not None:
        out["end"] = iso_end(end_ns)
    return out
