"""The built-in sample data: deterministic, valid, same content via CSV or direct build."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from components.sample_data import (
    CSV_HEADER,
    build_sample_secmaster,
    iter_sample_rows,
    write_sample_csv,
)
from components.secmaster import SecmasterError, import_csv

def dump(db: Path) -> str:
    c = sqlite3.connect(db)
    try:
        return "\n".join(c.iterdump())
    finally:
        c.close()


def test_same_seed_same_database(tmp_path: Path) -> None:
    a = build_sample_secmaster(tmp_path / "a.db", symbols=3, bars=200, seed=11)
    b = build_sample_secmaster(tmp_path / "b.db", symbols=3, bars=200, seed=11)
    c = build_sample_secmaster(tmp_path / "c.db", symbols=3, bars=200, seed=12)
    assert dump(a) == dump(b)
    assert dump(a) != dump(c)


def test_default_sample_is_idempotent(tmp_path: Path) -> None:
    p = tmp_path / "s.db"
    build_sample_secmaster(p)
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    assert build_sample_secmaster(p) == p
    assert hashlib.sha256(p.read_bytes()).hexdigest() == digest  # not rewritten
    c = sqlite3.connect(p)
    assert c.execute("SELECT name, dataset FROM publishers").fetchall() == [("tickbus", "SAMPLE")]
    assert c.execute("SELECT COUNT(*), COUNT(DISTINCT instrument_id) FROM ohlcv").fetchone() == (12_000, 4)
    assert {r[0] for r in c.execute("SELECT symbol_type FROM symbology")} == {"raw_symbol"}


def test_different_sample_in_existing_db_is_refused(tmp_path: Path) -> None:
    p = build_sample_secmaster(tmp_path / "s.db", symbols=2, bars=50)
    before = dump(p)
    with pytest.raises(SecmasterError, match="already holds a different tickbus/SAMPLE sample"):
        build_sample_secmaster(p, symbols=2, bars=50, seed=8)
    assert dump(p) == before


def test_csv_import_gives_the_same_database(tmp_path: Path) -> None:
    csv = write_sample_csv(tmp_path / "s.csv", symbols=3, bars=100, seed=5)
    assert csv.read_text().splitlines()[0] == CSV_HEADER
    imported = tmp_path / "imported.db"
    import_csv(csv, imported, "tickbus", "SAMPLE")
    built = build_sample_secmaster(tmp_path / "built.db", symbols=3, bars=100, seed=5)
    assert dump(imported) == dump(built)


def test_bars_are_valid_with_cent_prices() -> None:
    rows = list(iter_sample_rows(4, 500, 7))
    assert len(rows) == 2000
    for ts, sym, o, h, l, c, v in rows:
        po, ph, pl, pc = (float(x) for x in (o, h, l, c))
        assert pl <= min(po, pc) <= max(po, pc) <= ph
        assert all(len(x.split(".")[1]) == 2 for x in (o, h, l, c))
        assert 100 <= v < 10_000
    stamps = [r[0] for r in rows]
    assert stamps == sorted(stamps)


def test_csv_bytes_stay_those_of_the_benchmark_data(tmp_path: Path) -> None:
    # The SMA-X benchmark's data (scripts/gen_bars.py) must not change under published figures.
    ours = write_sample_csv(tmp_path / "ours.csv", symbols=3, bars=300, seed=42)
    assert hashlib.sha256(ours.read_bytes()).hexdigest() == "70a19d8334b8ffbe4d62e0f425cbdd25bea29249abf19e8aba505c47670dff25"


def test_bad_sizes() -> None:
    with pytest.raises(ValueError):
        list(iter_sample_rows(0, 10, 1))
