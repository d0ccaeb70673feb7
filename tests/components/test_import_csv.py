"""CSV import: validation with line numbers, all-or-nothing, idempotence, extension."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import components.secmaster.writer as writer_mod
from components.models import BarPeriod
from components.secmaster import (
    BarImportError,
    ImportSummary,
    SecmasterError,
    create_secmaster_db,
    import_csv,
    open_secmaster,
    parse_iso_ns,
)

HEADER = "ts_event_ns,symbol,open,high,low,close,volume\n"
T0 = 1_704_196_800_000_000_000  # 2024-01-02T12:00:00Z
MIN = 60_000_000_000
DAY = 86_400 * 10**9


def good_rows(n: int = 3, t0: int = T0, symbols: tuple[str, ...] = ("AAA", "BBB")) -> str:
    out = []
    for i in range(n):
        for s in symbols:
            out.append(f"{t0 + i * MIN},{s},{100 + i}.25,{101 + i}.5,{99 + i}.75,{100 + i}.5,{10 + i}\n")
    return "".join(out)


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text, encoding="utf-8")
    return p


def dump(db: Path) -> str:
    c = sqlite3.connect(db)
    try:
        return "\n".join(c.iterdump())
    finally:
        c.close()


def fingerprint(db: Path) -> tuple[str, str]:
    return hashlib.sha256(db.read_bytes()).hexdigest(), dump(db)


def imp(csv: Path, db: Path, publisher_name: str = "test", dataset: str = "DS",
        **kw: Any) -> ImportSummary:
    return import_csv(csv, db, publisher_name, dataset, **kw)


def bars(db: Path) -> list[tuple[object, ...]]:
    c = sqlite3.connect(db)
    return c.execute(
        "SELECT i.symbol, o.rtype, o.ts_event, o.open, o.high, o.low, o.close, o.volume"
        " FROM ohlcv o JOIN instruments i USING (instrument_id) ORDER BY 1, 3"
    ).fetchall()


@pytest.fixture
def base_db(tmp_path: Path) -> Path:
    """A database that already holds data, to check failed imports leave it as it was."""
    db = tmp_path / "sm.db"
    imp(write(tmp_path, "base.csv", HEADER + good_rows(3)), db)
    return db


def test_import_basic(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    s = imp(write(tmp_path, "a.csv", HEADER + good_rows(3)), db)
    assert (s.rows, s.inserted, s.symbols, s.min_ts, s.max_ts, s.created_db) == (
        6, 6, 2, T0, T0 + 2 * MIN, True,
    )
    assert bars(db)[0] == ("AAA", 33, T0, 100_250_000_000, 101_500_000_000, 99_750_000_000,
                           100_500_000_000, 10)
    c = open_secmaster(db)
    assert c.execute("SELECT * FROM publishers").fetchall() == [(1, "test", "DS", None)]
    assert c.execute("SELECT * FROM instruments ORDER BY instrument_id").fetchall() == [
        (1, 1, 1, "AAA", "raw_symbol"),
        (2, 1, 2, "BBB", "raw_symbol"),
    ]
    assert c.execute("SELECT * FROM symbology ORDER BY symbol").fetchall() == [
        (1, "AAA", "raw_symbol", 1, "2024-01-02", "9999-12-31"),
        (1, "BBB", "raw_symbol", 2, "2024-01-02", "9999-12-31"),
    ]
    assert c.execute("SELECT * FROM symbol_coverage ORDER BY symbol").fetchall() == [
        (1, "AAA", "raw_symbol", 33, T0, T0 + 2 * MIN),
        (1, "BBB", "raw_symbol", 33, T0, T0 + 2 * MIN),
    ]
    assert "imported 6 bars for 2 symbols, 2024-01-02T12:00:00Z .. 2024-01-02T12:02:00Z" in s.describe()


def test_prices_are_rounded_fixed_point(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    imp(write(tmp_path, "a.csv", HEADER + f"{T0},X,0.1,0.3,0.1,0.2,0\n{T0 + MIN},X,100.01,100.01,99.99,100.0,1\n"), db)
    assert [b[3:7] for b in bars(db)] == [
        (100_000_000, 300_000_000, 100_000_000, 200_000_000),
        (100_010_000_000, 100_010_000_000, 99_990_000_000, 100_000_000_000),
    ]


def test_column_order_bom_crlf_quotes_blank_lines(tmp_path: Path) -> None:
    ref, db = tmp_path / "ref.db", tmp_path / "x.db"
    imp(write(tmp_path, "ref.csv", HEADER + f"{T0},AAA,1.5,2,1,1.75,3\n{T0 + MIN},AAA,1.5,2,1,1.75,1500\n"), ref)
    text = (
        "\ufeffvolume,Close,symbol,LOW,high,open,ts_event_ns\r\n"
        f'3,1.75,"AAA",1,2,1.5,{T0}\r\n'
        "\r\n"
        f"1500.0,1.75,AAA,1,2,1.5,{T0 + MIN}\r\n"
        "\r\n"
    )
    imp(write(tmp_path, "x.csv", text), db)
    assert bars(db) == bars(ref)


def test_bar_period_and_symbol_type(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    imp(write(tmp_path, "a.csv", HEADER + good_rows(2)), db, bar_period=BarPeriod.DAY,
        symbol_type="ticker")
    assert {b[1] for b in bars(db)} == {35}
    c = sqlite3.connect(db)
    assert {r[0] for r in c.execute("SELECT symbol_type FROM symbology")} == {"ticker"}
    assert {r[0] for r in c.execute("SELECT symbol_type FROM symbol_coverage")} == {"ticker"}


def test_iso_timestamps(tmp_path: Path) -> None:
    ref, db = tmp_path / "ref.db", tmp_path / "iso.db"
    ns = [T0, T0 + MIN, T0 + 2 * MIN + 123_456_789, T0 - 12 * 3600 * 10**9 + DAY, T0 + 5 * MIN]
    imp(write(tmp_path, "ref.csv", HEADER + "".join(f"{t},A,1,1,1,1,1\n" for t in ns)), ref)
    iso = [
        "2024-01-02T12:00:00",  # naive: UTC
        "2024-01-02T12:01:00Z",
        "2024-01-02 14:02:00.123456789+02:00",  # offset converted, 9 digits kept
        "2024-01-03",  # a date: midnight UTC
        "2024-01-02T07:05:00-05:00",
    ]
    imp(write(tmp_path, "iso.csv", "timestamp,symbol,open,high,low,close,volume\n"
              + "".join(f"{t},A,1,1,1,1,1\n" for t in iso)), db)
    assert bars(db) == bars(ref)
    assert parse_iso_ns("1970-01-01T00:00:00.5Z") == 500_000_000


def test_unsorted_rows_are_fine(tmp_path: Path) -> None:
    rows = good_rows(5, symbols=("AAA", "BBB", "CCC")).splitlines(keepends=True)
    a, b = tmp_path / "sorted.db", tmp_path / "shuffled.db"
    imp(write(tmp_path, "s.csv", HEADER + "".join(rows)), a)
    shuffled = rows[7:] + rows[:7]
    shuffled.reverse()
    imp(write(tmp_path, "u.csv", HEADER + "".join(shuffled)), b)
    assert bars(a) == bars(b)


def test_reimport_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    csv = write(tmp_path, "a.csv", HEADER + good_rows(4))
    imp(csv, db)
    before = dump(db)
    s = imp(csv, db)
    assert (s.rows, s.inserted, s.created_db) == (8, 0, False)
    assert dump(db) == before
    assert "(8 already present)" in s.describe()


def test_later_and_earlier_files_extend_the_range(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    imp(write(tmp_path, "a.csv", HEADER + good_rows(2)), db)
    s = imp(write(tmp_path, "b.csv", HEADER + good_rows(2, t0=T0 + 3 * DAY, symbols=("BBB", "CCC"))), db)
    assert (s.inserted, s.symbols) == (4, 2)
    c = sqlite3.connect(db)
    assert c.execute("SELECT symbol, source_instrument_id, start_date, end_date FROM symbology"
                     " ORDER BY symbol").fetchall() == [
        ("AAA", 1, "2024-01-02", "9999-12-31"),
        ("BBB", 2, "2024-01-02", "9999-12-31"),
        ("CCC", 3, "2024-01-05", "9999-12-31"),
    ]
    assert c.execute("SELECT COUNT(*) FROM instruments").fetchone()[0] == 3
    assert c.execute("SELECT symbol, min_ts, max_ts FROM symbol_coverage ORDER BY symbol").fetchall() == [
        ("AAA", T0, T0 + MIN),
        ("BBB", T0, T0 + 3 * DAY + MIN),
        ("CCC", T0 + 3 * DAY, T0 + 3 * DAY + MIN),
    ]
    # An earlier file moves the start date back; still one mapping per symbol.
    imp(write(tmp_path, "c.csv", HEADER + good_rows(1, t0=T0 - 10 * DAY, symbols=("CCC",))), db)
    assert c.execute("SELECT start_date, end_date FROM symbology WHERE symbol = 'CCC'").fetchall() == [
        ("2023-12-23", "9999-12-31")
    ]
    assert len(bars(db)) == 4 + 4 + 1


def test_symbology_overlap_is_refused(base_db: Path, tmp_path: Path) -> None:
    c = sqlite3.connect(base_db)
    c.execute("INSERT INTO instruments VALUES (50, 1, 777, NULL, NULL)")
    c.execute("INSERT INTO symbology VALUES (1, 'NEW', 'raw_symbol', 777, '2024-01-01', '2024-06-01')")
    c.commit()
    c.close()
    before = fingerprint(base_db)
    csv = write(tmp_path, "n.csv", HEADER + f"{T0 + 99 * MIN},AAA,1,1,1,1,1\n{T0},NEW,1,1,1,1,1\n")
    with pytest.raises(BarImportError, match=r"n.csv:3: symbol NEW \(raw_symbol\) already maps to instrument 777"):
        imp(csv, base_db)
    assert fingerprint(base_db) == before


BAD_CASES = [
    # (csv text, line, message fragment)
    ("", 1, "empty file"),
    ("ts_event_ns,symbol,open,high,low,close\n", 1, "missing column(s): volume"),
    ("symbol,open,high,low,close,volume\n", 1, "missing column(s): ts_event_ns (or timestamp)"),
    (HEADER.strip() + ",extra\n", 1, "unknown column(s) 'extra'"),
    ("ts_event_ns,symbol,open,open,high,low,close,volume\n", 1, "column 'open' appears twice"),
    ("ts_event_ns,timestamp,symbol,open,high,low,close,volume\n", 1, "both ts_event_ns and timestamp"),
    (HEADER + f"{T0},A,1,2,1,1\n", 2, "expected 7 fields as in the header, got 6"),
    (HEADER + f"{T0},A,1,2,1,1,1,9\n", 2, "expected 7 fields as in the header, got 8"),
    (HEADER + f"{T0},A,,2,1,1,1\n", 2, "open: empty"),
    (HEADER + f"{T0},,1,2,1,1,1\n", 2, "symbol: empty"),
    (HEADER + f"{T0}, ,1,2,1,1,1\n", 2, "symbol: empty"),
    (HEADER + f"{T0},A,1,x2,1,1,1\n", 2, "high: not a number: 'x2'"),
    (HEADER + f"{T0},A,1,2,nan,1,1\n", 2, "low: not a finite number: 'nan'"),
    (HEADER + f"{T0},A,1,2,1,inf,1\n", 2, "close: not a finite number: 'inf'"),
    (HEADER + f"{T0},A,1,2,1,1,-5\n", 2, "volume: negative: '-5'"),
    (HEADER + f"{T0},A,1,2,1,1,2.5\n", 2, "volume: not a whole number: '2.5'"),
    (HEADER + f"{T0},A,1,2,1,1,\n", 2, "volume: empty"),
    (HEADER + f"{T0},A,1,2,1,1,lots\n", 2, "volume: not a number"),
    (HEADER + f"{T0},A,1,1e30,1,1,1\n", 2, "high: out of range"),
    (HEADER + f"12.5,A,1,2,1,1,1\n", 2, "ts_event_ns: not an integer: '12.5'"),
    (HEADER + f"-1,A,1,2,1,1,1\n", 2, "ts_event_ns: before 1970-01-01"),
    (HEADER + f"99999999999999999999,A,1,2,1,1,1\n", 2, "ts_event_ns: out of range"),
    ("timestamp,symbol,open,high,low,close,volume\nyesterday,A,1,2,1,1,1\n", 2,
     "timestamp: not an ISO-8601 time: 'yesterday'"),
    (HEADER + f"{T0},A,1,1,2,1,1\n", 2, "high 1 < low 2"),
    (HEADER + f"{T0},A,3,2,1,1,1\n", 2, "open 3 outside [low 1, high 2]"),
    (HEADER + f"{T0},A,1,2,1,0.5,1\n", 2, "close 0.5 outside [low 1, high 2]"),
    (HEADER + f"{T0},A,1,2,1,1,1\n{T0 + MIN},B,1,2,1,1,1\n{T0},A,1,2,1,1,1\n", 4,
     "duplicate bar for A at 2024-01-02T12:00:00Z (1704196800000000000); first given at line 2"),
    (HEADER + f"{T0},A,1,2,1,1,1\n\"x\ny\",A,1,2,1,1,1\n", 3, "ts_event_ns: not an integer"),
    (HEADER + f"{T0},A,1,2,1,1,1\n{T0},\"A\"x\",1,1,1,1,1\n", 3, "malformed CSV"),
    (HEADER + f"{T0},A,1,2,1,1,1\n{T0},A\x00B,1,1,1,1,1\n", 3, "symbol: contains control characters"),
]


@pytest.mark.parametrize("existing", [False, True], ids=["new-db", "existing-db"])
@pytest.mark.parametrize("text, line, fragment", BAD_CASES)
def test_bad_rows(tmp_path: Path, base_db: Path, existing: bool, text: str, line: int, fragment: str) -> None:
    csv = write(tmp_path, "bad.csv", good_rows(0) + text)
    db = base_db if existing else tmp_path / "fresh.db"
    before = fingerprint(db) if existing else None
    with pytest.raises(BarImportError) as info:
        imp(csv, db)
    err = info.value
    assert err.line == line
    assert str(err).startswith(f"{csv}:{line}: ")
    assert fragment in err.message
    assert "\n" not in str(err)
    if existing:
        assert fingerprint(db) == before
    else:
        assert not db.exists()
        assert not Path(f"{db}-journal").exists()


def test_conflict_with_existing_bar(base_db: Path, tmp_path: Path) -> None:
    before = fingerprint(base_db)
    text = HEADER + f"{T0 + 9 * MIN},AAA,1,2,1,1,1\n" + good_rows(3).replace("100.25,", "100.3,", 1)
    with pytest.raises(BarImportError) as info:
        imp(write(tmp_path, "c.csv", text), base_db)
    assert info.value.line == 3
    assert "bar for AAA at 2024-01-02T12:00:00Z" in info.value.message
    assert "conflicts with a different bar already in" in info.value.message
    assert "O=100.25" in info.value.message and "O=100.3" in info.value.message
    assert fingerprint(base_db) == before


def test_identical_existing_bars_mixed_with_new(base_db: Path, tmp_path: Path) -> None:
    s = imp(write(tmp_path, "m.csv", HEADER + good_rows(5)), base_db)
    assert (s.rows, s.inserted) == (10, 4)
    assert len(bars(base_db)) == 10


def test_first_error_wins_across_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With tiny batches, a duplicate found at write time still beats a later parse error,
    and a duplicate of a row from an earlier batch is found with that row's line."""
    monkeypatch.setattr(writer_mod, "BATCH_SIZE", 3)
    rows = [f"{T0 + i * MIN},A,1,2,1,1,1\n" for i in range(7)]
    dup_then_bad = HEADER + "".join(rows) + f"{T0 + MIN},A,1,2,1,1,1\n" + f"{T0},B,x,2,1,1,1\n"
    with pytest.raises(BarImportError) as info:
        imp(write(tmp_path, "d.csv", dup_then_bad), tmp_path / "d.db")
    assert (info.value.line, "first given at line 3") == (9, info.value.message.split("; ")[1])
    assert not (tmp_path / "d.db").exists()
    # Conflict in an early batch vs a parse error later: the conflict (earlier line) is reported.
    db = tmp_path / "e.db"
    imp(write(tmp_path, "base.csv", HEADER + rows[0]), db)
    before = fingerprint(db)
    text = HEADER + "".join(rows[1:4]) + f"{T0},A,1,3,1,1,1\n" + f"{T0},B,x,2,1,1,1\n"
    with pytest.raises(BarImportError) as info:
        imp(write(tmp_path, "e.csv", text), db)
    assert info.value.line == 5 and "conflicts" in info.value.message
    assert fingerprint(db) == before


def test_large_import_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_mod, "BATCH_SIZE", 7)
    db = tmp_path / "x.db"
    s = imp(write(tmp_path, "a.csv", HEADER + good_rows(50, symbols=("A", "B", "C"))), db)
    assert (s.rows, s.inserted) == (150, 150)
    assert imp(tmp_path / "a.csv", db).inserted == 0


def test_missing_csv_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(SecmasterError, match="absent.csv: cannot read"):
        imp(tmp_path / "absent.csv", tmp_path / "x.db")
    assert not (tmp_path / "x.db").exists()


def test_not_a_secmaster_db_is_untouched(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    db.write_text("not sqlite at all, " * 100)
    before = db.read_bytes()
    with pytest.raises(SecmasterError, match="not a secmaster"):
        imp(write(tmp_path, "a.csv", HEADER + good_rows(1)), db)
    assert db.read_bytes() == before


def test_invalid_utf8_symbol(tmp_path: Path) -> None:
    p = tmp_path / "u.csv"
    p.write_bytes(HEADER.encode() + f"{T0},A,1,1,1,1,1\n{T0},B\xff,1,1,1,1,1\n".encode("latin-1"))
    with pytest.raises(BarImportError, match=r"u.csv:3: symbol: not valid UTF-8"):
        imp(p, tmp_path / "x.db")


def test_progress_bar_only_when_asked_or_tty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = write(tmp_path, "a.csv", HEADER + good_rows(3))
    imp(csv, tmp_path / "a.db")  # stderr is not a terminal under pytest
    assert capsys.readouterr().err == ""
    imp(csv, tmp_path / "b.db", progress=True)
    err = capsys.readouterr().err
    assert "100%" in err and "rows/s" in err and err.endswith("\n")


def test_writer_refuses_empty_names(tmp_path: Path) -> None:
    with pytest.raises(SecmasterError, match="non-empty"):
        imp(write(tmp_path, "a.csv", HEADER + good_rows(1)), tmp_path / "x.db", publisher_name="")


def test_import_into_created_empty_db(tmp_path: Path) -> None:
    db = create_secmaster_db(tmp_path / "x.db")
    s = imp(write(tmp_path, "a.csv", HEADER + good_rows(1)), db)
    assert s.created_db is False and s.inserted == 2


def test_stream_reads_without_loading_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows go to SQLite in batches: the writer's queue never holds more than one batch."""
    monkeypatch.setattr(writer_mod, "BATCH_SIZE", 5)
    seen: list[int] = []
    orig = writer_mod.BarWriter.flush

    def spy(self: writer_mod.BarWriter) -> None:
        seen.append(len(self.pending))
        orig(self)

    monkeypatch.setattr(writer_mod.BarWriter, "flush", spy)
    imp(write(tmp_path, "a.csv", HEADER + good_rows(20)), tmp_path / "x.db")
    assert max(seen) <= 5 and len(seen) >= 8


def test_parse_iso_edge_cases() -> None:
    # Surrounding whitespace and a comma as the decimal sign (ISO allows it).
    assert parse_iso_ns(" 2024-01-02T12:00:00,5Z ") == T0 + 500_000_000
    with pytest.raises(ValueError):
        parse_iso_ns("2024-01-02T12:00:00.1234567891")  # more than ns precision


def test_locked_database_is_a_clean_error(base_db: Path, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    before = fingerprint(base_db)
    csv = write(tmp_path, "a.csv", HEADER + good_rows(9))
    holder = sqlite3.connect(base_db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *a, **kw: connect(*a, **{**kw, "timeout": 0.1}))
    try:
        with pytest.raises(SecmasterError, match="database is locked; nothing was imported"):
            imp(csv, base_db)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert fingerprint(base_db) == before


def test_a_line_without_end_costs_bounded_memory_and_is_refused_at_its_line(tmp_path: Path) -> None:
    """A 40 MB line: read at most MAX_LINE characters at a time (the old reader held the whole
    line, twice), refused as malformed at line 2."""
    import subprocess
    import sys

    csv_path = tmp_path / "huge.csv"
    with open(csv_path, "w") as f:
        f.write("ts_event_ns,symbol,open,high,low,close,volume\n")
        f.write("1," + "A" * 40_000_000 + ",1,1,1,1,1\n")
    code = (
        "import resource, sys\n"
        "from components.secmaster.csv_import import import_csv\n"
        "from components.secmaster.writer import BarImportError\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        f"    import_csv({str(csv_path)!r}, {str(tmp_path / 'db.sqlite')!r}, 'p', 'd', progress=False)\n"
        "except BarImportError as exc:\n"
        "    print(exc)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    message, grown_kib = out.stdout.strip().splitlines()
    assert message.startswith(f"{csv_path}:2: malformed CSV"), out.stdout + out.stderr
    assert int(grown_kib) < 20_000, f"the import grew by {int(grown_kib) // 1024} MiB"
