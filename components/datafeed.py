"""SimulatedDatafeed: replays secmaster bars grouped by timestamp, in (timestamp, symbol) order.

Plain logic (no sockets, no threads): the process that hosts it publishes each group and waits
on the barrier. Configured by class attributes:

    class Feed(SimulatedDatafeed):
        db_path = "secmaster.db"
        publisher_name = "tickbus"
        dataset = "SAMPLE"

A bar belongs to a symbol when symbology maps the symbol to the bar's instrument on the bar's
UTC date (`date(ts_event / 1e9, 'unixepoch')` in [start_date, end_date)). Instead of evaluating
date() per row in a join (which forces a sort of the whole result), each symbology row becomes an
ns range on the ohlcv primary key, and SQLite merges the per-range streams (a compound SELECT whose ORDER BY it satisfies by merging, not sorting): rows come off
the PK in order, nothing is materialised, and the first group is available at once.
"""

from __future__ import annotations

import heapq
import json
import os
import sqlite3
import time
from array import array
from collections.abc import Generator, Iterator
from pathlib import Path
from types import TracebackType

from components.events import BarReceived
from components.fastbuild import compile_builder
from components.models import BarPeriod
from components.secmaster.db import (
    INT64_MAX,
    RTYPES,
    SecmasterError,
    Segment,
    get_publisher_id,
    list_publishers,
    list_symbol_types,
    ns_to_iso,
    open_secmaster,
    segment_has_bars,
    symbol_segments,
)

# SQLite allows at most 500 terms in a compound SELECT; larger symbol sets are merged in chunks
# whose streams are then merged in Python.
_MAX_UNION = 250

_Row = tuple[int, int, float, float, float, float, int]


class DatafeedError(ValueError):
    """The feed's configuration does not match the database (the message says what is there)."""


class ReplayedCloses:
    """What a replay keeps of its bars for a run's figures (`keep_closes`), in replay order: each
    timestamp with its bar count, each bar's symbol rank (in `active_symbols`) and close. A bar
    costs two list appends (an array would convert each value on its own, four times the cost);
    every FLUSH_AT bars the lists move into arrays in one C loop, so a bar kept takes 12 bytes."""

    FLUSH_AT = 8192
    __slots__ = ("ts", "n", "k", "c", "ranks", "closes")

    def __init__(self) -> None:
        self.ts: list[int] = []
        self.n: list[int] = []
        self.k: list[int] = []  # pending: appended by the replay loop, emptied in place
        self.c: list[float] = []
        self.ranks = array("i")
        self.closes = array("d")

    def __len__(self) -> int:
        return len(self.closes) + len(self.c)

    def mark(self, ts: int, bars: int) -> None:
        """The replay yielded `bars` bars at `ts` (their ranks and closes are pending)."""
        self.ts.append(ts)
        self.n.append(bars)
        if len(self.c) >= self.FLUSH_AT:
            self.flush()

    def flush(self) -> None:
        self.ranks.fromlist(self.k)
        self.closes.fromlist(self.c)
        del self.k[:], self.c[:]

    # A file of them (a datafeed in its own process hands them to the orchestrator): a 4-byte
    # little-endian header length, a JSON header, then the arrays ts, n (int64), ranks (int32)
    # and closes (float64) in native byte order, their lengths in the header.

    def save(self, path: Path, symbols: list[str], bar_period: str | None) -> None:
        """Atomically (a reader sees all of it or nothing)."""
        self.flush()
        header = json.dumps({"symbols": symbols, "bar_period": bar_period, "timestamps": len(self.ts),
                             "bars": len(self.closes)}).encode()
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(len(header).to_bytes(4, "little") + header)
            for values in (array("q", self.ts), array("q", self.n), self.ranks, self.closes):
                values.tofile(fh)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> Replayed:
        """What `save` wrote."""
        out = cls()
        with open(path, "rb") as fh:
            header = json.loads(fh.read(int.from_bytes(fh.read(4), "little")))
            ts, n = array("q"), array("q")
            for values, count in ((ts, "timestamps"), (n, "timestamps"), (out.ranks, "bars"), (out.closes, "bars")):
                values.fromfile(fh, int(header[count]))
        out.ts, out.n = ts.tolist(), n.tolist()
        return out, list(header["symbols"]), header["bar_period"]


#: A replay's kept closes, the symbols their ranks index and the bar period's name.
Replayed = tuple[ReplayedCloses, list[str], "str | None"]


class SimulatedDatafeed:
    """Bars of one publisher/dataset/symbol type/bar period from a secmaster, one group per
    distinct ts_event.

    Use: `open()` (validates; sets `total_bars`), iterate `timestamps()`, `close()`; or as a
    context manager. `bars_sent` counts bars yielded so far (`progress` = bars_sent/total_bars).
    """

    db_path: str = ""  # falls back to $SECMASTER_DB_PATH, then "secmaster.db"
    publisher_name: str = ""
    dataset: str = ""
    symbol_type: str = "raw_symbol"
    start_ts: int | None = None  # inclusive, ns
    end_ts: int | None = None  # inclusive, ns
    symbols: list[str] | None = None  # None: every symbol of the dataset
    bar_period: BarPeriod | None = None  # None: the one period present
    price_scale: float = 1e9
    #: The bar count when already known (the orchestrator counted them while validating the run):
    #: `open()` then does not count them again.
    total_bars_hint: int | None = None

    #: Keep each bar's (ts_event, symbol rank, close) in `closes` as `timestamps()` passes it
    #: (12 bytes a bar): a run that does not record its bars computes its figures from them
    #: instead of reading the bars a second time (recorder/metrics.py).
    keep_closes: bool = False

    def __init__(self) -> None:
        self.total_bars = 0
        self.bars_sent = 0
        self.closes: ReplayedCloses | None = None
        self.active_symbols: list[str] = []
        self.active_bar_period: BarPeriod | None = None
        self._conn: sqlite3.Connection | None = None
        self._segments: list[Segment] = []
        self._lo = 0
        self._hi = INT64_MAX

    # --- lifecycle -------------------------------------------------------------------------------

    @property
    def resolved_db_path(self) -> str:
        return self.db_path or os.environ.get("SECMASTER_DB_PATH", "") or "secmaster.db"

    def open(self) -> None:
        """Open the database and check the configuration against it; sets `total_bars`.

        Raises DatafeedError naming what is wrong and listing what is available.
        """
        self.close()
        path = self.resolved_db_path
        try:
            conn = open_secmaster(path, readonly=True)
        except SecmasterError as exc:
            raise DatafeedError(str(exc)) from None
        try:
            self._resolve(conn, path)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self.bars_sent = 0

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> SimulatedDatafeed:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def progress(self) -> float:
        return min(self.bars_sent / self.total_bars, 1.0) if self.total_bars else 0.0

    # --- validation ------------------------------------------------------------------------------

    def _resolve(self, conn: sqlite3.Connection, path: str) -> None:
        where = f"{path}: "
        if not self.publisher_name or not self.dataset:
            raise DatafeedError(
                f"{where}publisher_name and dataset must be set"
                f" (available publisher/dataset: {_publishers(conn)})"
            )
        pid = get_publisher_id(conn, self.publisher_name, self.dataset)
        if pid is None:
            raise DatafeedError(
                f"{where}no publisher {self.publisher_name!r} with dataset {self.dataset!r}"
                f" (available publisher/dataset: {_publishers(conn)})"
            )
        label = f"{self.publisher_name}/{self.dataset}"
        lo = 0 if self.start_ts is None else max(int(self.start_ts), 0)
        hi = INT64_MAX if self.end_ts is None else min(int(self.end_ts), INT64_MAX)
        if self.start_ts is not None and self.end_ts is not None and self.start_ts > self.end_ts:
            raise DatafeedError(f"start_ts {self.start_ts} is after end_ts {self.end_ts}")

        segments = symbol_segments(conn, pid, self.symbol_type)
        if not segments:
            types = ", ".join(list_symbol_types(conn, pid)) or "none"
            raise DatafeedError(
                f"{where}{label} has no symbols of type {self.symbol_type!r}"
                f" (symbol types present: {types})"
            )
        available = sorted({s.symbol for s in segments})
        if self.symbols is not None:
            if isinstance(self.symbols, str):
                raise DatafeedError("symbols must be a list of symbols, not a string")
            wanted = list(dict.fromkeys(self.symbols))
            if not wanted:
                raise DatafeedError("symbols is empty; use None for every symbol of the dataset")
            known = set(available)
            unknown = [s for s in wanted if s not in known]
            if unknown:
                raise DatafeedError(
                    f"{where}unknown symbol(s) for {label} ({self.symbol_type}):"
                    f" {', '.join(unknown)}; available: {_few(available)}"
                )
            chosen = set(wanted)
            segments = [s for s in segments if s.symbol in chosen]
            self.active_symbols = sorted(wanted)
        else:
            self.active_symbols = available

        def has(rt: int) -> bool:
            return any(segment_has_bars(conn, s, rt, lo, hi) for s in segments)

        period = self.bar_period
        # With a period given, one probe suffices unless it fails (then list what is there).
        present = [period.rtype] if period is not None and has(period.rtype) else [
            rt for rt in RTYPES if has(rt)
        ]
        if period is None:
            usable = [rt for rt in present if rt != 36]
            if not usable:
                raise DatafeedError(
                    f"{where}no bars for {label} ({self.symbol_type}) in {_range(lo, hi)}"
                    f" for {_few(self.active_symbols)}"
                )
            if len(usable) > 1:
                names = ", ".join(BarPeriod.from_rtype(rt).name for rt in usable)
                raise DatafeedError(
                    f"{where}{label} has bars of several periods ({names}); set bar_period"
                )
            period = BarPeriod.from_rtype(usable[0])
        elif period.rtype not in present:
            have = ", ".join(BarPeriod.from_rtype(rt).name for rt in present if rt != 36) or "none"
            raise DatafeedError(
                f"{where}no {period.name} bars for {label} ({self.symbol_type}) in"
                f" {_range(lo, hi)} for {_few(self.active_symbols)} (periods present: {have})"
            )
        self.active_bar_period = period
        self._lo, self._hi = lo, hi
        self._segments = [s for s in segments if max(lo, s.start_ns) <= min(hi, s.end_ns - 1)]
        if self.total_bars_hint is not None:
            self.total_bars = int(self.total_bars_hint)
            return
        self.total_bars = sum(
            conn.execute(
                "SELECT COUNT(*) FROM ohlcv WHERE instrument_id = ? AND rtype = ?"
                " AND ts_event BETWEEN ? AND ?",
                (s.instrument_id, period.rtype, *self._bounds(s)),
            ).fetchone()[0]
            for s in self._segments
        )
        if self.total_bars == 0:  # pragma: no cover - `present` already saw a bar
            raise DatafeedError(f"{where}no bars for {label} in {_range(lo, hi)}")

    def _bounds(self, seg: Segment) -> tuple[int, int]:
        """Inclusive ns bounds: the symbology dates intersected with [start_ts, end_ts]."""
        return max(self._lo, seg.start_ns), min(self._hi, seg.end_ns - 1)

    def replayed(self) -> Replayed | None:
        """What `keep_closes` kept of the last replay, with what its ranks index; None if nothing."""
        if self.closes is None:
            return None
        period = self.active_bar_period
        return self.closes, list(self.active_symbols), None if period is None else period.name

    # --- streaming -------------------------------------------------------------------------------

    def queries(self, closes_only: bool = False) -> list[str]:
        """The SQL whose merged rows are the feed: one compound SELECT per
        chunk of symbology rows. Rows: (ts_event, symbol rank, open, high, low, close, volume),
        prices already scaled; the rank indexes `active_symbols` (sorted), so (ts, rank) order
        is (ts, symbol) order and SQLite need not build a string per row. `closes_only`: rows
        (ts_event, symbol rank, close), all a run's figures read (half the cost per row).
        """
        if self.active_bar_period is None:
            raise RuntimeError("open() the datafeed first")
        rtype = self.active_bar_period.rtype
        scale = float(self.price_scale)  # a float, or SQLite would divide integers
        rank = {sym: k for k, sym in enumerate(self.active_symbols)}
        out = []
        for i in range(0, len(self._segments), _MAX_UNION):
            chunk = self._segments[i : i + _MAX_UNION]
            parts = []
            for seg in chunk:
                lo, hi = self._bounds(seg)
                # Literals, not parameters: SQLite then folds them into the merge program,
                # which is measurably faster. All are ints/floats produced here, never text.
                prices = (f"close / {scale!r} AS close" if closes_only else
                          f"open / {scale!r} AS open, high / {scale!r} AS high, low / {scale!r} AS low,"
                          f" close / {scale!r} AS close, volume")
                parts.append(
                    f"SELECT * FROM (SELECT ts_event, {int(rank[seg.symbol])} AS k, {prices} FROM ohlcv"
                    f" WHERE instrument_id = {int(seg.instrument_id)} AND rtype = {int(rtype)}"
                    f" AND ts_event BETWEEN {int(lo)} AND {int(hi)})"
                )
            if len(parts) == 1:  # no merge needed: the PK already yields ts order
                sql = parts[0] + " ORDER BY ts_event"
            else:
                sql = " UNION ALL ".join(parts) + " ORDER BY 1, 2"
            out.append(sql)
        return out

    def explain(self) -> list[str]:
        """EXPLAIN QUERY PLAN lines of the feed's queries (to check the ohlcv PK is used)."""
        conn = self._require_conn()
        return [
            row[3] for sql in self.queries() for row in conn.execute("EXPLAIN QUERY PLAN " + sql)
        ]

    def _require_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("open() the datafeed first")
        return self._conn

    def _rows(self) -> Iterator[_Row]:
        """All rows in (ts_event, symbol) order, streamed from SQLite cursors."""
        conn = self._require_conn()
        cursors = [conn.cursor().execute(sql) for sql in self.queries()]
        if len(cursors) == 1:
            return iter(cursors[0])
        return heapq.merge(*cursors)

    def timestamps(self) -> Generator[list[BarReceived], None, None]:
        """One list of bars per distinct ts_event, in time order, bars in symbol order.

        The hot path of every run: each bar is built by `_build_bar` (direct slot stores,
        components/fastbuild.py), which costs half of BarReceived's keyword constructor.
        """
        period = self.active_bar_period
        if period is None:
            raise RuntimeError("open() the datafeed first")
        names = self.active_symbols
        now = time.time_ns
        build = _build_bar
        bars: list[BarReceived] = []
        append = bars.append
        current = -1
        created = 0
        kept = self.closes = ReplayedCloses() if self.keep_closes else None
        keep = kept is not None
        sink = kept if kept is not None else ReplayedCloses()  # (not kept: it only binds the loop's names)
        keep_k, keep_c, mark = sink.k.append, sink.c.append, sink.mark
        for ts, k, o, h, l, c, v in self._rows():
            if ts != current:
                if bars:
                    self.bars_sent += len(bars)
                    if keep:
                        mark(current, len(bars))
                    yield bars
                bars = []
                append = bars.append
                current, created = ts, now()
            append(build(ts, created, names[k], period, o, h, l, c, v))
            if keep:
                keep_k(k)
                keep_c(c)
        if bars:
            self.bars_sent += len(bars)
            if keep:
                mark(current, len(bars))
            yield bars


_BAR_FIELDS = ("ts_event_ns", "ts_created_ns", "symbol", "bar_period", "open", "high", "low", "close", "volume")
#: `_build_bar(ts_event_ns, ts_created_ns, symbol, bar_period, open, high, low, close, volume)`.
_build_bar = compile_builder(BarReceived, _BAR_FIELDS, {name: name for name in _BAR_FIELDS})


def _publishers(conn: sqlite3.Connection) -> str:
    return ", ".join(f"{p.name}/{p.dataset}" for p in list_publishers(conn)) or "none"


def _few(names: list[str], n: int = 8) -> str:
    more = f", ... ({len(names)} in all)" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def _range(lo: int, hi: int) -> str:
    if lo == 0 and hi == INT64_MAX:
        return "the whole range"
    return f"[{ns_to_iso(lo)}, {ns_to_iso(hi)}]"
