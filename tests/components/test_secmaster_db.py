"""Secmaster schema v1 (onesecondtrader-compatible), create/open checks and query helpers."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from components.secmaster import (
    SecmasterError,
    coverage,
    create_secmaster_db,
    list_datasets,
    list_publishers,
    list_symbols,
    open_secmaster,
    rebuild_symbol_coverage,
    schema_sql,
)
from components.secmaster.db import date_to_ns, ns_to_date, ns_to_iso

# The seed's v1 tables and columns, symbol_coverage in its 0.75 shape.
SEED_COLUMNS = {
    "publishers": ["publisher_id", "name", "dataset", "venue"],
    "instruments": ["instrument_id", "publisher_ref", "source_instrument_id", "symbol", "symbol_type"],
    "ohlcv": ["instrument_id", "rtype", "ts_event", "open", "high", "low", "close", "volume"],
    "symbology": [
        "publisher_ref", "symbol", "symbol_type", "source_instrument_id", "start_date", "end_date",
    ],
    "symbol_coverage": ["publisher_id", "symbol", "symbol_type", "rtype", "min_ts", "max_ts"],
}
SEED_PK = {
    "publishers": ["publisher_id"],
    "instruments": ["instrument_id"],
    "ohlcv": ["instrument_id", "rtype", "ts_event"],
    "symbology": ["publisher_ref", "symbol", "symbol_type", "start_date", "source_instrument_id"],
    "symbol_coverage": ["publisher_id", "symbol", "symbol_type", "rtype"],
}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return create_secmaster_db(tmp_path / "sm.db")


def _conn(path: Path) -> sqlite3.Connection:
    c = sqlite3.connect(path)
    c.execute("PRAGMA foreign_keys = ON")
    return c


def _seed_rows(c: sqlite3.Connection) -> None:
    c.execute("INSERT INTO publishers VALUES (1, 'tickbus', 'SAMPLE', NULL)")
    c.execute("INSERT INTO publishers VALUES (2, 'databento', 'GLBX.MDP3', 'XCME')")
    c.execute("INSERT INTO instruments VALUES (1, 1, 101, 'AAA', 'raw_symbol')")
    c.execute("INSERT INTO instruments VALUES (2, 1, 102, 'BBB', 'raw_symbol')")
    c.execute("INSERT INTO symbology VALUES (1, 'AAA', 'raw_symbol', 101, '2024-01-01', '9999-12-31')")
    c.execute("INSERT INTO symbology VALUES (1, 'BBB', 'raw_symbol', 102, '2024-01-01', '9999-12-31')")
    day = date_to_ns("2024-01-02")
    for k in range(3):
        c.execute("INSERT INTO ohlcv VALUES (1, 33, ?, 10, 12, 9, 11, 5)", (day + k * 60_000_000_000,))
    c.execute("INSERT INTO ohlcv VALUES (2, 35, ?, 10, 12, 9, 11, 5)", (day,))
    c.commit()


def test_create_makes_schema_v1(db: Path) -> None:
    c = _conn(db)
    assert c.execute("PRAGMA user_version").fetchone()[0] == 1
    for table, cols in SEED_COLUMNS.items():
        info = c.execute(f"PRAGMA table_info({table})").fetchall()
        assert [r[1] for r in info] == cols, table
        pk = [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
        assert pk == SEED_PK[table], table
    ohlcv_sql = c.execute("SELECT sql FROM sqlite_master WHERE name = 'ohlcv'").fetchone()[0]
    assert "WITHOUT ROWID" in ohlcv_sql
    assert c.execute("SELECT 1 FROM sqlite_master WHERE name = 'idx_symbology_symbol'").fetchone()


def test_schema_is_package_data() -> None:
    text = schema_sql()
    assert "CREATE TABLE ohlcv" in text and "PRAGMA user_version = 1" in text
    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    assert '"*" = ["*.sql"]' in pyproject.read_text()


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO ohlcv VALUES (1, 37, 1, 10, 12, 9, 11, 5)",  # unknown rtype
        "INSERT INTO ohlcv VALUES (1, 33, 1, 10, 12, 9, 11, -1)",  # negative volume
        "INSERT INTO ohlcv VALUES (1, 33, 1, 10, 9, 12, 11, 5)",  # low > high
        "INSERT INTO ohlcv VALUES (1, 33, 1, 13, 12, 9, 11, 5)",  # open above high
        "INSERT INTO ohlcv VALUES (1, 33, 1, 10, 12, 9, 8, 5)",  # close below low
        "INSERT INTO ohlcv VALUES (1, 33, 1, NULL, 12, 9, 11, 5)",  # NULL price
        "INSERT INTO ohlcv VALUES (1, 33, 1, 10, 12, 9, 11, 5)",  # duplicate PK
        "INSERT INTO instruments VALUES (9, 1, NULL, NULL, NULL)",  # neither id nor symbol
        "INSERT INTO instruments VALUES (9, 1, 900, 'X', NULL)",  # symbol without type
        "INSERT INTO instruments VALUES (9, 1, 101, 'NEW', 'raw_symbol')",  # duplicate vendor id
        "INSERT INTO instruments VALUES (9, 1, 900, 'AAA', 'raw_symbol')",  # duplicate symbol
        "INSERT INTO symbology VALUES (1, 'X', 'raw_symbol', 101, '2024-02-01', '2024-01-01')",
        "INSERT INTO symbology VALUES (1, 'X', 'raw_symbol', 999, '2024-01-01', '2024-02-01')",  # FK
        "INSERT INTO publishers VALUES (9, 'tickbus', 'SAMPLE', NULL)",  # duplicate name/dataset
    ],
)
def test_constraints_reject_bad_rows(db: Path, sql: str) -> None:
    c = _conn(db)
    _seed_rows(c)
    c.execute("INSERT INTO ohlcv VALUES (1, 33, 1, 10, 12, 9, 11, 5)")
    c.commit()
    with pytest.raises(sqlite3.IntegrityError):
        c.execute(sql)


def test_create_refuses_to_overwrite(tmp_path: Path) -> None:
    p = tmp_path / "x.db"
    p.write_bytes(b"precious")
    with pytest.raises(SecmasterError, match="already exists"):
        create_secmaster_db(p)
    assert p.read_bytes() == b"precious"
    db = create_secmaster_db(tmp_path / "y.db")
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    with pytest.raises(SecmasterError, match=str(db)):
        create_secmaster_db(db)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest


def test_create_in_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SecmasterError, match="cannot create"):
        create_secmaster_db(tmp_path / "no" / "such" / "x.db")


def test_open_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "absent.db"
    with pytest.raises(SecmasterError, match=f"{p}: no such secmaster database"):
        open_secmaster(p)
    with pytest.raises(SecmasterError):
        open_secmaster(p, readonly=False)
    assert not p.exists()  # opening never creates a file


def test_open_not_sqlite(tmp_path: Path) -> None:
    p = tmp_path / "text.db"
    p.write_text("ts_event_ns,symbol\n" * 100)
    with pytest.raises(SecmasterError, match=f"{p}: not a secmaster database"):
        open_secmaster(p)


@pytest.mark.parametrize(
    "setup, fragment",
    [
        ("CREATE TABLE t (x)", "no schema version"),
        ("CREATE TABLE t (x); PRAGMA user_version = 2", "schema version 2"),
        ("CREATE TABLE publishers (x); PRAGMA user_version = 1", "missing tables"),
    ],
)
def test_open_not_a_secmaster(tmp_path: Path, setup: str, fragment: str) -> None:
    p = tmp_path / "other.db"
    c = sqlite3.connect(p)
    c.executescript(setup)
    c.close()
    with pytest.raises(SecmasterError, match=fragment) as info:
        open_secmaster(p)
    assert str(p) in str(info.value)


def test_open_table_missing_column(tmp_path: Path) -> None:
    p = tmp_path / "other.db"
    c = sqlite3.connect(p)
    c.executescript(schema_sql().replace("    volume INTEGER NOT NULL CHECK (volume >= 0),\n", ""))
    c.close()
    with pytest.raises(SecmasterError, match="ohlcv lacks volume"):
        open_secmaster(p)


def test_open_readonly_cannot_write(db: Path) -> None:
    c = open_secmaster(db, readonly=True)
    with pytest.raises(sqlite3.OperationalError):
        c.execute("INSERT INTO publishers VALUES (5, 'a', 'b', NULL)")
    w = open_secmaster(db, readonly=False)
    w.execute("INSERT INTO publishers VALUES (5, 'a', 'b', NULL)")
    assert w.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_query_helpers(db: Path) -> None:
    _seed_rows(_conn(db))
    c = open_secmaster(db)
    pubs = list_publishers(c)
    assert [(p.name, p.dataset, p.venue) for p in pubs] == [
        ("databento", "GLBX.MDP3", "XCME"),
        ("tickbus", "SAMPLE", None),
    ]
    assert list_datasets(c) == ["GLBX.MDP3", "SAMPLE"]
    assert list_datasets(c, "tickbus") == ["SAMPLE"]
    assert list_symbols(c, "tickbus", "SAMPLE") == ["AAA", "BBB"]
    assert list_symbols(c, "tickbus", "SAMPLE", rtype=33) == ["AAA"]
    assert list_symbols(c, "tickbus", "SAMPLE", rtype=35) == ["BBB"]
    assert list_symbols(c, "tickbus", "SAMPLE", symbol_type="continuous") == []
    with pytest.raises(SecmasterError, match="available publisher/dataset: databento/GLBX.MDP3"):
        list_symbols(c, "tickbus", "NOPE")
    cov = coverage(c, "tickbus", "SAMPLE")
    day = date_to_ns("2024-01-02")
    assert [(r.symbol, r.rtype, r.bars, r.min_ts, r.max_ts) for r in cov] == [
        ("AAA", 33, 3, day, day + 120_000_000_000),
        ("BBB", 35, 1, day, day),
    ]


def test_coverage_respects_symbology_dates(db: Path) -> None:
    """Bars outside a symbol's [start_date, end_date) belong to no symbol."""
    c = _conn(db)
    _seed_rows(c)
    c.execute(
        "UPDATE symbology SET start_date = '2024-01-03' WHERE symbol = 'AAA'"
    )
    c.commit()
    r = open_secmaster(db)
    assert [x.symbol for x in coverage(r, "tickbus", "SAMPLE")] == ["BBB"]


def test_rebuild_symbol_coverage_both_shapes(db: Path, tmp_path: Path) -> None:
    c = _conn(db)
    _seed_rows(c)
    rebuild_symbol_coverage(c, 1)
    c.commit()
    day = date_to_ns("2024-01-02")
    assert c.execute("SELECT * FROM symbol_coverage ORDER BY symbol").fetchall() == [
        (1, "AAA", "raw_symbol", 33, day, day + 120_000_000_000),
        (1, "BBB", "raw_symbol", 35, day, day),
    ]
    # A file written by onesecondtrader 0.68 has symbol_coverage without symbol_type.
    old = tmp_path / "old.db"
    o = sqlite3.connect(old)
    o.executescript(
        schema_sql().replace("    symbol_type TEXT NOT NULL DEFAULT 'raw_symbol',\n", "").replace(
            "PRIMARY KEY (publisher_id, symbol, symbol_type, rtype)",
            "PRIMARY KEY (publisher_id, symbol, rtype)",
        )
    )
    _seed_rows(o)
    open_secmaster(old).close()  # accepted as a secmaster
    rebuild_symbol_coverage(o, 1)
    o.commit()
    assert o.execute("SELECT * FROM symbol_coverage ORDER BY symbol").fetchall() == [
        (1, "AAA", 33, day, day + 120_000_000_000),
        (1, "BBB", 35, day, day),
    ]


def test_date_helpers() -> None:
    assert date_to_ns("1970-01-02") == 86_400 * 10**9
    assert date_to_ns("9999-12-31") == 2**63 - 1  # clamped, not an overflow
    assert ns_to_date(86_400 * 10**9 - 1) == "1970-01-01"
    assert ns_to_date(86_400 * 10**9) == "1970-01-02"
    assert ns_to_iso(1_704_196_800_000_000_000) == "2024-01-02T12:00:00Z"
    assert ns_to_iso(1_704_196_800_000_000_001) == "2024-01-02T12:00:00.000000001Z"
    # Same date SQLite computes for the seed's symbology join.
    c = sqlite3.connect(":memory:")
    for ts in (0, 1, 86_399_999_999_999, 86_400 * 10**9, 1_704_239_999_999_999_999):
        assert c.execute("SELECT date(? / 1000000000, 'unixepoch')", (ts,)).fetchone()[0] == ns_to_date(ts)
