"""Load one run's bars and fills from runs.db into numpy arrays, streaming.

A 1M-bar run is 1M rows: building them all as Python tuples would take seconds and hundreds of
MB, so rows are fetched `CHUNK_ROWS` at a time into preallocated arrays, and symbols and strategy
ids become small integer codes (indexes into `RunData.symbols` / `RunData.strategies`).
Both tables are read in one read transaction, so a run still being recorded gives a consistent
snapshot (WAL lets the reader and the recorder work at once).
"""

from __future__ import annotations

import gc
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from recorder.analysis.catalog import RunInfo, get_run

CHUNK_ROWS = 65_536

#: Bar columns beyond ts/symbol/close, loaded only on request (the analysis needs only closes).
OHLV = ("open", "high", "low", "volume")


class Codebook:
    """Strings to dense integer codes, first seen first; `sorted_remap` orders them by name."""

    def __init__(self, seed: Iterable[str] = ()) -> None:
        self.codes: dict[str, int] = {}
        for name in seed:
            self.code(name)

    def code(self, name: str) -> int:
        c = self.codes.get(name)
        if c is None:
            c = self.codes[name] = len(self.codes)
        return c

    def encode(self, names: Iterable[str]) -> list[int]:
        get, code = self.codes.get, self.code
        return [c if (c := get(n)) is not None else code(n) for n in names]

    def names(self) -> tuple[str, ...]:
        return tuple(self.codes)

    def sorted_remap(self) -> tuple[tuple[str, ...], np.ndarray]:
        """(names sorted, old code -> new code)."""
        names = sorted(self.codes)
        remap = np.empty(len(names), dtype=np.int32)
        for new, name in enumerate(names):
            remap[self.codes[name]] = new
        return tuple(names), remap


@dataclass(frozen=True)
class Bars:
    """A run's bars grouped by symbol code, time-ordered within a symbol: symbol k is
    `slice(starts[k], starts[k + 1])`. open/high/low/volume are None unless asked for."""

    ts: np.ndarray  # int64 ns
    symbol: np.ndarray  # int32 codes
    close: np.ndarray  # float64
    starts: np.ndarray  # int64, len(symbols) + 1
    bar_period: str | None
    open: np.ndarray | None = None
    high: np.ndarray | None = None
    low: np.ndarray | None = None
    volume: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ts)

    def span(self, symbol: int) -> slice:
        return slice(int(self.starts[symbol]), int(self.starts[symbol + 1]))


@dataclass(frozen=True)
class Fills:
    """A run's fills in (market time, record order); quantity is signed (+ buy, - sell)."""

    ts: np.ndarray  # int64 ns
    symbol: np.ndarray  # int32 codes
    strategy: np.ndarray  # int32 codes
    quantity: np.ndarray  # float64, signed
    price: np.ndarray
    commission: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(frozen=True)
class RunData:
    info: RunInfo
    symbols: tuple[str, ...]  # sorted; codes index this
    strategies: tuple[str, ...]  # configuration order, then any other id seen in fills
    bars: Bars
    fills: Fills


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """One read transaction (unless the caller already holds one), with the cyclic garbage
    collector paused: the millions of short-lived row tuples trigger it for nothing (~25 % of
    the load time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    own = not conn.in_transaction
    if own:
        conn.execute("BEGIN")
    try:
        yield
    finally:
        if own:
            conn.execute("COMMIT")
        if was_enabled:
            gc.enable()


def _chunks(cur: sqlite3.Cursor) -> Iterator[list[tuple[object, ...]]]:
    while rows := cur.fetchmany(CHUNK_ROWS):
        yield rows


def _load_bars(conn: sqlite3.Connection, run_id: str, symbols: Codebook, ohlv: bool) -> Bars:
    lo, hi, n = conn.execute("SELECT MIN(id), MAX(id), COUNT(*) FROM bars WHERE run_id = ?", (run_id,)).fetchone()
    row = conn.execute("SELECT bar_period FROM bars WHERE run_id = ? LIMIT 1", (run_id,)).fetchone()
    cols = ["ts_event_ns", "symbol", "close"] + (["open", "high", "low", "ifnull(volume, 0)"] if ohlv else [])
    fields = [("ts", "i8"), ("symbol", "O"), ("close", "f8")]
    fields += [("open", "f8"), ("high", "f8"), ("low", "f8"), ("volume", "i8")] if ohlv else []
    dtype = np.dtype(fields)
    out = {name: np.empty(n, dtype=np.int32 if name == "symbol" else dtype[name]) for name in dtype.names or ()}
    i = 0
    if n:
        # A rowid range scan reads the run's rows sequentially (its rows are contiguous unless
        # runs were recorded concurrently); `+run_id` keeps SQLite off the (symbol, ts) index,
        # whose order would mean random reads across the file.
        cur = conn.execute(
            f"SELECT {', '.join(cols)} FROM bars WHERE id BETWEEN ? AND ? AND +run_id = ? ORDER BY id", (lo, hi, run_id)
        )
        for rows in _chunks(cur):
            k = min(len(rows), n - i)
            chunk = np.fromiter(rows[:k], dtype=dtype, count=k)
            for name in out:
                out[name][i : i + k] = symbols.encode(chunk["symbol"]) if name == "symbol" else chunk[name]
            i += k
    out = {name: a[:i] for name, a in out.items()}
    return Bars(out["ts"], out["symbol"], out["close"], np.zeros(1, np.int64), row[0] if row else None,
                out.get("open"), out.get("high"), out.get("low"), out.get("volume"))


def _load_fills(conn: sqlite3.Connection, info: RunInfo, symbols: Codebook, strategies: Codebook) -> Fills:
    run_id = info.run_id
    n = conn.execute("SELECT COUNT(*) FROM fills WHERE run_id = ?", (run_id,)).fetchone()[0]
    dtype = np.dtype([("ts", "i8"), ("symbol", "O"), ("strategy", "O"), ("quantity", "f8"), ("price", "f8"), ("commission", "f8")])
    ts, price, comm, qty = (np.empty(n, np.int64), np.empty(n), np.empty(n), np.empty(n))
    sym, strat = np.empty(n, np.int32), np.empty(n, np.int32)
    cur = conn.execute(
        "SELECT ts_event_ns, symbol, ifnull(strategy_id, ?),"
        " CASE WHEN side = 'BUY' THEN quantity_filled ELSE -quantity_filled END, fill_price, commission"
        " FROM fills WHERE run_id = ? ORDER BY ts_event_ns, id",
        (info.unattributed, run_id),
    )
    i = 0
    for rows in _chunks(cur):
        k = min(len(rows), n - i)
        c = np.fromiter(rows[:k], dtype=dtype, count=k)
        ts[i : i + k], qty[i : i + k], price[i : i + k], comm[i : i + k] = c["ts"], c["quantity"], c["price"], c["commission"]
        sym[i : i + k] = symbols.encode(c["symbol"])
        strat[i : i + k] = strategies.encode(c["strategy"])
        i += k
    return Fills(ts[:i], sym[:i], strat[:i], qty[:i], price[:i], comm[:i])


@dataclass(frozen=True)
class FeedBars:
    """A run's bars as its datafeed replays them (for a run that did not record them)."""

    ts: np.ndarray  # int64 ns
    symbol: list[str]
    close: np.ndarray  # float64
    bar_period: str | None


def _feed_bars(feed: FeedBars, symbols: Codebook) -> Bars:
    codes = np.asarray(symbols.encode(feed.symbol), dtype=np.int32)
    return Bars(feed.ts, codes, feed.close, np.zeros(1, np.int64), feed.bar_period)


def load_run(conn: sqlite3.Connection, run_id: str, *, ohlv: bool = False, feed: FeedBars | None = None) -> RunData:
    """Config, bars (closes; all of OHLCV with `ohlv=True`) and fills of one run; the bars are
    `feed`'s when given (a run recorded without its bars).

    Raises UnknownRunError for an id the database does not hold.
    """
    info = get_run(conn, run_id)
    symbols = Codebook()
    strategies = Codebook(info.strategy_ids)
    with snapshot(conn):
        bars = _load_bars(conn, info.run_id, symbols, ohlv) if feed is None else _feed_bars(feed, symbols)
        fills = _load_fills(conn, info, symbols, strategies)
    names, remap = symbols.sorted_remap()
    bar_sym = remap[bars.symbol] if len(bars) else bars.symbol
    order = np.lexsort((bars.ts, bar_sym))  # stable: by symbol, then time
    starts = np.searchsorted(bar_sym[order], np.arange(len(names) + 1)).astype(np.int64)

    def take(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[order]

    sorted_bars = Bars(
        bars.ts[order], bar_sym[order], bars.close[order], starts, bars.bar_period,
        take(bars.open), take(bars.high), take(bars.low), take(bars.volume),
    )
    fills = Fills(fills.ts, remap[fills.symbol] if len(fills) else fills.symbol, fills.strategy,
                  fills.quantity, fills.price, fills.commission)
    return RunData(info, names, strategies.names(), sorted_bars, fills)


@dataclass(frozen=True)
class SymbolBars:
    """One symbol's bars in time order with every strategy's indicators aligned to them.

    `indicators[(strategy id, name)]` holds the value at each bar (NaN where the strategy
    recorded none, or recorded something that is not a number)."""

    symbol: str
    ts: np.ndarray  # int64 ns
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # float64 (NaN where none)
    indicators: dict[tuple[str, str], np.ndarray]

    def __len__(self) -> int:
        return len(self.ts)


def _number(value: object) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return np.nan


def load_symbol_bars(
    conn: sqlite3.Connection, info: RunInfo, symbol: str, start_ns: int | None = None, end_ns: int | None = None
) -> SymbolBars:
    """Bars (`bars`) and indicator values (`bars_processed`) of one symbol of a run, optionally
    within [start_ns, end_ns]: the one place the dashboard reads these two tables."""
    lo = -(2**63) if start_ns is None else int(start_ns)
    hi = 2**63 - 1 if end_ns is None else int(end_ns)
    dtype = np.dtype([("ts", "i8"), ("open", "f8"), ("high", "f8"), ("low", "f8"), ("close", "f8"), ("volume", "f8")])
    with snapshot(conn):
        cur = conn.execute(  # a NULL volume reads as the text 'nan', which numpy takes for NaN
            "SELECT ts_event_ns, open, high, low, close, ifnull(volume, 'nan') FROM bars"
            " WHERE run_id = ? AND symbol = ? AND ts_event_ns BETWEEN ? AND ? ORDER BY ts_event_ns",
            (info.run_id, symbol, lo, hi),
        )
        parts = [np.fromiter(rows, dtype=dtype, count=len(rows)) for rows in _chunks(cur)]
        bars = np.concatenate(parts) if parts else np.empty(0, dtype=dtype)
        ts = bars["ts"]
        indicators: dict[tuple[str, str], np.ndarray] = {}
        cur = conn.execute(
            "SELECT ifnull(strategy_id, ?), ts_event_ns, indicators FROM bars_processed"
            " WHERE run_id = ? AND symbol = ? AND ts_event_ns BETWEEN ? AND ? ORDER BY ts_event_ns",
            (info.unattributed, info.run_id, symbol, lo, hi),
        )
        for rows in _chunks(cur):
            at = np.searchsorted(ts, np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows)))
            for (strategy, t, text), k in zip(rows, at.tolist()):
                if k >= len(ts) or ts[k] != t:
                    continue  # a processed bar without its bar (not recorded): nothing to align to
                try:
                    values = json.loads(str(text))
                except ValueError:
                    continue
                if not isinstance(values, dict):
                    continue
                for name, value in values.items():
                    key = (str(strategy), str(name))
                    series = indicators.get(key)
                    if series is None:
                        series = indicators[key] = np.full(len(ts), np.nan)
                    series[k] = _number(value)
    return SymbolBars(symbol, ts, bars["open"], bars["high"], bars["low"], bars["close"], bars["volume"], indicators)
