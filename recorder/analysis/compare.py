"""Did two runs record the same events? Table by table, wall-clock columns aside.

Rows are compared in a canonical order (sorted by every compared column, market time first),
because rows of different strategies at the same market time may be written in either order;
both sides are streamed in step, so two 1M-bar runs compare without holding either in memory.
The recorder writes each table in market-time order, so rows are read in rowid order (sequential
reads) and only rows of equal market time are sorted; a table out of that order falls back to
the database's sort.
Tables a run's record level does not keep (recorder/tables.py) are not compared, and say so.
The first difference per table names its row (in canonical order), market time, and the columns
that differ, or which run has rows the other lacks.
"""

from __future__ import annotations

import itertools
from contextlib import nullcontext
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from recorder.analysis.catalog import RunInfo, count_rows, get_run
from recorder.analysis.load import CHUNK_ROWS, snapshot
from recorder.analysis.timefmt import iso_ns
from recorder.layout import keeps
from recorder.tables import TABLES, WALL_CLOCK_COLUMNS, columns

#: Identifying columns shown with a difference (when the table has them).
_KEYS = ("ts_event_ns", "strategy_id", "symbol", "system_order_id", "associated_order_id")


def compared_columns() -> dict[str, tuple[str, ...]]:
    """Table -> columns compared (market time first)."""
    out = {}
    for cls, table in TABLES.items():
        cols = [c for c in columns(cls) if c not in WALL_CLOCK_COLUMNS]
        cols.sort(key=lambda c: c != "ts_event_ns")
        out[table] = tuple(cols)
    return out


@dataclass(frozen=True)
class TableComparison:
    table: str
    rows_a: int
    rows_b: int
    difference: str | None  # None: identical (or not compared)
    not_compared: str | None = None  # why: a run's record level does not keep this table

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "rows_a": self.rows_a, "rows_b": self.rows_b,
                "identical": self.difference is None, "difference": self.difference, "not_compared": self.not_compared}


def _unrecorded(table: str, info_a: RunInfo, info_b: RunInfo) -> str | None:
    """Why `table` cannot be compared: a run's record level does not keep it."""
    lacking = [f"run {x} recorded at level {i.record_level}" for x, i in (("A", info_a), ("B", info_b))
               if not keeps(i.record_level, table)]
    return " and ".join(lacking) or None


@dataclass(frozen=True)
class Comparison:
    run_a: RunInfo
    run_b: RunInfo
    tables: list[TableComparison] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return all(t.difference is None for t in self.tables)

    def to_dict(self) -> dict[str, Any]:
        return {"run_a": self.run_a.run_id, "run_b": self.run_b.run_id, "identical": self.identical,
                "tables": [t.to_dict() for t in self.tables]}


class _Unordered(Exception):
    """Rows are not in market-time order on disk: use the database's sort instead."""


def _null_first(row: tuple[Any, ...]) -> tuple[tuple[bool, Any], ...]:
    # SQLite's ORDER BY puts NULL first; Python cannot compare None with a number.
    return tuple((v is not None, v) for v in row)


def _sort(group: list[tuple[Any, ...]]) -> None:
    """Sort rows NULL-first. A plain sort that never had to compare None with a value made only
    comparisons the NULL-first order agrees with, so it gives the same order, much faster."""
    if len(group) > 1:
        try:
            group.sort()
        except TypeError:
            group.sort(key=_null_first)


def _rows_fast(conn: sqlite3.Connection, table: str, cols: tuple[str, ...], run_id: str) -> Iterator[tuple[Any, ...]]:
    """Canonical order without a database sort: the recorder writes each table in market-time
    order, so read by rowid (sequential) and sort each group of equal market time (a few rows).
    Raises _Unordered at the first row whose time goes back."""
    lo, hi = conn.execute(f"SELECT MIN(id), MAX(id) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()
    if lo is None:
        return
    cur = conn.execute(
        f"SELECT {', '.join(cols)} FROM {table} WHERE id BETWEEN ? AND ? AND +run_id = ? ORDER BY id", (lo, hi, run_id)
    )
    group: list[tuple[Any, ...]] = []
    ts = None
    while chunk := cur.fetchmany(CHUNK_ROWS):
        for row in chunk:
            if row[0] != ts:
                if ts is not None and row[0] < ts:
                    raise _Unordered(table)
                _sort(group)
                yield from group
                group, ts = [], row[0]
            group.append(row)
    _sort(group)
    yield from group


def _rows_sorted(conn: sqlite3.Connection, table: str, cols: tuple[str, ...], run_id: str) -> Iterator[tuple[Any, ...]]:
    """Canonical order by the database's sort (any row order on disk; slower)."""
    cur = conn.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE run_id = ? ORDER BY {', '.join(cols)}", (run_id,))
    while chunk := cur.fetchmany(CHUNK_ROWS):
        yield from chunk


def _where(cols: tuple[str, ...], row: tuple[Any, ...]) -> str:
    parts = []
    for key in _KEYS:
        if key in cols:
            value = row[cols.index(key)]
            parts.append(iso_ns(value) if key == "ts_event_ns" else f"{key} {value}")
    return ", ".join(parts)


def _first_difference(cols: tuple[str, ...], a: Iterator[tuple[Any, ...]], b: Iterator[tuple[Any, ...]]) -> str | None:
    for n, (ra, rb) in enumerate(itertools.zip_longest(a, b), 1):
        if ra == rb:
            continue
        if ra is None or rb is None:
            which, row = ("B", rb) if ra is None else ("A", ra)
            return f"row {n:,}: only run {which} has it ({_where(cols, row)})"
        diffs = [f"{c} {x!r} vs {y!r}" for c, x, y in zip(cols, ra, rb) if x != y]
        return f"row {n:,} ({_where(cols, ra)}): {'; '.join(diffs)}"
    return None


def compare_runs(conn_a: sqlite3.Connection, run_a: str, conn_b: sqlite3.Connection, run_b: str) -> Comparison:
    """Compare every event table of run_a (in conn_a) with run_b (in conn_b; may be conn_a)."""
    info_a, info_b = get_run(conn_a, run_a), get_run(conn_b, run_b)
    result = Comparison(info_a, info_b)
    same_conn = conn_a is conn_b
    with snapshot(conn_a):
        with nullcontext() if same_conn else snapshot(conn_b):
            for table, cols in compared_columns().items():
                skipped = _unrecorded(table, info_a, info_b)
                if skipped:
                    result.tables.append(TableComparison(table, count_rows(conn_a, table, info_a.run_id),
                                                         count_rows(conn_b, table, info_b.run_id), None, skipped))
                    continue
                n_a = conn_a.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = ?", (info_a.run_id,)).fetchone()[0]
                n_b = conn_b.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = ?", (info_b.run_id,)).fetchone()[0]
                try:
                    it_a, it_b = _rows_fast(conn_a, table, cols, info_a.run_id), _rows_fast(conn_b, table, cols, info_b.run_id)
                    diff = _first_difference(cols, it_a, it_b)
                    if diff is not None:  # trust it only if both tables turn out to be in time order
                        for _ in itertools.chain(it_a, it_b):
                            pass
                except _Unordered:
                    diff = _first_difference(
                        cols, _rows_sorted(conn_a, table, cols, info_a.run_id), _rows_sorted(conn_b, table, cols, info_b.run_id)
                    )
                result.tables.append(TableComparison(table, n_a, n_b, diff))
    return result

