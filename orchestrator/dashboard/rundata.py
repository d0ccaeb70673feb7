"""What the run pages show, from the runs database (and, while a run runs, its run directory).

Finished analyses are cached per run (a finished run never changes); series are thinned before
they go to the browser so a million-bar run still draws at once: the equity curve keeps each
bucket's min and max (drawdown troughs survive), price bars are merged into OHLC buckets.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from recorder.analysis import RunAnalysis, analyse_run
from recorder.analysis.catalog import RunInfo, all_runs, get_run
from recorder.analysis.stats import drawdown
from recorder.analysis.timefmt import iso_ns
from recorder.report.downsample import minmax_indices

MAX_CURVE_POINTS = 3000
MAX_PRICE_BARS = 4000
MAX_ROUND_TRIPS = 500
FINAL = ("completed", "failed", "cancelled")


def _num(x: Any) -> float | None:
    """JSON has no NaN/inf: those become null (a gap in a chart)."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def run_row(info: RunInfo) -> dict[str, Any]:
    cfg = info.config
    return {
        "run_id": info.run_id, "name": info.name, "status": info.status,
        "started": iso_ns(info.ts_start, fraction=False), "ended": iso_ns(info.ts_end, fraction=False) if info.ts_end else None,
        "wall_time_s": round(info.wall_time_s, 1), "strategies": cfg.get("strategies") or [],
        "symbols": info.symbols, "error": _last_line(info.error),
    }


def _last_line(text: str | None) -> str | None:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else None


def list_runs(conn: sqlite3.Connection, limit: int = 200) -> list[dict[str, Any]]:
    return [run_row(i) for i in all_runs(conn)[:limit]]


def recorded_bars(conn: sqlite3.Connection, run_id: str) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM bars WHERE run_id = ?", (run_id,)).fetchone()[0])


def progress(run_dir: str | None) -> dict[str, Any] | None:
    """How far a running run is: the datafeed's progress.json, the bars every strategy had handled
    at its last barrier (one every Orchestrator.window timestamps, at least ~20 per run)."""
    if not run_dir:
        return None
    try:
        p = json.loads((Path(run_dir) / "progress.json").read_text())
    except (OSError, ValueError):
        return None
    total = p.get("bars_total") or 0
    fraction = 1.0 if p.get("done") else (min(1.0, p.get("bars_sent", 0) / total) if total else None)
    return {"bars_sent": p.get("bars_sent"), "bars_total": p.get("bars_total"), "done": bool(p.get("done")),
            "fraction": fraction}


def bus_stats(run_dir: str | None) -> dict[str, Any] | None:
    """The bus's stats (what the monitor shows) while the run's bus is up, else None."""
    if not run_dir or not Path(run_dir).is_dir():
        return None
    from bus import ControlClient

    try:
        client = ControlClient(run_dir, timeout=0.5)
    except Exception:  # noqa: BLE001 - no bus yet, or already gone
        return None
    try:
        return bus_summary(client.stats())
    except Exception:  # noqa: BLE001
        return None
    finally:
        client.close()


def bus_summary(stats: dict[str, Any]) -> dict[str, Any]:
    """The monitor's view of the bus, trimmed to what a page shows."""
    members = [
        {"name": name, **{k: m.get(k) for k in ("pid", "delivered", "acknowledged", "pending", "published", "heartbeat_age_s")}}
        for name, m in sorted(stats.get("members", {}).items())
    ]
    topics = sorted(((t, v.get("messages", 0)) for t, v in stats.get("topics", {}).items()), key=lambda x: -x[1])
    return {
        "uptime_s": stats.get("uptime_s"), "messages": stats.get("messages"), "dropped": stats.get("dropped"),
        "malformed": stats.get("malformed"), "failed": stats.get("failed"), "barrier": stats.get("barrier"),
        "pending": stats.get("pending"), "members": members, "topics": [{"topic": t, "messages": n} for t, n in topics[:12]],
    }


class Analyses:
    """analyse_run of finished runs, last few kept."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._cache: OrderedDict[str, RunAnalysis] = OrderedDict()

    def get(self, conn: sqlite3.Connection, info: RunInfo) -> RunAnalysis:
        if info.status not in FINAL:
            return analyse_run(conn, info.run_id)
        a = self._cache.get(info.run_id)
        if a is None or a.info.status != info.status:
            a = analyse_run(conn, info.run_id)
            self._cache[info.run_id] = a
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(info.run_id)
        return a


def results(a: RunAnalysis) -> dict[str, Any]:
    """Statistics (the figures `runs show` prints), per-symbol rows and round trips."""
    from recorder.report.metrics import footnotes, metric_rows, symbol_rows

    header, rows = metric_rows(a)
    sym_header, sym_rows = symbol_rows(a)
    trips = a.round_trip_records(limit=MAX_ROUND_TRIPS)
    return {
        "stats": {"header": header, "rows": rows}, "symbols_table": {"header": sym_header, "rows": sym_rows},
        "notes": footnotes(a), "round_trips": trips, "round_trips_total": len(a.round_trips),
        "symbols": list(a.data.symbols), "bars": len(a.data.bars), "fills": len(a.data.fills),
    }


def _curve_points(ts: np.ndarray, y: np.ndarray, keep: np.ndarray) -> list[dict[str, Any]]:
    secs = ts[keep] // 1_000_000_000
    return [{"time": int(t), "value": _num(v)} for t, v in zip(secs, y[keep])]


def equity(a: RunAnalysis) -> dict[str, Any]:
    """Net equity and drawdown of the run and of each strategy, on the bar-close grid."""
    curves = [("total", a.curve)]
    if len(a.strategies) > 1:
        curves += [(sid, r.curve) for sid, r in a.strategies.items()]
    out = []
    for name, c in curves:
        if not len(c.ts):
            continue
        _, dd = drawdown(c.equity)
        keep = np.union1d(minmax_indices(c.equity, MAX_CURVE_POINTS), minmax_indices(-dd, MAX_CURVE_POINTS))
        # bars at the same second (sub-second data) would break the chart's strictly rising time
        secs = c.ts[keep] // 1_000_000_000
        keep = keep[np.r_[np.diff(secs) > 0, True]]
        out.append({"name": name, "equity": _curve_points(c.ts, c.equity, keep), "drawdown": _curve_points(c.ts, -dd, keep)})
    return {"curves": out}


def _buckets(n: int, max_bars: int) -> np.ndarray:
    size = max(1, -(-n // max_bars))
    return np.arange(0, n, size)


def price(conn: sqlite3.Connection, run_id: str, symbol: str, max_bars: int = MAX_PRICE_BARS) -> dict[str, Any]:
    """OHLC bars of one symbol, each strategy's indicators (bars_processed) and its fills."""
    rows = conn.execute(
        "SELECT ts_event_ns, open, high, low, close FROM bars WHERE run_id = ? AND symbol = ? ORDER BY ts_event_ns",
        (run_id, symbol),
    ).fetchall()
    if not rows:
        return {"symbol": symbol, "bars": [], "indicators": [], "fills": [], "bucket": 1}
    arr = np.array(rows, dtype=np.float64)
    ts = np.array([r[0] for r in rows], dtype=np.int64)
    starts = _buckets(len(rows), max_bars)
    o = arr[starts, 1]
    h = np.maximum.reduceat(arr[:, 2], starts)
    lo = np.minimum.reduceat(arr[:, 3], starts)
    ends = np.r_[starts[1:], len(rows)] - 1
    c = arr[ends, 4]
    t = ts[starts] // 1_000_000_000
    bars = [{"time": int(t[i]), "open": _num(o[i]), "high": _num(h[i]), "low": _num(lo[i]), "close": _num(c[i])} for i in range(len(starts))]
    # a bar time maps to its bucket's time, so fills and indicators land on drawn bars
    bucket_of = np.searchsorted(ts[starts], ts, side="right") - 1

    indicators: dict[tuple[str, str], dict[int, float | None]] = {}
    cur = conn.execute(
        "SELECT ifnull(strategy_id, ''), ts_event_ns, indicators FROM bars_processed WHERE run_id = ? AND symbol = ? ORDER BY ts_event_ns",
        (run_id, symbol),
    )
    for sid, ts_ns, text in cur:
        try:
            values = json.loads(text)
        except ValueError:
            continue
        k = int(bucket_of[min(np.searchsorted(ts, ts_ns), len(ts) - 1)])
        for name, value in values.items():
            indicators.setdefault((sid, name), {})[k] = _num(value)  # the bucket's last value
    lows, highs = float(np.nanmin(arr[:, 3])), float(np.nanmax(arr[:, 2]))
    pad = (highs - lows) * 0.1
    series = []
    for (sid, name), points in indicators.items():
        vals = np.array([v for v in points.values() if v is not None])
        # on the price pane when it lives in price's range (a moving average), else its own (RSI, ATR)
        overlay = bool(len(vals)) and float(np.mean((vals >= lows - pad) & (vals <= highs + pad))) >= 0.8
        series.append({
            "strategy": sid, "name": name, "overlay": overlay,
            "points": [{"time": int(t[k]), "value": v} if v is not None else {"time": int(t[k])} for k, v in sorted(points.items())],
        })

    fills = []
    cur = conn.execute(
        "SELECT ts_event_ns, ifnull(strategy_id, ''), side, quantity_filled, fill_price FROM fills WHERE run_id = ? AND symbol = ? ORDER BY ts_event_ns, id",
        (run_id, symbol),
    )
    for ts_ns, sid, side, qty, px in cur:
        k = int(bucket_of[min(int(np.searchsorted(ts, ts_ns, side="right")) - 1, len(ts) - 1)]) if ts_ns >= ts[0] else 0
        fills.append({"time": int(t[k]), "strategy": sid, "side": side, "quantity": _num(qty), "price": _num(px)})
    return {"symbol": symbol, "bars": bars, "indicators": series, "fills": fills, "bucket": int(starts[1] - starts[0]) if len(starts) > 1 else 1}


def detail(conn: sqlite3.Connection, run_id: str) -> RunInfo:
    return get_run(conn, run_id)
