"""Create, open and query a secmaster SQLite file (schema v1, shared with onesecondtrader).

Opening always checks that the file really is a secmaster (schema version and tables), so a wrong
path fails at once with the path in the message instead of deep inside a query.
"""

from __future__ import annotations

import datetime as _dt
import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

SCHEMA_VERSION = 1
RTYPES = (32, 33, 34, 35, 36)
INT64_MAX = 2**63 - 1
NS_PER_DAY = 86_400 * 1_000_000_000
_EPOCH = _dt.date(1970, 1, 1)

# Columns every reader relies on; symbol_coverage.symbol_type is optional (absent in 0.68 files).
_REQUIRED: dict[str, frozenset[str]] = {
    "publishers": frozenset({"publisher_id", "name", "dataset", "venue"}),
    "instruments": frozenset(
        {"instrument_id", "publisher_ref", "source_instrument_id", "symbol", "symbol_type"}
    ),
    "ohlcv": frozenset(
        {"instrument_id", "rtype", "ts_event", "open", "high", "low", "close", "volume"}
    ),
    "symbology": frozenset(
        {"publisher_ref", "symbol", "symbol_type", "source_instrument_id", "start_date", "end_date"}
    ),
    "symbol_coverage": frozenset({"publisher_id", "symbol", "rtype", "min_ts", "max_ts"}),
}


class SecmasterError(Exception):
    """A secmaster file is missing, is not a secmaster, or does not hold what was asked for."""


def schema_sql() -> str:
    """The packaged schema v1 script (shipped as package data, so it works from a wheel too)."""
    return resources.files("components.secmaster").joinpath("schema_v1.sql").read_text("utf-8")


def create_secmaster_db(path: str | os.PathLike[str]) -> Path:
    """Create an empty secmaster at `path`; refuses to touch an existing file."""
    p = Path(path)
    try:
        # O_EXCL reserves the name atomically: two creators cannot both "win" and overwrite.
        os.close(os.open(p, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
    except FileExistsError:
        raise SecmasterError(f"{p}: already exists; refusing to overwrite it") from None
    except OSError as exc:
        raise SecmasterError(f"{p}: cannot create: {exc.strerror}") from None
    try:
        conn = sqlite3.connect(p)
        try:
            conn.executescript(schema_sql())
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        finally:
            conn.close()
        if version != SCHEMA_VERSION:
            raise SecmasterError(f"{p}: schema script set user_version {version}, expected 1")
    except BaseException:
        remove_db_files(p)
        raise
    return p


def remove_db_files(path: str | os.PathLike[str]) -> None:
    """Remove a database file and any journal/WAL sidecars SQLite may have left."""
    for suffix in ("", "-journal", "-wal", "-shm"):
        try:
            os.remove(f"{os.fspath(path)}{suffix}")
        except FileNotFoundError:
            pass


def open_secmaster(path: str | os.PathLike[str], readonly: bool = True) -> sqlite3.Connection:
    """Open an existing secmaster (autocommit mode: callers BEGIN explicitly) after checking it."""
    p = Path(path)
    if not p.exists():
        raise SecmasterError(f"{p}: no such secmaster database")
    if p.is_dir():
        raise SecmasterError(f"{p}: is a directory, not a secmaster database")
    uri = p.absolute().as_uri() + ("?mode=ro" if readonly else "?mode=rw")
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise SecmasterError(f"{p}: cannot open: {exc}") from None
    try:
        check_secmaster(conn, p)
        if not readonly:
            conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def check_secmaster(conn: sqlite3.Connection, path: str | os.PathLike[str]) -> None:
    """Raise SecmasterError naming `path` unless the file has schema v1's version and tables."""
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    except sqlite3.DatabaseError as exc:
        raise SecmasterError(f"{path}: not a secmaster database ({exc})") from None
    if version != SCHEMA_VERSION:
        what = "no schema version" if version == 0 else f"schema version {version}"
        raise SecmasterError(f"{path}: not a secmaster database ({what}; expected version 1)")
    missing = sorted(set(_REQUIRED) - tables)
    if missing:
        raise SecmasterError(
            f"{path}: not a secmaster database (missing tables: {', '.join(missing)})"
        )
    for table, needed in _REQUIRED.items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        lacking = sorted(needed - have)
        if lacking:
            raise SecmasterError(
                f"{path}: not a secmaster database (table {table} lacks {', '.join(lacking)})"
            )


# --- dates ---------------------------------------------------------------------------------------


def date_to_ns(date: str) -> int:
    """Start of a UTC calendar date (YYYY-MM-DD) in ns, clamped to int64 (9999-12-31 overflows)."""
    days = (_dt.date.fromisoformat(date) - _EPOCH).days
    return min(days * NS_PER_DAY, INT64_MAX)


def ns_to_date(ts_ns: int) -> str:
    """The UTC calendar date of a timestamp, as SQLite's date(ts / 1e9, 'unixepoch') gives it."""
    return (_EPOCH + _dt.timedelta(days=ts_ns // NS_PER_DAY)).isoformat()


def ns_to_iso(ts_ns: int) -> str:
    """Human-readable UTC time of a timestamp, for messages and summaries."""
    secs, ns = divmod(ts_ns, 1_000_000_000)
    t = _dt.datetime(1970, 1, 1) + _dt.timedelta(seconds=secs)
    frac = f".{ns:09d}".rstrip("0").rstrip(".") if ns else ""
    return t.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"


# --- queries -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Publisher:
    publisher_id: int
    name: str
    dataset: str
    venue: str | None


@dataclass(frozen=True, slots=True)
class Segment:
    """One symbology row resolved to an ohlcv instrument, with its dates as a ns range."""

    symbol: str
    symbol_type: str
    instrument_id: int
    source_instrument_id: int
    start_date: str
    end_date: str
    start_ns: int  # inclusive
    end_ns: int  # exclusive (clamped to int64)


@dataclass(frozen=True, slots=True)
class SymbolCoverage:
    symbol: str
    rtype: int
    bars: int
    min_ts: int
    max_ts: int


def list_publishers(conn: sqlite3.Connection) -> list[Publisher]:
    rows = conn.execute(
        "SELECT publisher_id, name, dataset, venue FROM publishers ORDER BY name, dataset"
    )
    return [Publisher(*r) for r in rows]


def list_datasets(conn: sqlite3.Connection, publisher_name: str | None = None) -> list[str]:
    """Datasets of one publisher (or of all), sorted."""
    if publisher_name is None:
        rows = conn.execute("SELECT DISTINCT dataset FROM publishers ORDER BY dataset")
    else:
        rows = conn.execute(
            "SELECT dataset FROM publishers WHERE name = ? ORDER BY dataset", (publisher_name,)
        )
    return [r[0] for r in rows]


def get_publisher_id(conn: sqlite3.Connection, publisher_name: str, dataset: str) -> int | None:
    row = conn.execute(
        "SELECT publisher_id FROM publishers WHERE name = ? AND dataset = ?",
        (publisher_name, dataset),
    ).fetchone()
    return None if row is None else int(row[0])


def require_publisher_id(conn: sqlite3.Connection, publisher_name: str, dataset: str) -> int:
    """The publisher id, or a SecmasterError that lists what is there."""
    pid = get_publisher_id(conn, publisher_name, dataset)
    if pid is None:
        available = ", ".join(f"{p.name}/{p.dataset}" for p in list_publishers(conn)) or "none"
        raise SecmasterError(
            f"no publisher {publisher_name!r} with dataset {dataset!r} "
            f"(available publisher/dataset: {available})"
        )
    return pid


def list_symbol_types(conn: sqlite3.Connection, publisher_id: int) -> list[str]:
    rows = conn.execute(
        "SELECT DISTINCT symbol_type FROM symbology WHERE publisher_ref = ? ORDER BY symbol_type",
        (publisher_id,),
    )
    return [r[0] for r in rows]


def symbol_segments(
    conn: sqlite3.Connection,
    publisher_id: int,
    symbol_type: str | None,
    symbols: Iterable[str] | None = None,
) -> list[Segment]:
    """Symbology rows (of one symbol type, or all if None) joined to their instruments.

    Sorted by (symbol, start_date). Rows whose instrument is absent are skipped: they can have
    no bars.
    """
    sql = (
        "SELECT s.symbol, s.symbol_type, i.instrument_id, s.source_instrument_id,"
        " s.start_date, s.end_date"
        " FROM symbology s JOIN instruments i"
        " ON i.publisher_ref = s.publisher_ref AND i.source_instrument_id = s.source_instrument_id"
        " WHERE s.publisher_ref = ?"
    )
    params: list[object] = [publisher_id]
    if symbol_type is not None:
        sql += " AND s.symbol_type = ?"
        params.append(symbol_type)
    wanted = None if symbols is None else set(symbols)
    out = []
    for sym, stype, iid, sid, start, end in conn.execute(sql + " ORDER BY s.symbol, s.start_date", params):
        if wanted is not None and sym not in wanted:
            continue
        try:
            start_ns, end_ns = date_to_ns(start), date_to_ns(end)
        except ValueError:
            raise SecmasterError(
                f"symbology row for {sym!r} has a malformed date range [{start}, {end})"
            ) from None
        out.append(Segment(sym, stype, iid, sid, start, end, start_ns, end_ns))
    return out


def segment_has_bars(
    conn: sqlite3.Connection, seg: Segment, rtype: int, lo: int = 0, hi: int = INT64_MAX
) -> bool:
    """Whether the segment has a bar of `rtype` within [lo, hi] (a PK seek, not a scan)."""
    lo, hi = max(lo, seg.start_ns), min(hi, seg.end_ns - 1)
    if lo > hi:
        return False
    row = conn.execute(
        "SELECT 1 FROM ohlcv WHERE instrument_id = ? AND rtype = ? AND ts_event BETWEEN ? AND ?"
        " LIMIT 1",
        (seg.instrument_id, rtype, lo, hi),
    ).fetchone()
    return row is not None


def segment_span(
    conn: sqlite3.Connection, seg: Segment, rtype: int, count: bool = False
) -> tuple[int, int, int] | None:
    """(bars, min_ts, max_ts) of the segment's bars of `rtype`, or None if it has none.

    min/max are PK seeks; `count=True` adds a range scan of the segment's bars.
    """
    bounds = (seg.instrument_id, rtype, seg.start_ns, seg.end_ns - 1)
    where = "WHERE instrument_id = ? AND rtype = ? AND ts_event BETWEEN ? AND ?"
    lo = conn.execute(f"SELECT ts_event FROM ohlcv {where} ORDER BY ts_event LIMIT 1", bounds).fetchone()
    if lo is None:
        return None
    hi = conn.execute(
        f"SELECT ts_event FROM ohlcv {where} ORDER BY ts_event DESC LIMIT 1", bounds
    ).fetchone()
    n = conn.execute(f"SELECT COUNT(*) FROM ohlcv {where}", bounds).fetchone()[0] if count else 0
    return int(n), int(lo[0]), int(hi[0])


def list_symbols(
    conn: sqlite3.Connection,
    publisher_name: str,
    dataset: str,
    symbol_type: str = "raw_symbol",
    rtype: int | None = None,
) -> list[str]:
    """Symbols of a dataset (sorted); with `rtype`, only those that have bars of that type."""
    pid = require_publisher_id(conn, publisher_name, dataset)
    segs = symbol_segments(conn, pid, symbol_type)
    if rtype is None:
        return sorted({s.symbol for s in segs})
    return sorted({s.symbol for s in segs if segment_has_bars(conn, s, rtype)})


def coverage(
    conn: sqlite3.Connection,
    publisher_name: str,
    dataset: str,
    symbol_type: str = "raw_symbol",
    symbols: Sequence[str] | None = None,
    rtype: int | None = None,
    count: bool = True,
) -> list[SymbolCoverage]:
    """Per (symbol, rtype): number of bars (if `count`) and first/last ts_event, via symbology."""
    pid = require_publisher_id(conn, publisher_name, dataset)
    acc: dict[tuple[str, int], list[int]] = {}
    for seg in symbol_segments(conn, pid, symbol_type, symbols):
        for rt in RTYPES if rtype is None else (rtype,):
            span = segment_span(conn, seg, rt, count=count)
            if span is None:
                continue
            n, lo, hi = span
            cur = acc.get((seg.symbol, rt))
            if cur is None:
                acc[(seg.symbol, rt)] = [n, lo, hi]
            else:
                cur[0] += n
                cur[1] = min(cur[1], lo)
                cur[2] = max(cur[2], hi)
    return [SymbolCoverage(s, rt, *v) for (s, rt), v in sorted(acc.items())]


def rebuild_symbol_coverage(conn: sqlite3.Connection, publisher_id: int) -> None:
    """Recompute symbol_coverage for a publisher (bars clipped to each symbology segment).

    Works on both table shapes: with symbol_type (0.75) and without it (0.68). Call inside the
    caller's transaction.
    """
    has_type = any(
        r[1] == "symbol_type" for r in conn.execute("PRAGMA table_info(symbol_coverage)")
    )
    acc: dict[tuple[str, str, int], tuple[int, int]] = {}
    for seg in symbol_segments(conn, publisher_id, None):
        for rt in RTYPES:
            span = segment_span(conn, seg, rt)
            if span is None:
                continue
            key = (seg.symbol, seg.symbol_type if has_type else "", rt)
            old = acc.get(key)
            acc[key] = (span[1], span[2]) if old is None else (min(old[0], span[1]), max(old[1], span[2]))
    conn.execute("DELETE FROM symbol_coverage WHERE publisher_id = ?", (publisher_id,))
    if has_type:
        conn.executemany(
            "INSERT INTO symbol_coverage (publisher_id, symbol, symbol_type, rtype, min_ts, max_ts)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(publisher_id, s, t, rt, lo, hi) for (s, t, rt), (lo, hi) in sorted(acc.items())],
        )
    else:
        conn.executemany(
            "INSERT INTO symbol_coverage (publisher_id, symbol, rtype, min_ts, max_ts)"
            " VALUES (?, ?, ?, ?, ?)",
            [(publisher_id, s, rt, lo, hi) for (s, _, rt), (lo, hi) in sorted(acc.items())],
        )
