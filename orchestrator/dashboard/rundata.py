"""What the run pages show, from the runs database (and, while a run runs, its run directory).

Analyses of finished runs are cached (a finished run never changes); a running run is analysed
afresh on each request, so its figures follow what is recorded. Series are thinned before they
go to the browser so a million-bar run still draws at once: the equity curve keeps each bucket's
min and max (drawdown troughs survive), price bars are merged into OHLC buckets. Bars and
indicators are read through recorder.analysis.load.load_symbol_bars only.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recorder.analysis import RunAnalysis, analyse_run
from recorder.analysis.catalog import RunInfo, all_runs, count_rows, get_run
from recorder.analysis.excursions import Excursions, excursions
from recorder.analysis.load import SymbolBars, load_symbol_bars
from recorder.analysis.segments import PERIODS, Condition, Segment, SegmentError, around_trades, by_bars, by_period, field_names, where
from recorder.analysis.stats import drawdown
from recorder.analysis.timefmt import iso_ns
from recorder.report.downsample import minmax_indices

MAX_CURVE_POINTS = 3000
MAX_PRICE_BARS = 4000
MAX_ROUND_TRIPS = 500
MAX_SEGMENTS = 5000
FINAL = ("completed", "failed", "cancelled")


def _num(x: Any) -> float | None:
    """JSON has no NaN/inf: those become null (a gap in a chart)."""
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def component_name(spec: Any) -> str:
    """The class a configured component was made from (`_Configured...` subclasses are run-time
    wrappers; their importable base is what the user chose)."""
    if not isinstance(spec, dict):
        return str(spec or "")
    return str(spec.get("base") or spec.get("name") or "").rpartition(":")[2]


def run_row(info: RunInfo) -> dict[str, Any]:
    return {
        "run_id": info.run_id, "name": info.name, "status": info.status,
        "started": iso_ns(info.ts_start, fraction=False), "ended": iso_ns(info.ts_end, fraction=False) if info.ts_end else None,
        "ts_start": info.ts_start, "wall_time_s": round(info.wall_time_s, 1), "strategies": info.strategy_ids,
        "symbols": info.symbols, "error": _last_line(info.error), "seed": info.recorded_by_seed,
        "sweep": (info.config.get("sweep") or {}).get("sweep_id") if isinstance(info.config.get("sweep"), dict) else None,
    }


def configuration(info: RunInfo) -> list[tuple[str, str]]:
    """The run's settings as label/value lines for people (the raw config stays one click away)."""
    c = info.config
    comps = c.get("components") or {}
    feed = ((comps.get("datafeed") or {}).get("attrs") or {}) if isinstance(comps.get("datafeed"), dict) else {}
    lines: list[tuple[str, str]] = []
    for st in comps.get("strategies") or []:
        specs = ((st.get("spec") or {}).get("attrs") or {}).get("parameters", {}).get("__dict__", {})
        params = ", ".join(f"{k} {_default(v)}" for k, v in specs.items())
        lines.append((f"strategy {st.get('strategy_id')}", component_name(st.get("spec")) + (f" ({params})" if params else "")))
    if info.recorded_by_seed:
        lines.append(("strategies", ", ".join(str(s) for s in c.get("strategies") or []) + " (recorded by onesecondtrader)"))
    if comps.get("broker"):
        b = (comps["broker"].get("attrs") or {}) if isinstance(comps["broker"], dict) else {}
        fees = [f"{b[k]:g} {label}" for k, label in (("commission_per_unit", "per unit"), ("minimum_commission_per_order", "minimum per order"))
                if isinstance(b.get(k), (int, float))]
        lines.append(("broker", component_name(comps["broker"]) + (f" (commission {', '.join(fees)})" if fees else "")))
    if feed:
        period = feed.get("bar_period")
        lines.append(("data", f"{feed.get('publisher_name')}/{feed.get('dataset')}, {feed.get('symbol_type', 'raw_symbol')}"
                              + (f", {period.get('name')} bars" if isinstance(period, dict) else "")))
    start, end = info.range_ns
    if start is not None or end is not None:
        lines.append(("range", f"{iso_ns(start) or 'first bar'} … {iso_ns(end) or 'last bar'}"))
    if c.get("mode") and not info.recorded_by_seed:
        lines.append(("mode", f"{c['mode']}, {'in-process' if c.get('in_process') else 'multi-process'}"))
    return lines


def _default(encoded: Any) -> str:
    """A configured ParamSpec's value as the spec encodes it (components/spec.py), shown plainly."""
    value = encoded.get("__param__", {}).get("default") if isinstance(encoded, dict) else encoded
    return str(value.get("name")) if isinstance(value, dict) and "__enum__" in value else str(value)


def _last_line(text: str | None) -> str | None:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else None


def list_runs(conn: sqlite3.Connection, limit: int = 200) -> list[dict[str, Any]]:
    return [run_row(i) for i in all_runs(conn)[:limit]]


def recorded_bars(conn: sqlite3.Connection, run_id: str) -> int:
    return count_rows(conn, "bars", run_id)


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


@dataclass
class RunView:
    """A run's analysis (with every bar's OHLC, for excursions) and what is derived from it on demand."""

    analysis: RunAnalysis
    _excursions: Excursions | None = None
    bars: OrderedDict[str, SymbolBars] = field(default_factory=OrderedDict)

    @property
    def excursions(self) -> Excursions:
        if self._excursions is None:
            self._excursions = excursions(self.analysis.round_trips, self.analysis.data.bars)
        return self._excursions

    def symbol_bars(self, conn: sqlite3.Connection, symbol: str) -> SymbolBars:
        """A symbol's bars with indicators (a few kept: splitting a chart asks for them again and again)."""
        b = self.bars.get(symbol)
        if b is None:
            b = self.bars[symbol] = load_symbol_bars(conn, self.analysis.info, symbol)
            while len(self.bars) > 2:
                self.bars.popitem(last=False)
        self.bars.move_to_end(symbol)
        return b


class Analyses:
    """RunViews of finished runs, last few kept. A running run's is made afresh when older than
    LIVE_S: a page's refresh asks for figures, equity, performance and chart at once, and they
    share one analysis of what is recorded."""

    LIVE_S = 2.0

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._cache: OrderedDict[str, RunView] = OrderedDict()
        self._live: dict[str, tuple[float, RunView]] = {}

    def get(self, conn: sqlite3.Connection, info: RunInfo) -> RunView:
        if info.status not in FINAL:
            made, v = self._live.get(info.run_id, (0.0, None))
            if v is None or time.monotonic() - made > self.LIVE_S:
                v = RunView(analyse_run(conn, info.run_id, ohlv=True))
                self._live[info.run_id] = (time.monotonic(), v)
            return v
        self._live.pop(info.run_id, None)
        v = self._cache.get(info.run_id)
        if v is None or v.analysis.info.status != info.status:
            v = RunView(analyse_run(conn, info.run_id, ohlv=True))
            self._cache[info.run_id] = v
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(info.run_id)
        return v

    def forget(self, run_id: str) -> None:
        self._cache.pop(run_id, None)
        self._live.pop(run_id, None)


def results(a: RunAnalysis) -> dict[str, Any]:
    """Statistics (the figures `runs show` prints), per-symbol rows and round trips."""
    from recorder.report.metrics import footnotes, metric_rows, symbol_rows

    header, rows = metric_rows(a)
    sym_header, sym_rows = symbol_rows(a)
    trips = a.round_trip_records(limit=MAX_ROUND_TRIPS)
    return {
        "stats": {"header": header, "rows": rows}, "symbols_table": {"header": sym_header, "rows": sym_rows},
        "notes": footnotes(a), "round_trips": trips, "round_trips_total": len(a.round_trips),
        "symbols": list(a.data.symbols), "strategies": list(a.data.strategies), "bars": len(a.data.bars),
        "fills": len(a.data.fills),
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


def _trip_mask(a: RunAnalysis, symbol: str | None) -> np.ndarray:
    rt = a.round_trips
    if not symbol:
        return np.ones(len(rt), dtype=bool)
    code = a.data.symbols.index(symbol) if symbol in a.data.symbols else -1
    return rt.symbol == code  # type: ignore[no-any-return]


def performance(view: RunView, symbol: str | None = None) -> dict[str, Any]:
    """onesecondtrader's Performance view: per round trip (in exit time order) the cumulative gross and
    net PnL with each trip's drawdown, and its journey (best, worst and exit P&L), with the
    averages of winners and losers."""
    a = view.analysis
    rt, ex = a.round_trips, view.excursions
    idx = np.flatnonzero(_trip_mask(a, symbol))
    idx = idx[np.lexsort((idx, rt.exit_ts[idx]))]
    net, gross = rt.net_pnl[idx], rt.gross_pnl[idx]
    wins, losses = net > 0, net <= 0
    trips = [
        {"n": k + 1, "index": int(i), "strategy": a.data.strategies[int(rt.strategy[i])], "symbol": a.data.symbols[int(rt.symbol[i])],
         "direction": "long" if rt.direction[i] > 0 else "short", "entry_time": iso_ns(int(rt.entry_ts[i])),
         "exit_time": iso_ns(int(rt.exit_ts[i])), "bars": int(ex.bars[i]), "gross": float(rt.gross_pnl[i]),
         "net": float(net[k]), "best": float(ex.best[i]), "worst": float(ex.worst[i]), "drawdown": float(ex.drawdown[i])}
        for k, i in enumerate(idx.tolist())
    ]
    return {
        "symbol": symbol, "trips": trips, "cumulative_gross": np.cumsum(gross).tolist(), "cumulative_net": np.cumsum(net).tolist(),
        "summary": {
            "trips": len(idx), "gross": float(gross.sum()), "net": float(net.sum()),
            "winners": int(wins.sum()), "losers": int(losses.sum()),
            "avg_winner": float(net[wins].mean()) if wins.any() else None,
            "avg_loser": float(net[losses].mean()) if losses.any() else None,
            # the journey's reference lines: where winning and losing trips exited, on average (gross)
            "avg_winner_exit": float(gross[wins].mean()) if wins.any() else None,
            "avg_loser_exit": float(gross[losses].mean()) if losses.any() else None,
        },
    }


def _segment_dict(n: int, s: Segment, ts: np.ndarray) -> dict[str, Any]:
    """ns times as text (JavaScript numbers are exact only to 2**53); the mark in chart seconds."""
    return {"n": n, "label": s.label, "bars": s.bars, "start_ns": str(ts[s.start]), "end_ns": str(ts[s.end]),
            "mark": [int(ts[s.mark[0]]) // 1_000_000_000, int(ts[s.mark[1]]) // 1_000_000_000] if s.mark else None,
            "trade": s.trade}


def conditions_from(params: Any) -> list[Condition]:
    """`left`, `op` and `right` (a field key or a number), repeated once per condition."""
    lefts, ops, rights = params.getlist("left"), params.getlist("op"), params.getlist("right")
    if not (len(lefts) == len(ops) == len(rights)):
        raise SegmentError("each condition needs a left field, an operator and a right field or value")
    out = []
    for left, op, right in zip(lefts, ops, rights):
        try:
            value: str | float = float(right)
        except ValueError:
            value = right
        out.append(Condition(left, op, value))
    return out


def _int(params: Any, name: str, default: int) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise SegmentError(f"{name} must be a whole number, not {raw!r}") from None


def segments(view: RunView, conn: sqlite3.Connection, symbol: str, params: Any) -> dict[str, Any]:
    """A symbol's chart segments for `mode` = all | bars | time | trades | condition."""
    bars = view.symbol_bars(conn, symbol)
    ts = bars.ts
    mode = params.get("mode") or "all"
    if not len(ts):
        found: list[Segment] = []
    elif mode == "all":
        found = [Segment(0, len(ts) - 1, "the whole run")]
    elif mode == "bars":
        found = by_bars(ts, _int(params, "size", 500), _int(params, "overlap", 100))
    elif mode == "time":
        found = by_period(ts, params.get("period") or "day")
    elif mode == "trades":
        a = view.analysis
        idx = np.flatnonzero(_trip_mask(a, symbol))
        rt = a.round_trips
        labels = [f"{a.data.strategies[int(rt.strategy[i])]} {'long' if rt.direction[i] > 0 else 'short'} "
                  f"{iso_ns(int(rt.entry_ts[i]), fraction=False)[:16].replace('T', ' ')}: {rt.net_pnl[i]:+,.2f}" for i in idx]
        found = around_trades(ts, rt.entry_ts[idx], rt.exit_ts[idx], _int(params, "padding", 100), labels)
        found = [Segment(s.start, s.end, s.label, s.mark, int(idx[s.trade or 0])) for s in found]
    elif mode == "condition":
        found = where(bars, conditions_from(params), _int(params, "gap", 0), _int(params, "context", 50))
    else:
        raise SegmentError(f"unknown mode {mode!r} (all, bars, time, trades or condition)")
    return {
        "symbol": symbol, "mode": mode, "total": len(found), "periods": list(PERIODS), "fields": field_names(bars),
        "segments": [_segment_dict(n + 1, s, ts) for n, s in enumerate(found[:MAX_SEGMENTS])],
    }


def _default_overlay(values: np.ndarray, low: float, high: float) -> bool:
    """On the price pane when it lives in price's range (a moving average), else its own (RSI)."""
    finite = values[np.isfinite(values)]
    pad = (high - low) * 0.1
    return bool(len(finite)) and float(np.mean((finite >= low - pad) & (finite <= high + pad))) >= 0.8


def price(
    conn: sqlite3.Connection, view: RunView, symbol: str, start_ns: int | None = None, end_ns: int | None = None,
    trade: int | None = None, max_bars: int = MAX_PRICE_BARS,
) -> dict[str, Any]:
    """OHLC bars of one symbol (within [start_ns, end_ns]), each strategy's indicators, its fills
    (one marker per bar, strategy and side), and for a round trip its open P&L bar by bar."""
    a = view.analysis
    info = a.info
    b = load_symbol_bars(conn, info, symbol, start_ns, end_ns)
    out: dict[str, Any] = {"symbol": symbol, "bars": [], "indicators": [], "fills": [], "bucket": 1, "pnl": None}
    if not len(b):
        return out
    size = max(1, -(-len(b) // max_bars))
    starts = np.arange(0, len(b), size)
    ends = np.r_[starts[1:], len(b)] - 1
    t = b.ts[starts] // 1_000_000_000
    high, low = np.fmax.reduceat(b.high, starts), np.fmin.reduceat(b.low, starts)
    out["bucket"] = size
    out["bars"] = [{"time": int(t[i]), "open": _num(b.open[s]), "high": _num(high[i]), "low": _num(low[i]), "close": _num(b.close[e])}
                   for i, (s, e) in enumerate(zip(starts, ends))]
    lo, hi = float(np.nanmin(b.low)), float(np.nanmax(b.high))
    labels = field_names(b)
    for (strategy, name), values in sorted(b.indicators.items()):
        last = values[ends]  # each bucket's last value
        key = f"{strategy}|{name}"
        out["indicators"].append({
            "key": key, "strategy": strategy, "name": name, "label": labels[key], "overlay": _default_overlay(values, lo, hi),
            "points": [{"time": int(t[i]), "value": _num(v)} if math.isfinite(v) else {"time": int(t[i])} for i, v in enumerate(last)],
        })
    bucket_start = b.ts[starts]
    rows = conn.execute(
        "SELECT ts_event_ns, ifnull(strategy_id, ?), side, quantity_filled, fill_price FROM fills"
        " WHERE run_id = ? AND symbol = ? AND ts_event_ns BETWEEN ? AND ? ORDER BY ts_event_ns, id",
        (info.unattributed, info.run_id, symbol, int(b.ts[0]), 2**63 - 1 if end_ns is None else int(end_ns)),
    ).fetchall()
    markers: dict[tuple[int, str, str], dict[str, Any]] = {}
    for ts_ns, strategy, side, qty, px in rows:
        k = int(np.searchsorted(bucket_start, ts_ns, side="right")) - 1
        m = markers.setdefault((k, strategy, side), {"time": int(t[k]), "strategy": strategy, "side": side, "quantity": 0.0,
                                                     "fills": 0, "price": _num(px)})
        m["quantity"] += float(qty)
        m["fills"] += 1
    out["fills"] = list(markers.values())
    if trade is not None and 0 <= trade < len(a.round_trips) and a.data.symbols[int(a.round_trips.symbol[trade])] == symbol:
        out["pnl"] = _trade_pnl(view, trade, b, t, starts, ends)
    return out


def _trade_pnl(view: RunView, i: int, b: SymbolBars, t: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> dict[str, Any]:
    """The trip's open P&L (gross) at each bar close from entry to exit, and at the exit."""
    rt = view.analysis.round_trips
    side, q, entry = int(rt.direction[i]), float(rt.quantity[i]), float(rt.entry_price[i])
    pnl = side * q * (b.close[ends] - entry)
    inside = (b.ts[starts] >= rt.entry_ts[i]) & (b.ts[starts] < rt.exit_ts[i])
    points = {int(t[k]): _num(pnl[k]) for k in np.flatnonzero(inside)}
    exit_at = int(np.searchsorted(b.ts[starts], rt.exit_ts[i], side="right")) - 1
    if 0 <= exit_at < len(t):
        points[int(t[exit_at])] = float(rt.gross_pnl[i])
    ex = view.excursions
    return {"points": [{"time": k, "value": v} for k, v in sorted(points.items())],
            "best": float(ex.best[i]), "worst": float(ex.worst[i]), "exit": float(rt.gross_pnl[i])}


def detail(conn: sqlite3.Connection, run_id: str) -> RunInfo:
    return get_run(conn, run_id)
