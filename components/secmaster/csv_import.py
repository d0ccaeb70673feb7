"""Import OHLCV bars from a CSV file into a secmaster, validating every row.

Format: a header line naming the columns (any order) `symbol, open, high, low, close, volume` and
either `ts_event_ns` (integer ns since the epoch, UTC) or `timestamp` (ISO-8601; naive means UTC,
an offset is converted). Rows need not be sorted. The first bad row aborts the import with
`FILE:LINE: what is wrong` and the database is left exactly as before (see writer.BarWriter).

The file is streamed: memory does not grow with its size.
"""

from __future__ import annotations

import csv
import datetime as _dt
import functools
import math
import os
import re
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Protocol

from components.models import BarPeriod
from components.secmaster.db import INT64_MAX, SecmasterError
from components.secmaster.progress import ProgressBar
from components.secmaster.writer import BarImportError, BarWriter, ImportSummary

TS_COLUMNS = ("ts_event_ns", "timestamp")
VALUE_COLUMNS = ("symbol", "open", "high", "low", "close", "volume")
KNOWN_COLUMNS = TS_COLUMNS + VALUE_COLUMNS
PRICE_COLUMNS = ("open", "high", "low", "close")

BAR_PERIODS = {"1s": BarPeriod.SECOND, "1m": BarPeriod.MINUTE, "1h": BarPeriod.HOUR, "1d": BarPeriod.DAY}

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_FRACTION = re.compile(r"^(.*\d\d:\d\d:\d\d)[.,](\d+)(.*)$")
_MAX_PRICE = INT64_MAX / 1e9
MAX_LINE = 1 << 20  # characters read at once; a longer line is cut there (and refused)


class _RowError(ValueError):
    """What is wrong with one row (the caller adds file and line)."""


class _LineError(Exception):
    """A bad row found by the loop; reported after the rows before it were checked."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


class _LineReader(Protocol):
    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...


def parse_iso_ns(text: str) -> int:
    """ISO-8601 date or date-time -> ns since the epoch, keeping up to 9 fractional digits.

    A time without an offset is UTC; one with an offset (or Z) is converted to UTC.
    """
    s = text.strip()
    frac_ns = 0
    m = _FRACTION.match(s)
    if m:
        digits = m.group(2)
        if len(digits) > 9:
            raise ValueError("more than 9 fractional digits")
        frac_ns = int(digits.ljust(9, "0"))
        s = m.group(1) + m.group(3)
    dt = _dt.datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_dt.timezone.utc)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000 + frac_ns


def parse_header(fields: list[str]) -> dict[str, int]:
    """Column name -> index; raises _RowError for missing, unknown or repeated columns."""
    names = [f.strip().lower() for f in fields]
    if not names or names == [""]:
        raise _RowError("empty header; expected columns " + _expected())
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise _RowError(f"column {name!r} appears twice")
        seen.add(name)
    unknown = [n for n in names if n not in KNOWN_COLUMNS]
    if unknown:
        listed = ", ".join(repr(n) for n in unknown)
        raise _RowError(f"unknown column(s) {listed}; expected {_expected()}")
    ts = [c for c in TS_COLUMNS if c in seen]
    if len(ts) == 2:
        raise _RowError("both ts_event_ns and timestamp columns given; use one")
    missing = ([] if ts else ["ts_event_ns (or timestamp)"]) + [
        c for c in VALUE_COLUMNS if c not in seen
    ]
    if missing:
        raise _RowError(f"missing column(s): {', '.join(missing)}")
    return {n: i for i, n in enumerate(names)}


def _expected() -> str:
    return "ts_event_ns or timestamp, symbol, open, high, low, close, volume"


def _parse_price(name: str, text: str) -> int:
    s = text.strip()
    if not s:
        raise _RowError(f"{name}: empty")
    try:
        x = float(s)
    except ValueError:
        raise _RowError(f"{name}: not a number: {text!r}") from None
    if not math.isfinite(x):
        raise _RowError(f"{name}: not a finite number: {text!r}")
    if abs(x) > _MAX_PRICE:
        raise _RowError(f"{name}: out of range for 1e-9 fixed point: {text!r}")
    return round(x * 1e9)


def _parse_volume(text: str) -> int:
    s = text.strip()
    if not s:
        raise _RowError("volume: empty")
    try:
        v = int(s)
    except ValueError:
        try:
            x = float(s)
        except ValueError:
            raise _RowError(f"volume: not a number: {text!r}") from None
        if not math.isfinite(x):
            raise _RowError(f"volume: not a finite number: {text!r}")
        if not x.is_integer():
            raise _RowError(f"volume: not a whole number: {text!r}")
        v = int(x)
    if v < 0:
        raise _RowError(f"volume: negative: {text!r}")
    if v > INT64_MAX:
        raise _RowError(f"volume: out of range: {text!r}")
    return v


def _parse_ts(col: str, text: str) -> int:
    s = text.strip()
    if not s:
        raise _RowError(f"{col}: empty")
    if col == "ts_event_ns":
        try:
            ts = int(s)
        except ValueError:
            raise _RowError(f"ts_event_ns: not an integer: {text!r}") from None
    else:
        try:
            ts = parse_iso_ns(s)
        except ValueError:
            raise _RowError(f"timestamp: not an ISO-8601 time: {text!r}") from None
    if ts < 0:
        raise _RowError(f"{col}: before 1970-01-01: {text!r}")
    if ts > INT64_MAX:
        raise _RowError(f"{col}: out of range: {text!r}")
    return ts


def parse_row(row: list[str], cols: dict[str, int], ts_col: str) -> tuple[int, int, int, int, int, int]:
    """(ts, open, high, low, close, volume) of a row, or _RowError naming the first problem.

    The careful path: the import loop uses a fast inline version and falls back to this one
    to say what is wrong (or to accept a volume written like `1500.0`).
    """
    ts = _parse_ts(ts_col, row[cols[ts_col]])
    o, h, l, c = (_parse_price(n, row[cols[n]]) for n in PRICE_COLUMNS)
    v = _parse_volume(row[cols["volume"]])
    return ts, o, h, l, c, v


def _check_ohlc(row: list[str], cols: dict[str, int], o: int, h: int, l: int, c: int) -> None:
    if h < l:
        raise _RowError(f"high {row[cols['high']].strip()} < low {row[cols['low']].strip()}")
    for name, x in (("open", o), ("close", c)):
        if not l <= x <= h:
            raise _RowError(
                f"{name} {row[cols[name]].strip()} outside [low {row[cols['low']].strip()},"
                f" high {row[cols['high']].strip()}]"
            )


def import_csv(
    csv_path: str | os.PathLike[str],
    db_path: str | os.PathLike[str],
    publisher_name: str,
    dataset: str,
    symbol_type: str = "raw_symbol",
    bar_period: BarPeriod = BarPeriod.MINUTE,
    progress: bool | None = None,
) -> ImportSummary:
    """Import one CSV file in one transaction; creates the database if it does not exist.

    Raises BarImportError (`FILE:LINE: message`) for a bad row, SecmasterError for a bad
    database or unreadable file; in both cases nothing is changed. `progress=None` shows a
    progress bar only when stderr is a terminal.
    """
    path = Path(csv_path)
    source = str(path)
    try:
        # surrogateescape: bad UTF-8 surfaces in the field it is in (exact line), never at a
        # decoder chunk boundary somewhere ahead of the row being read.
        fh = open(path, "r", encoding="utf-8-sig", errors="surrogateescape", newline="")
    except OSError as exc:
        raise SecmasterError(f"{source}: cannot read: {exc.strerror}") from None
    with fh:
        total = os.fstat(fh.fileno()).st_size
        bar = ProgressBar(total) if (sys.stderr.isatty() if progress is None else progress) else None
        # A stray quote is an error, not a guess. Lines are read at most MAX_LINE characters at a
        # time, so a file without line breaks costs that much memory, not its size: the csv
        # module then refuses the overlong field (its field size limit) at that line.
        reader = csv.reader(iter(functools.partial(fh.readline, MAX_LINE), ""), strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise BarImportError(source, 1, f"unreadable header: {exc}") from None
        if header is None:
            raise BarImportError(source, 1, "empty file; expected a header line")
        try:
            cols = parse_header(header)
        except _RowError as exc:
            raise BarImportError(source, 1, str(exc)) from None
        writer = BarWriter(db_path, publisher_name, dataset, symbol_type, bar_period.rtype, source)
        try:
            with writer:
                try:
                    _load_rows(reader, cols, writer, source, fh, bar)
                    if bar is not None:
                        bar.update(total, writer.rows, force=True)
                finally:
                    if bar is not None:
                        bar.finish()
                return writer.commit()
        except sqlite3.Error as exc:  # e.g. "database is locked", disk full: rolled back already
            raise SecmasterError(f"{db_path}: {exc}; nothing was imported") from exc


def _load_rows(
    reader: _LineReader,
    cols: dict[str, int],
    writer: BarWriter,
    source: str,
    fh: IO[str],
    bar: ProgressBar | None,
) -> None:
    """The hot loop: a few C-level conversions per field; any oddity goes to parse_row.

    A bad row is reported only after the queued rows before it were written, so that an
    earlier duplicate or conflict (found at write time) is the error reported.
    """
    try:
        _loop(reader, cols, writer, fh, bar)
    except _LineError as exc:
        writer.flush()
        raise BarImportError(source, exc.line, exc.message) from None


def _loop(
    reader: _LineReader,
    cols: dict[str, int],
    writer: BarWriter,
    fh: IO[str],
    bar: ProgressBar | None,
) -> None:
    ncols = len(cols)
    ts_col = "ts_event_ns" if "ts_event_ns" in cols else "timestamp"
    iso = ts_col == "timestamp"
    i_ts, i_sym = cols[ts_col], cols["symbol"]
    i_o, i_h, i_l, i_c, i_v = (cols[n] for n in ("open", "high", "low", "close", "volume"))
    ids = writer.symbol_ids
    pending = writer.pending
    push = pending.append
    batch_size = writer.batch_size
    raw = getattr(getattr(fh, "buffer", None), "raw", None)
    last_iso, last_iso_ns = "", 0
    prev = reader.line_num
    line = prev + 1
    try:
        for row in reader:
            line = prev + 1
            prev = reader.line_num
            if len(row) != ncols:
                if not row:
                    continue  # a blank line
                raise _LineError(line, f"expected {ncols} fields as in the header, got {len(row)}")
            try:
                if iso:
                    t = row[i_ts]
                    if t == last_iso:
                        ts = last_iso_ns
                    else:
                        ts = parse_iso_ns(t)
                        last_iso, last_iso_ns = t, ts
                else:
                    ts = int(row[i_ts])
                o = round(float(row[i_o]) * 1e9)
                h = round(float(row[i_h]) * 1e9)
                l = round(float(row[i_l]) * 1e9)
                c = round(float(row[i_c]) * 1e9)
                v = int(row[i_v])
                if ts < 0 or ts > INT64_MAX or v < 0 or h > INT64_MAX or l < -INT64_MAX:
                    raise ValueError
            except (ValueError, OverflowError):
                try:
                    ts, o, h, l, c, v = parse_row(row, cols, ts_col)
                except _RowError as exc:
                    raise _LineError(line, str(exc)) from None
            if h < l or not (l <= o <= h and l <= c <= h):
                try:
                    _check_ohlc(row, cols, o, h, l, c)
                except _RowError as exc:
                    raise _LineError(line, str(exc)) from None
            sym = row[i_sym]
            iid = ids.get(sym)
            if iid is None:
                _check_symbol(line, sym)
                iid = writer.instrument_for(sym, line)
            push((line, iid, ts, o, h, l, c, v))
            if len(pending) >= batch_size:
                writer.flush()
                if bar is not None and raw is not None:
                    bar.update(raw.tell(), writer.rows)
    except csv.Error as exc:
        raise _LineError(prev + 1, f"malformed CSV: {exc}") from None


def _check_symbol(line: int, sym: str) -> None:
    """Checks done once per distinct symbol spelling, off the hot path."""
    if not sym.strip():
        raise _LineError(line, "symbol: empty")
    if any(ch < " " or ch == "\x7f" for ch in sym):
        raise _LineError(line, f"symbol: contains control characters: {sym!r}")
    try:
        sym.encode("utf-8")
    except UnicodeEncodeError:
        raise _LineError(line, f"symbol: not valid UTF-8: {sym!r}") from None
