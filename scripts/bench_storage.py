#!/usr/bin/env python3
"""What storing a strategy's per-bar records costs: today's rows against compact chunks.

    python scripts/bench_storage.py                 # 100,000 BarProcessed of 10 symbols, 3 trials
    python scripts/bench_storage.py --bars 1000000 --trials 1

Both paths start from the same BarProcessed events (two indicators each, as SMA-X's) and end with
them committed in a fresh runs.db; CPU seconds of the process (time.process_time) and bytes per
bar (database and WAL) are printed per trial:

  rows    the recorder's path at `--record all`: one bars_processed row per event (the recorder's
          compiled row function, indicators as JSON), inserted in blocks of 256 rows per statement
  chunks  a compact layout the recorder does not have yet: one row per (strategy, symbol) and
          block of up to 4,096 bars, each column a packed array (int64 times and volumes, float64
          prices, the indicators as one float64 array in name order)

The gap between the two is what the per-bar record costs beyond its information: the design change
the README's Performance section names (a chunk table with onesecondtrader's row layout produced from it
for the readers that need rows).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import tempfile
import time
from array import array
from collections.abc import Callable
from itertools import chain
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components import events as ev  # noqa: E402
from components.models import BarPeriod  # noqa: E402
from components.strategy_bars import _build_bar_processed  # noqa: E402
from recorder import runsdb  # noqa: E402
from recorder.recorder import _row_function  # noqa: E402

RUN = "bench"
CHUNK = 4096
BLOCK = 256
_CHUNKS = """CREATE TABLE chunks (run_id TEXT, strategy_id TEXT, symbol TEXT, n INTEGER, ts BLOB, created BLOB,
    open BLOB, high BLOB, low BLOB, close BLOB, volume BLOB, indicator_names TEXT, indicators BLOB)"""


def make_events(n: int, symbols: int, seed: int) -> list[ev.BarProcessed]:
    rnd = random.Random(seed)
    return [
        _build_bar_processed(1_700_000_000_000_000_000 + (i // symbols) * 60_000_000_000, f"SYM{i % symbols:03d}",
                             BarPeriod.MINUTE, 100.0 + rnd.random(), 101.0, 99.0, 100.5, 1000 + i, "SMA-X",
                             {"SMA_10_CLOSE": 100 + rnd.random(), "SMA_30_CLOSE": 100 + rnd.random()})
        for i in range(n)
    ]


def fresh(path: Path) -> sqlite3.Connection:
    for f in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        f.unlink(missing_ok=True)
    conn = runsdb.connect(path)
    conn.execute("INSERT INTO runs(run_id, name, ts_start, status) VALUES (?, 'bench', 0, 'running')", (RUN,))
    conn.execute(_CHUNKS)
    return conn


def store_rows(conn: sqlite3.Connection, events: list[ev.BarProcessed]) -> None:
    row = _row_function(ev.BarProcessed)
    values = f"('{RUN}', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    head = ("INSERT INTO bars_processed (run_id, ts_event_ns, ts_created_ns, symbol, bar_period, open, high, low,"
            " close, volume, indicators, strategy_id) VALUES ")
    block = head + ", ".join([values] * BLOCK)
    with conn:
        conn.execute("BEGIN")
        rows = list(map(row, events))
        whole = len(rows) - len(rows) % BLOCK
        execute = conn.cursor().execute
        for i in range(0, whole, BLOCK):
            execute(block, list(chain.from_iterable(rows[i:i + BLOCK])))
        conn.executemany(head + values, rows[whole:])


def store_chunks(conn: sqlite3.Connection, events: list[ev.BarProcessed]) -> None:
    by_symbol: dict[str, list[ev.BarProcessed]] = {}
    for e in events:
        by_symbol.setdefault(e.symbol, []).append(e)
    with conn:
        conn.execute("BEGIN")
        for symbol, evs in by_symbol.items():
            for j in range(0, len(evs), CHUNK):
                part = evs[j:j + CHUNK]
                names = tuple(part[0].indicators)
                conn.execute(
                    "INSERT INTO chunks VALUES (?, 'SMA-X', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (RUN, symbol, len(part),
                     array("q", [e.ts_event_ns for e in part]).tobytes(),
                     array("q", [e.ts_created_ns for e in part]).tobytes(),
                     array("d", [e.open for e in part]).tobytes(), array("d", [e.high for e in part]).tobytes(),
                     array("d", [e.low for e in part]).tobytes(), array("d", [e.close for e in part]).tobytes(),
                     array("q", [-1 if e.volume is None else e.volume for e in part]).tobytes(),  # -1: no volume
                     ",".join(names),
                     array("d", [v for e in part for v in e.indicators.values()]).tobytes()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bars", type=int, default=100_000, help="BarProcessed events (default 100,000)")
    p.add_argument("--symbols", type=int, default=10)
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args(argv)
    if a.bars < 1 or a.symbols < 1 or a.trials < 1:
        p.error("--bars, --symbols and --trials must be >= 1")
    events = make_events(a.bars, a.symbols, a.seed)
    paths: list[tuple[str, Callable[[sqlite3.Connection, list[ev.BarProcessed]], None]]] = [
        ("rows", store_rows), ("chunks", store_chunks)]
    with tempfile.TemporaryDirectory(prefix="tickbus-bench-storage-") as work:
        db = Path(work) / "runs.db"
        for trial in range(1, a.trials + 1):
            for name, store in paths:
                conn = fresh(db)
                t0 = time.process_time()
                store(conn, events)
                cpu = time.process_time() - t0
                conn.close()
                size = sum(f.stat().st_size for f in (db, Path(f"{db}-wal")) if f.exists())
                print(f"trial {trial}  {name:6s}  {cpu:6.3f} s CPU  {cpu / a.bars * 1e6:5.2f} us/bar"
                      f"  {size / a.bars:5.0f} B/bar", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
