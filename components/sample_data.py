"""Deterministic sample market data (no network): the demo's and the tests' secmaster.

One generator feeds both outputs, the CSV (also the SMA-X benchmark's data, scripts/gen_bars.py:
the same bytes for equal arguments, so every engine reads the same data) and the secmaster
(written through the same BarWriter as the CSV importer, so importing the CSV gives an identical
database).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from components.models import BarPeriod
from components.secmaster.db import SecmasterError, get_publisher_id, open_secmaster
from components.secmaster.writer import BarImportError, BarWriter

SAMPLE_PUBLISHER = "tickbus"
SAMPLE_DATASET = "SAMPLE"
SAMPLE_SYMBOL_TYPE = "raw_symbol"
SAMPLE_BAR_PERIOD = BarPeriod.MINUTE

START_NS = 1_704_196_800_000_000_000  # 2024-01-02 12:00:00 UTC
MINUTE_NS = 60_000_000_000
CSV_HEADER = "ts_event_ns,symbol,open,high,low,close,volume"

SampleRow = tuple[int, str, str, str, str, str, int]


def sample_symbol(k: int) -> str:
    return f"SYM{k:03d}"


def sample_series(
    symbols: int, bars: int, seed: int
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """symbol -> (open, high, low, close, volume): a log-normal random walk per symbol.

    Each bar opens at the previous close; wicks extend a random fraction beyond the body;
    prices are rounded to 0.01. Same arguments, same numbers, on every machine.
    """
    if symbols < 1 or bars < 1:
        raise ValueError("symbols and bars must be at least 1")
    rng = np.random.default_rng(seed)
    out = {}
    for k in range(symbols):
        ret = rng.normal(0.0, 0.001, bars)
        close = np.round(100.0 * (1 + k * 0.1) * np.exp(np.cumsum(ret)), 2)
        open_ = np.round(np.concatenate([[close[0]], close[:-1]]), 2)
        wick = np.abs(rng.normal(0.0, 0.0005, (2, bars)))
        high = np.round(np.maximum(open_, close) * (1 + wick[0]), 2)
        low = np.round(np.minimum(open_, close) * (1 - wick[1]), 2)
        vol = rng.integers(100, 10_000, bars)
        out[sample_symbol(k)] = (open_, high, low, close, vol)
    return out


def iter_sample_rows(symbols: int, bars: int, seed: int) -> Iterator[SampleRow]:
    """(ts_event_ns, symbol, open, high, low, close, volume) in (ts, symbol) order.

    Prices are the 2-decimal strings written to the CSV, so every consumer sees the same
    decimals.
    """
    data = sample_series(symbols, bars, seed)
    names = sorted(data)
    cols = [tuple(a.tolist() for a in data[s]) for s in names]
    for i in range(bars):
        ts = START_NS + i * MINUTE_NS
        for s, (o, h, l, c, v) in zip(names, cols):
            yield ts, s, f"{o[i]:.2f}", f"{h[i]:.2f}", f"{l[i]:.2f}", f"{c[i]:.2f}", int(v[i])


def write_sample_csv(
    path: str | os.PathLike[str], symbols: int = 4, bars: int = 3000, seed: int = 7
) -> Path:
    """Write the sample as CSV (columns ts_event_ns,symbol,open,high,low,close,volume)."""
    p = Path(path)
    with open(p, "w", encoding="utf-8", newline="") as f:
        f.write(CSV_HEADER + "\n")
        for ts, s, o, h, l, c, v in iter_sample_rows(symbols, bars, seed):
            f.write(f"{ts},{s},{o},{h},{l},{c},{v}\n")
    return p


def _fixed(text: str) -> int:
    # Exactly the CSV importer's conversion, so both paths store the same integers.
    return round(float(text) * 1e9)


def _digest(rows: Iterator[tuple[object, ...]]) -> tuple[int, str]:
    h = hashlib.sha256()
    n = 0
    for r in rows:
        h.update(repr(r).encode())
        n += 1
    return n, h.hexdigest()


def _expected_digest(symbols: int, bars: int, seed: int) -> tuple[int, str]:
    rows = sorted(
        (s, ts, _fixed(o), _fixed(h), _fixed(l), _fixed(c), v)
        for ts, s, o, h, l, c, v in iter_sample_rows(symbols, bars, seed)
    )
    return _digest(iter(rows))


def _db_digest(path: Path) -> tuple[int, str] | None:
    """Digest of the SAMPLE bars already in `path`, or None if it has no SAMPLE publisher."""
    conn = open_secmaster(path, readonly=True)
    try:
        pid = get_publisher_id(conn, SAMPLE_PUBLISHER, SAMPLE_DATASET)
        if pid is None:
            return None
        rows = conn.execute(
            "SELECT i.symbol, o.ts_event, o.open, o.high, o.low, o.close, o.volume"
            " FROM instruments i JOIN ohlcv o ON o.instrument_id = i.instrument_id"
            " WHERE i.publisher_ref = ? AND o.rtype = ? ORDER BY i.symbol, o.ts_event",
            (pid, SAMPLE_BAR_PERIOD.rtype),
        )
        return _digest(iter(rows))
    finally:
        conn.close()


def build_sample_secmaster(
    path: str | os.PathLike[str], symbols: int = 4, bars: int = 3000, seed: int = 7
) -> Path:
    """Create (or add to) a secmaster holding the sample as publisher tickbus, dataset SAMPLE.

    Idempotent: if `path` already holds exactly this sample, nothing is written. If it holds a
    different SAMPLE data set, raises SecmasterError rather than mixing the two.
    """
    p = Path(path)
    if p.exists():
        existing = _db_digest(p)
        if existing is not None:
            if existing == _expected_digest(symbols, bars, seed):
                return p
            raise SecmasterError(
                f"{p}: already holds a different {SAMPLE_PUBLISHER}/{SAMPLE_DATASET} sample"
                f" (not {symbols} symbols x {bars} bars, seed {seed}); remove it or use another path"
            )
    source = f"sample(symbols={symbols}, bars={bars}, seed={seed})"
    try:
        with BarWriter(
            p, SAMPLE_PUBLISHER, SAMPLE_DATASET, SAMPLE_SYMBOL_TYPE, SAMPLE_BAR_PERIOD.rtype, source
        ) as w:
            ids: dict[str, int] = {}
            for line, (ts, s, o, h, l, c, v) in enumerate(iter_sample_rows(symbols, bars, seed), 2):
                iid = ids.get(s)
                if iid is None:
                    iid = ids[s] = w.instrument_for(s, line)
                w.add(line, iid, ts, _fixed(o), _fixed(h), _fixed(l), _fixed(c), v)
            w.commit()
    except BarImportError as exc:  # pragma: no cover - the generator only makes valid bars
        raise SecmasterError(f"{p}: could not write the sample: {exc.message}") from exc
    except sqlite3.Error as exc:
        raise SecmasterError(f"{p}: could not write the sample: {exc}") from exc
    return p
