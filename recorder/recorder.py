"""RunRecorder: writes every event of a run to runs.db.

It is a raw component: the wire record of an event is its field values in dataclass order, which
is also the column order of its table, so a message becomes rows without building event objects.
Rows are buffered and written in one transaction when 20,000 are waiting, at least once a second
of wall time, and at stop, so a crash loses at most about a second of events. (Fewer, larger
transactions cost less CPU per row: each commit rewrites the partly filled table and index pages.)
The run id is a literal in each table's INSERT, so a row is the record itself, not a new tuple.

The database must stay the file the run started in: before every write the recorder checks that
its path still names that file (not deleted, not replaced), and a database that fails under it
(read-only, full, locked past its timeout) ends it with a StorageError, a failure of kind
`storage` (bus/run_contract.py). Once stopped it confirms what it stored (recorder/confirm.py).
A recorder whose orchestrator died (it is then stopped by the parent-death signal) marks the
run `failed` itself, after its last write: a run row never stays `running` with nobody running it.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import msgpack

from bus import run_contract as RC
from bus.run_contract import PARENT_PID_ENV
from components import codec
from components import events as ev
from components.component import Component
from recorder import confirm, runsdb, tables
from recorder.jsonfast import indicators_json

BATCH_SIZE = 20_000
_ROWS_PER_BLOCK = 256  # rows per multi-row INSERT (fewer if SQLite allows fewer variables)
# What a row's values can make SQLite refuse (not I/O errors: those end the recorder, loudly).
_UNSTORABLE = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError, OverflowError, TypeError, ValueError)
FLUSH_INTERVAL_S = 1.0


class StorageError(Exception):
    """The runs database failed under the recorder (a failure of kind `storage`)."""

    failure_kind = RC.STORAGE


class _Table:
    """One event table's insert, its rows waiting for the next write, and (in-process) the events
    waiting to become rows: kept as they come and turned into rows in one pass when written."""

    __slots__ = ("name", "sql", "width", "json_index", "sid_index", "rows", "events", "row", "_blocks")

    def __init__(self, cls: type[ev.EventBase], run_id: str) -> None:
        cols = tables.columns(cls)
        self.name = cls.__name__
        self.sql = tables.insert_sql(cls, run_id)
        self.width = len(cols)
        self.json_index = cols.index("indicators") if "indicators" in cols else -1
        self.sid_index = cols.index("strategy_id") if "strategy_id" in cols else -1
        self.rows: list[Sequence[Any]] = []
        self.events: list[ev.EventBase] = []
        self.row = _row_function(cls)
        self._blocks: tuple[int, str] | None = None  # (rows per statement, its INSERT), once connected

    def insert(self, conn: sqlite3.Connection) -> None:
        """Insert the waiting rows, in order: blocks of rows per statement (`INSERT ... VALUES
        (...), (...), ...`: SQLite prepares, runs and resets one statement per block, not per
        row; ~15% less CPU per row), the rest one statement each."""
        if self._blocks is None:
            per = min(_ROWS_PER_BLOCK, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // self.width)
            head, _, values = self.sql.partition(" VALUES ")
            self._blocks = (per, f"{head} VALUES {', '.join([values] * per)}") if per > 1 else (0, "")
        per, sql = self._blocks
        rows = self.rows
        whole = len(rows) - len(rows) % per if per else 0
        if whole:
            execute = conn.cursor().execute
            flat = chain.from_iterable
            for i in range(0, whole, per):
                execute(sql, list(flat(rows[i:i + per])))
        if whole < len(rows):
            conn.executemany(self.sql, rows[whole:] if whole else rows)

    def take_events(self) -> None:
        """The waiting events become rows, after the rows already waiting (arrival order)."""
        if self.events:
            self.rows.extend(map(self.row, self.events))
            self.events = []


def _row_function(cls: type[ev.EventBase]) -> Callable[[ev.EventBase], tuple[Any, ...]]:
    """`row(event)`: the event's row, the values its wire record has (enums by name), the
    indicators as JSON text; compiled once per table as one tuple display."""
    parts = []
    for name, source in zip(tables.columns(cls), codec.field_encoders(cls)):
        value = source.format(v=f"e.{name}")
        parts.append(f"json({value})" if name == "indicators" else value)
    env: dict[str, Any] = {"json": indicators_json}
    exec(compile(f"def row(e):\n    return ({', '.join(parts)},)", f"<row {cls.__name__}>", "exec"), env)
    return env["row"]  # type: ignore[no-any-return]


class RunRecorder(Component):
    """Configured by class attributes, like every component: `db_path`, `run_id` and `record_level`
    (the record level, recorder/tables.py: which event types it subscribes to and stores)."""

    component_id = "recorder"
    wants_raw = True
    db_path: str = "runs.db"
    run_id: str = ""
    record_level: str = "all"
    #: Seconds a write waits for another process's lock on the database before it fails the run.
    busy_timeout: float = 30.0

    def __init__(self) -> None:
        super().__init__()
        if not self.run_id:
            raise ValueError("RunRecorder.run_id is not set")
        if "\0" in self.run_id:  # it is a literal in the INSERT statements
            raise ValueError("RunRecorder.run_id contains a NUL character")
        self._conn: sqlite3.Connection | None = None
        self._tables = {cls.__name__: _Table(cls, self.run_id) for cls in tables.recorded(self.record_level)}
        self._buffered = 0
        self._last_flush = time.monotonic()
        self._identity: tuple[int, int] | None = None  # (device, inode) of the runs database
        self.recorded = 0
        self.malformed = 0

    def subscriptions(self) -> list[str]:
        kept = tables.recorded(self.record_level)
        prefixes = [codec.FEED_TOPIC] if ev.BarReceived in kept else []
        prefixes += [codec.type_prefix(cls) for cls in kept if cls is not ev.BarReceived]
        return prefixes

    def start(self) -> None:
        self._conn = runsdb.connect(Path(self.db_path), create=False, timeout=self.busy_timeout)
        self._identity = confirm.file_identity(self.db_path)
        row = self._conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (self.run_id,)).fetchone()
        if row is None:
            raise ValueError(f"{self.db_path}: run {self.run_id!r} is not registered")

    def on_raw(self, topic: str, payload: bytes) -> None:
        table = self._tables.get(topic.split(".", 1)[0])
        try:
            records = msgpack.unpackb(payload, raw=False)
            if table is None or type(records) is not list:
                raise ValueError("unknown event type" if table is None else "payload is not an array")
            width, ji, si = table.width, table.json_index, table.sid_index
            route = topic.split(".", 2)[1]  # the strategy the topic belongs to (its publisher's rights)
            for rec in records:
                if type(rec) is not list or len(rec) != width:
                    raise ValueError(f"record of {len(rec) if isinstance(rec, list) else '?'} fields, expected {width}")
                if si >= 0 and route and rec[si] != route:
                    raise ValueError(f"an event of strategy {rec[si]!r} on strategy {route!r}'s topic")
            if ji >= 0:
                for rec in records:
                    rec[ji] = indicators_json(rec[ji])
        except Exception as exc:  # a malformed frame is reported and dropped, never fatal
            self.malformed += 1
            print(f"recorder: dropped message on {topic!r}: {exc}", file=sys.stderr)
            return
        self._add(table, records)

    def _add(self, table: _Table, rows: list[list[Any]]) -> None:
        table.take_events()
        table.rows.extend(rows)
        self._buffered += len(rows)
        if self._buffered >= BATCH_SIZE or time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def on_message(self, topic: str, events: Sequence[ev.EventBase]) -> None:
        """Already-decoded events (the in-process path): kept, and made rows when written (events
        are immutable, so a row made later is the row made now)."""
        if not events:
            return
        self._tables[type(events[0]).__name__].events.extend(events)
        self._buffered += len(events)
        if self._buffered >= BATCH_SIZE or time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def record(self, events: list[ev.EventBase]) -> None:
        for topic, batch in codec.group_by_topic(events):
            self.on_message(topic, batch)

    def tick(self) -> None:
        if self._buffered and time.monotonic() - self._last_flush >= FLUSH_INTERVAL_S:
            self.flush()

    def _check_file(self) -> None:
        """The path must still name the file the run started in."""
        try:
            identity = confirm.file_identity(self.db_path)
        except OSError:
            raise StorageError(f"{self.db_path} was deleted during the run: "
                               f"{self.recorded:,} events written to it are lost") from None
        if identity != self._identity:
            raise StorageError(f"{self.db_path} was replaced during the run: "
                               f"{self.recorded:,} events went to the file it replaced") from None

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._buffered or self._conn is None:
            return
        conn = self._conn
        self._check_file()
        for table in self._tables.values():
            table.take_events()
        full = [t for t in self._tables.values() if t.rows]
        try:
            with conn:
                conn.execute("BEGIN")
                for table in full:
                    table.insert(conn)
        except _UNSTORABLE:  # rolled back: one row SQLite cannot store must not cost the others
            self._store_row_by_row(full)
        except sqlite3.Error as exc:  # disk full, read-only, locked past the busy timeout
            raise StorageError(f"{self.db_path}: cannot write the run's events: {exc}") from None
        else:
            self.recorded += self._buffered
        for table in full:
            table.rows = []
        self._buffered = 0

    def _store_row_by_row(self, full: list[_Table]) -> None:
        """The slow path after a failed batch: store each row on its own, report and drop the bad
        ones (a well-formed frame can still carry a value no column takes, e.g. a huge int)."""
        conn = self._conn
        assert conn is not None
        with conn:
            conn.execute("BEGIN")
            for table in full:
                for row in table.rows:
                    try:
                        conn.execute(table.sql, row)
                        self.recorded += 1
                    except _UNSTORABLE as exc:
                        self.malformed += 1
                        print(f"recorder: dropped a {table.name} row: {exc}", file=sys.stderr)

    def stop(self) -> None:
        try:
            self.flush()
            if self._conn is not None and self.orphaned:
                self._mark_abandoned()
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def confirmation(self) -> dict[str, Any] | None:
        if self._identity is None:
            return None
        return confirm.confirmation(self.run_id, self.db_path, self._identity, self.recorded)

    def _mark_abandoned(self) -> None:
        assert self._conn is not None
        with self._conn:
            self._conn.execute(
                "UPDATE runs SET status = 'failed', ts_end = ?, error = ? WHERE run_id = ? AND status = 'running'",
                (time.time_ns(), f"the orchestrator (pid {os.environ.get(PARENT_PID_ENV)}) ended before the run did; "
                                 f"the recorder stored the {self.recorded:,} events it had", self.run_id))
