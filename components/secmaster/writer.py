"""All-or-nothing bulk writer of validated bars into a secmaster (used by the CSV importer and
the sample generator, so both produce the same instruments, symbology and coverage).

Everything happens in one transaction: on any error the database is rolled back to exactly what
it was, and a database file this writer created is removed again.

Duplicate detection does not keep the rows in memory: the keys (instrument_id, ts_event, line) of
the rows written so far go to a TEMP table on disk (temp_store=FILE), so RAM stays flat however
large the input; its primary key finds a duplicate within the input. Only when an instrument
already had bars of this rtype before the import does each batch also get joined against `ohlcv`
(a different bar at the same key is a conflict; an identical one is skipped): a first import
pays for neither.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from components.secmaster.db import (
    SecmasterError,
    create_secmaster_db,
    ns_to_date,
    ns_to_iso,
    open_secmaster,
    rebuild_symbol_coverage,
    remove_db_files,
)

OPEN_END_DATE = "9999-12-31"
"""end_date of the symbology rows written here: the mapping stays valid for later data."""

SCALE = 1_000_000_000
BATCH_SIZE = 20_000
"""Rows per write: big enough to amortise the per-batch SQL, small enough to keep RAM flat."""


class BarImportError(SecmasterError):
    """A bad input row: printed as `SOURCE:LINE: message`."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source = source
        self.line = line
        self.message = message


@dataclass(frozen=True, slots=True)
class ImportSummary:
    source: str
    db_path: str
    rows: int  # data rows read
    inserted: int  # new bars written (rows - inserted were already there, identical)
    symbols: int
    min_ts: int | None
    max_ts: int | None
    created_db: bool

    def describe(self, seconds: float | None = None) -> str:
        """The one-line summary the CLI prints."""
        span = (
            f", {ns_to_iso(self.min_ts)} .. {ns_to_iso(self.max_ts)}"
            if self.min_ts is not None and self.max_ts is not None
            else ""
        )
        skipped = self.rows - self.inserted
        already = f" ({skipped:,} already present)" if skipped else ""
        rate = ""
        if seconds is not None and seconds > 0:
            rate = f" in {seconds:.1f} s ({self.rows / seconds:,.0f} rows/s)"
        return (
            f"imported {self.inserted:,} bars{already} for {self.symbols} symbols{span}"
            f" into {self.db_path}{rate}"
        )


_INSERT_BATCH = "INSERT INTO temp.import_batch VALUES (?, ?, ?, ?, ?, ?, ?, ?)"

_FIND_DUPLICATE = """
SELECT line, first FROM (
  SELECT b.line AS line, COALESCE(
    (SELECT s.line FROM temp.import_seen s
      WHERE s.instrument_id = b.instrument_id AND s.ts_event = b.ts_event AND s.line < b.line),
    (SELECT MIN(b0.line) FROM temp.import_batch b0
      WHERE b0.instrument_id = b.instrument_id AND b0.ts_event = b.ts_event AND b0.line < b.line)
  ) AS first
  FROM temp.import_batch b
) WHERE first IS NOT NULL ORDER BY line LIMIT 1
"""

_FIND_CONFLICT = """
SELECT b.line, b.instrument_id, b.ts_event, o.open, o.high, o.low, o.close, o.volume
FROM temp.import_batch b
JOIN main.ohlcv o ON o.instrument_id = b.instrument_id AND o.rtype = ? AND o.ts_event = b.ts_event
WHERE o.open <> b.open OR o.high <> b.high OR o.low <> b.low OR o.close <> b.close
   OR o.volume <> b.volume
ORDER BY b.line LIMIT 1
"""

# Plain INSERT (not OR IGNORE) of the rows not already present: identical bars are skipped
# (idempotent re-import) while a CHECK violation would still raise instead of dropping a row.
_INSERT_ALL = """
INSERT INTO main.ohlcv (instrument_id, rtype, ts_event, open, high, low, close, volume)
SELECT b.instrument_id, ?, b.ts_event, b.open, b.high, b.low, b.close, b.volume
FROM temp.import_batch b
"""
_INSERT_NEW = (
    _INSERT_ALL
    + """WHERE NOT EXISTS (SELECT 1 FROM main.ohlcv o
                  WHERE o.instrument_id = b.instrument_id AND o.rtype = ? AND o.ts_event = b.ts_event)
"""
)


class BarWriter:
    """Write bars of one publisher/dataset/symbol type/rtype in one transaction.

    Use as a context manager: `add()` rows (with the line they came from), then `commit()`;
    leaving the block without commit (or with an exception) rolls everything back.
    """

    def __init__(
        self,
        db_path: str | os.PathLike[str],
        publisher_name: str,
        dataset: str,
        symbol_type: str,
        rtype: int,
        source: str,
        batch_size: int | None = None,
    ) -> None:
        if not publisher_name or not dataset or not symbol_type:
            raise SecmasterError("publisher, dataset and symbol type must be non-empty")
        self.db_path = Path(db_path)
        self.publisher_name = publisher_name
        self.dataset = dataset
        self.symbol_type = symbol_type
        self.rtype = rtype
        self.source = source
        self.batch_size = batch_size or BATCH_SIZE
        self.rows = 0  # rows flushed so far (plus len(pending) queued)
        self.inserted = 0
        self.created_db = False
        self.symbol_ids: dict[str, int] = {}  # input spelling -> instrument_id
        self._first_line: dict[int, tuple[str, int]] = {}  # instrument_id -> (symbol, line)
        self.pending: list[tuple[int, int, int, int, int, int, int, int]] = []
        self._conn: sqlite3.Connection | None = None
        # True once an instrument that already has bars of this rtype is written to: from then
        # on batches are checked against (and deduplicated with) the existing bars.
        self._checked = False
        self._publisher_id = 0
        self._committed = False

    # --- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> BarWriter:
        self.created_db = not self.db_path.exists()
        if self.created_db:
            create_secmaster_db(self.db_path)
        try:
            conn = open_secmaster(self.db_path, readonly=False)
        except BaseException:
            if self.created_db:
                remove_db_files(self.db_path)
            raise
        self._conn = conn
        try:
            # Connection-local settings only: nothing persistent in the file changes. Foreign
            # keys are off because every row references an instrument this writer just looked
            # up or created (they cost ~20% of the insert time).
            conn.execute("PRAGMA foreign_keys = OFF")
            conn.execute("PRAGMA cache_size = -65536")
            conn.execute("PRAGMA temp_store = FILE")
            conn.execute("PRAGMA temp.cache_size = -65536")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "CREATE TEMP TABLE import_batch (line INTEGER PRIMARY KEY, instrument_id INTEGER,"
                " ts_event INTEGER, open INTEGER, high INTEGER, low INTEGER, close INTEGER,"
                " volume INTEGER)"
            )
            conn.execute(
                "CREATE TEMP TABLE import_seen (instrument_id INTEGER, ts_event INTEGER,"
                " line INTEGER, PRIMARY KEY (instrument_id, ts_event)) WITHOUT ROWID"
            )
            self._publisher_id = self._ensure_publisher()
        except BaseException:
            self._abort()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._committed:
            self._abort()

    def _abort(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            finally:
                conn.close()
        if self.created_db:
            remove_db_files(self.db_path)

    def commit(self) -> ImportSummary:
        """Flush, write symbology and coverage, commit; returns what was imported."""
        conn = self._require_conn()
        self.flush()
        min_ts: int | None = None
        max_ts: int | None = None
        for iid, (symbol, line) in self._first_line.items():
            lo, hi = conn.execute(
                "SELECT MIN(ts_event), MAX(ts_event) FROM temp.import_seen WHERE instrument_id = ?",
                (iid,),
            ).fetchone()
            if lo is None:
                continue
            self._ensure_symbology(iid, symbol, lo, line)
            min_ts = lo if min_ts is None else min(min_ts, lo)
            max_ts = hi if max_ts is None else max(max_ts, hi)
        rebuild_symbol_coverage(conn, self._publisher_id)
        conn.execute("COMMIT")
        self._committed = True
        conn.close()
        self._conn = None
        return ImportSummary(
            source=self.source,
            db_path=str(self.db_path),
            rows=self.rows,
            inserted=self.inserted,
            symbols=len(self._first_line),
            min_ts=min_ts,
            max_ts=max_ts,
            created_db=self.created_db,
        )

    def _require_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("BarWriter used outside its `with` block")
        return self._conn

    # --- rows ------------------------------------------------------------------------------------

    def instrument_for(self, symbol: str, line: int) -> int:
        """instrument_id for a symbol as spelled in the input (created on first sight)."""
        iid = self.symbol_ids.get(symbol)
        if iid is None:
            name = symbol.strip()
            if not name:
                raise BarImportError(self.source, line, "symbol: empty")
            iid = self._ensure_instrument(name)
            self.symbol_ids[symbol] = iid
            self._first_line.setdefault(iid, (name, line))
        return iid

    def add(self, line: int, iid: int, ts: int, o: int, h: int, l: int, c: int, v: int) -> None:
        """Queue one validated bar (prices already fixed point); written in batches.

        Hot loops may append `(line, iid, ts, o, h, l, c, v)` to `pending` themselves and call
        `flush()` once it holds `batch_size` rows.
        """
        self.pending.append((line, iid, ts, o, h, l, c, v))
        if len(self.pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        """Write the queued rows; raises BarImportError for the first bad one (by line)."""
        if not self.pending:
            return
        conn = self._require_conn()
        conn.execute("DELETE FROM temp.import_batch")
        conn.executemany(_INSERT_BATCH, self.pending)
        self.rows += len(self.pending)
        self.pending.clear()
        dup: tuple[int, int] | None = None
        try:
            conn.execute(
                "INSERT INTO temp.import_seen SELECT instrument_id, ts_event, line"
                " FROM temp.import_batch"
            )
        except sqlite3.IntegrityError:
            # Error path only: index the batch so the correlated lookups are not quadratic.
            conn.execute(
                "CREATE INDEX IF NOT EXISTS temp.import_batch_key"
                " ON import_batch (instrument_id, ts_event)"
            )
            dup = conn.execute(_FIND_DUPLICATE).fetchone()
            if dup is None:  # cannot happen; never continue with an unexplained failure
                raise
        conflict = None
        if self._checked:
            conflict = conn.execute(_FIND_CONFLICT, (self.rtype,)).fetchone()
        if conflict is not None and (dup is None or conflict[0] < dup[0]):
            line, iid, ts, *old = conflict
            new = conn.execute(
                "SELECT open, high, low, close, volume FROM temp.import_batch WHERE line = ?",
                (line,),
            ).fetchone()
            raise BarImportError(
                self.source,
                line,
                f"bar for {self._symbol_of(iid)} at {ns_to_iso(ts)} ({ts}) conflicts with a"
                f" different bar already in {self.db_path}: {_fmt_bar(old)} (file: {_fmt_bar(new)})",
            )
        if dup is not None:
            line, first = dup
            iid, ts = conn.execute(
                "SELECT instrument_id, ts_event FROM temp.import_batch WHERE line = ?", (line,)
            ).fetchone()
            raise BarImportError(
                self.source,
                line,
                f"duplicate bar for {self._symbol_of(iid)} at {ns_to_iso(ts)} ({ts});"
                f" first given at line {first}",
            )
        if self._checked:
            cur = conn.execute(_INSERT_NEW, (self.rtype, self.rtype))
        else:
            cur = conn.execute(_INSERT_ALL, (self.rtype,))
        self.inserted += cur.rowcount

    def _symbol_of(self, iid: int) -> str:
        return self._first_line[iid][0] if iid in self._first_line else f"instrument {iid}"

    # --- reference data --------------------------------------------------------------------------

    def _ensure_publisher(self) -> int:
        conn = self._require_conn()
        row = conn.execute(
            "SELECT publisher_id FROM publishers WHERE name = ? AND dataset = ?",
            (self.publisher_name, self.dataset),
        ).fetchone()
        if row is not None:
            return int(row[0])
        cur = conn.execute(
            "INSERT INTO publishers (name, dataset, venue) VALUES (?, ?, NULL)",
            (self.publisher_name, self.dataset),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def _next_source_id(self) -> int:
        """Next free vendor id in the publisher: deterministic for a given input order."""
        row = self._require_conn().execute(
            "SELECT COALESCE(MAX(source_instrument_id), 0) + 1 FROM instruments"
            " WHERE publisher_ref = ?",
            (self._publisher_id,),
        ).fetchone()
        return int(row[0])

    def _ensure_instrument(self, symbol: str) -> int:
        conn = self._require_conn()
        row = conn.execute(
            "SELECT instrument_id, source_instrument_id FROM instruments"
            " WHERE publisher_ref = ? AND symbol = ? AND symbol_type = ?",
            (self._publisher_id, symbol, self.symbol_type),
        ).fetchone()
        if row is not None:
            iid, sid = row
            if sid is None:  # a symbol-only instrument: give it an id so symbology can map it
                conn.execute(
                    "UPDATE instruments SET source_instrument_id = ? WHERE instrument_id = ?",
                    (self._next_source_id(), iid),
                )
            if not self._checked:
                self._checked = (
                    conn.execute(
                        "SELECT 1 FROM ohlcv WHERE instrument_id = ? AND rtype = ? LIMIT 1",
                        (iid, self.rtype),
                    ).fetchone()
                    is not None
                )
            return int(iid)
        cur = conn.execute(
            "INSERT INTO instruments (publisher_ref, source_instrument_id, symbol, symbol_type)"
            " VALUES (?, ?, ?, ?)",
            (self._publisher_id, self._next_source_id(), symbol, self.symbol_type),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def _ensure_symbology(self, iid: int, symbol: str, min_ts: int, line: int) -> None:
        """Map symbol -> instrument from the earliest date seen to OPEN_END_DATE.

        Re-import leaves the row as is; earlier data moves start_date back; a later file needs
        no change. Refuses to overlap a mapping of the same symbol to another instrument.
        """
        conn = self._require_conn()
        pid, stype = self._publisher_id, self.symbol_type
        sid = conn.execute(
            "SELECT source_instrument_id FROM instruments WHERE instrument_id = ?", (iid,)
        ).fetchone()[0]
        rows = conn.execute(
            "SELECT source_instrument_id, start_date, end_date FROM symbology"
            " WHERE publisher_ref = ? AND symbol = ? AND symbol_type = ?",
            (pid, symbol, stype),
        ).fetchall()
        mine = [r for r in rows if r[0] == sid]
        start = min([ns_to_date(min_ts)] + [r[1] for r in mine])
        end = max([OPEN_END_DATE] + [r[2] for r in mine])
        for other_sid, o_start, o_end in rows:
            if other_sid != sid and o_start < end and start < o_end:
                raise BarImportError(
                    self.source,
                    line,
                    f"symbol {symbol} ({stype}) already maps to instrument {other_sid} for"
                    f" [{o_start}, {o_end}); mapping it to instrument {sid} from {start} would overlap",
                )
        if len(mine) == 1 and (mine[0][1], mine[0][2]) == (start, end):
            return
        conn.execute(
            "DELETE FROM symbology WHERE publisher_ref = ? AND symbol = ? AND symbol_type = ?"
            " AND source_instrument_id = ?",
            (pid, symbol, stype, sid),
        )
        conn.execute(
            "INSERT INTO symbology (publisher_ref, symbol, symbol_type, source_instrument_id,"
            " start_date, end_date) VALUES (?, ?, ?, ?, ?, ?)",
            (pid, symbol, stype, sid, start, end),
        )


def _fmt_bar(values: tuple[int, ...] | list[int]) -> str:
    o, h, l, c, v = values
    return f"O={o / SCALE} H={h / SCALE} L={l / SCALE} C={c / SCALE} V={v}"
