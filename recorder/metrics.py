"""A run's figures kept in runs.db (`run_metrics`): what `runs show` reads for a run recorded
without its bars, and what a sweep ranks its variants by.

One row per scope: the run (strategy_id = '' and symbol = ''), each strategy (symbol = ''), and
each (strategy, symbol) it traded. The columns are the figures a sweep sorts by; `stats` holds
every figure of the scope (recorder/analysis/stats.py, flattened) and, on the run's row, what the
analysis saw of the bars, its annualisation, and its equity curve thinned to at most
EQUITY_POINTS points (a sweep's report draws variants' curves from it, without their bars). The bars come from the run's datafeed (they are
the bars it replayed), so the figures are those `runs show` computes for the same run recorded
at `all`.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from components.datafeed import Replayed
from recorder import runsdb
from recorder.layout import METRIC_COLUMNS
from recorder.analysis.analyse import RunAnalysis, StrategyResult, analyse
from recorder.analysis.catalog import RunInfo
from recorder.analysis.equity import Curve
from recorder.analysis.ledger import build_ledger
from recorder.analysis.load import FeedBars, load_run
from recorder.analysis.stats import Annualisation, CurveStats, Stats, TradeStats
from recorder.report.downsample import minmax_indices

COLUMNS = tuple(METRIC_COLUMNS)
RUN_SCOPE = ("", "")  # (strategy_id, symbol) of the run's own row
EQUITY_POINTS = 240  # ~6 kB of JSON per run: charts of a few hundred pixels look the same


def feed_bars(datafeed: type) -> FeedBars:
    """Every bar the configured datafeed class replays (times, symbols, closes), read with the
    datafeed's own queries straight into arrays (no bar objects)."""
    from components.secmaster.db import open_secmaster

    feed = datafeed()
    feed.open()
    try:
        queries, names, period, path = (feed.queries(closes_only=True), list(feed.active_symbols), feed.active_bar_period,
                                        feed.resolved_db_path)
    finally:
        feed.close()
    row = np.dtype([("ts", "i8"), ("k", "i4"), ("c", "f8")])
    conn = open_secmaster(path, readonly=True)
    try:
        parts = [np.fromiter(conn.execute(sql), dtype=row) for sql in queries]
    finally:
        conn.close()
    rows = np.concatenate(parts) if parts else np.empty(0, row)
    return _feed_bars(names, None if period is None else period.name, rows["ts"].copy(), rows["k"], rows["c"].copy())


def replayed_bars(replayed: Replayed) -> FeedBars:
    """The bars as the replay kept them (components/datafeed.py ReplayedCloses): the same as
    `feed_bars` reads again."""
    kept, symbols, bar_period = replayed
    kept.flush()
    ts = np.repeat(np.asarray(kept.ts, dtype=np.int64), np.asarray(kept.n, dtype=np.int64))
    ranks = np.frombuffer(kept.ranks, dtype=np.int32)
    return _feed_bars(symbols, bar_period, ts, ranks, np.frombuffer(kept.closes, dtype=np.float64).copy())


def _feed_bars(names: list[str], bar_period: str | None, ts: np.ndarray, k: np.ndarray, close: np.ndarray) -> FeedBars:
    symbols = np.asarray(names, dtype=object)[k].tolist() if len(ts) else []
    return FeedBars(ts, symbols, close, bar_period)


def compute(conn: sqlite3.Connection, run_id: str, datafeed: type, bars: FeedBars | None = None) -> RunAnalysis:
    """The run's analysis: its fills from runs.db, its bars from the datafeed (`bars`: as the
    replay kept them, else read again)."""
    return analyse(load_run(conn, run_id, feed=feed_bars(datafeed) if bars is None else bars))


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def rows(a: RunAnalysis) -> list[tuple[Any, ...]]:
    """(strategy_id, symbol, *COLUMNS, stats JSON) for every scope of the analysis."""
    bars = a.data.bars
    seen = {
        "bars": len(bars), "symbols": list(a.data.symbols), "bar_period": bars.bar_period,
        "first_bar_ns": int(bars.ts.min()) if len(bars) else None, "last_bar_ns": int(bars.ts.max()) if len(bars) else None,
        "annualisation": {"periods_per_year": a.annualisation.periods_per_year, "basis": a.annualisation.basis},
    }
    keep = minmax_indices(a.curve.equity, EQUITY_POINTS)
    equity = {"ts": [int(t) for t in a.curve.ts[keep]], "net": [round(float(x), 6) for x in a.curve.equity[keep]]}
    scopes: list[tuple[str, str, Stats, dict[str, Any]]] = [("", "", a.total, {"data": seen, "equity": equity})]
    for sid, result in a.strategies.items():
        scopes.append((sid, "", result.stats, {}))
        scopes += [(sid, sym, st, {}) for sym, st in result.symbols.items()]
    out = []
    for sid, sym, st, extra in scopes:
        flat = {k: _finite(v) for k, v in st.to_dict().items()}
        out.append((sid, sym, *(flat[c] for c in COLUMNS), json.dumps({**flat, **extra})))
    return out


def insert_sql() -> str:
    cols = ("run_id", "strategy_id", "symbol", *COLUMNS, "stats")
    return f"INSERT INTO run_metrics ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"


def store(db_path: str | Path, run_id: str, datafeed: type, *, timeout: float = 30.0,
          bars: FeedBars | None = None) -> RunAnalysis:
    """Compute the run's figures and write them (replacing any), in one transaction."""
    conn = runsdb.connect(db_path, create=False, timeout=timeout)
    try:
        analysis = compute(conn, run_id, datafeed, bars)
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM run_metrics WHERE run_id = ?", (run_id,))
            conn.executemany(insert_sql(), [(run_id, *r) for r in rows(analysis)])
        return analysis
    finally:
        conn.close()


# --- reading them back ----------------------------------------------------------------------------


def stored_equity(conn: sqlite3.Connection, run_id: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(bar times ns, net PnL) of the run's thinned equity curve as stored, or None."""
    row = conn.execute("SELECT stats FROM run_metrics WHERE run_id = ? AND strategy_id = '' AND symbol = ''",
                       (run_id,)).fetchone()
    eq = json.loads(row[0]).get("equity") if row else None
    if not isinstance(eq, dict) or not eq.get("ts"):
        return None
    return np.asarray(eq["ts"], dtype=np.int64), np.asarray(eq["net"], dtype=float)


def _stats(flat: dict[str, Any]) -> Stats:
    def part(cls: type) -> Any:
        return cls(**{f.name: flat.get(f.name) for f in fields(cls)})

    own: dict[str, Any] = {f.name: flat.get(f.name) for f in fields(Stats) if f.name not in ("trades", "curve")}
    return Stats(**own, trades=part(TradeStats), curve=part(CurveStats))


def stored_analysis(conn: sqlite3.Connection, info: RunInfo) -> RunAnalysis | None:
    """The analysis of a run recorded without its bars, from its stored figures and its fills
    (round trips are rebuilt from the fills; curves need bars and are empty); None when the run
    has no stored figures (it failed, or was cancelled, before they were computed)."""
    found = conn.execute("SELECT strategy_id, symbol, stats FROM run_metrics WHERE run_id = ?", (info.run_id,)).fetchall()
    if not found:
        return None
    scopes = {(sid, sym): json.loads(text) for sid, sym, text in found}
    seen = scopes[RUN_SCOPE].get("data", {})
    empty = np.empty(0, np.int64)
    data = load_run(conn, info.run_id, feed=FeedBars(empty, [], np.empty(0), seen.get("bar_period")))
    none = np.empty(0)  # no bars: what needs their prices (excursions, charts) is empty, not an error
    data = replace(data, bars=replace(data.bars, open=none, high=none, low=none, volume=empty))
    grid = Curve.zeros(empty)
    strategies = {}
    for sid in data.strategies:
        per_symbol = {sym: _stats(s) for (owner, sym), s in scopes.items() if owner == sid and sym}
        own = scopes.get((sid, ""))
        if own is not None:
            strategies[sid] = StrategyResult(sid, _stats(own), per_symbol, grid)
    ann = seen.get("annualisation") or {"periods_per_year": float("nan"), "basis": "not stored"}
    return RunAnalysis(data, build_ledger(data.fills), Annualisation(ann["periods_per_year"], ann["basis"]), None,
                       strategies, _stats(scopes[RUN_SCOPE]), grid, replayed=seen)
