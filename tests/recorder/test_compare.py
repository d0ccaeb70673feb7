"""compare_runs: the same events (in any write order) are identical; a planted difference is found
and named, per table."""

from __future__ import annotations

import shutil
from pathlib import Path

from test_analysis_kit import RunBuilder, hand_run

from recorder import runsdb
from recorder.analysis import compare_runs, open_runs_db


def by_table(result: object) -> dict[str, str | None]:
    return {t.table: t.difference for t in result.tables}  # type: ignore[attr-defined]


def test_two_runs_of_the_same_events_are_identical(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    a, b = hand_run(db), hand_run(db)
    assert a != b
    conn = open_runs_db(db)
    result = compare_runs(conn, a, conn, b)
    assert result.identical and len(result.tables) == 13
    assert {t.table: t.rows_a for t in result.tables}["fills"] == 11


def test_rows_of_different_strategies_at_one_time_may_be_written_in_either_order(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    first = RunBuilder(db, ["A", "B"], ["X"]).bars("X", [1, 2, 3])
    first.fill("A", "X", 1, "BUY", 1, 2).fill("B", "X", 1, "SELL", 1, 2)
    second = RunBuilder(db, ["A", "B"], ["X"]).bars("X", [1, 2, 3])
    second._fills = 1  # same order ids as the first run's: B's fill is its 2nd, A's its 1st
    second.fill("B", "X", 1, "SELL", 1, 2)
    second._fills = 0
    second.fill("A", "X", 1, "BUY", 1, 2)
    ra, rb = first.finish(), second.finish()
    conn = open_runs_db(db)
    assert compare_runs(conn, ra, conn, rb).identical


def plant(db: Path, sql: str, run_id: str) -> None:
    """Change a recorded run (readers open runs.db read-only, so through a writer connection)."""
    conn = runsdb.connect(db, create=False)
    conn.execute(sql, (run_id,))
    conn.close()


def test_a_planted_difference_is_named_with_its_table_row_and_columns(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    a, b = hand_run(db), hand_run(db)
    plant(db, "UPDATE fills SET fill_price = 12.5 WHERE run_id = ? AND fill_price = 12 AND strategy_id = 'A'", b)
    conn = open_runs_db(db)
    result = compare_runs(conn, a, conn, b)
    assert not result.identical
    diffs = by_table(result)
    assert [t for t, d in diffs.items() if d] == ["fills"]
    assert "fill_price 12.0 vs 12.5" in diffs["fills"]  # type: ignore[operator]
    assert "2024-01-02T12:02:00Z" in diffs["fills"] and "strategy_id A" in diffs["fills"]  # type: ignore[operator]


def test_a_missing_row_says_which_run_has_it(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    a, b = hand_run(db), hand_run(db)
    plant(db, "DELETE FROM bars WHERE run_id = ? AND symbol = 'X' AND close = 9", b)
    conn = open_runs_db(db)
    t = next(t for t in compare_runs(conn, a, conn, b).tables if t.table == "bars")
    assert (t.rows_a, t.rows_b) == (11, 10)
    assert t.difference is not None and "only run A has it" in t.difference and "12:05:00Z" in t.difference


def test_runs_in_two_databases(tmp_path: Path) -> None:
    a = hand_run(tmp_path / "a.db")
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    plant(tmp_path / "b.db", "UPDATE bars SET volume = 7 WHERE run_id = ? AND close = 19", a)
    conn_b = open_runs_db(tmp_path / "b.db")
    result = compare_runs(open_runs_db(tmp_path / "a.db"), a, conn_b, a)
    diffs = by_table(result)
    assert diffs["bars"] is not None and "volume 100 vs 7" in diffs["bars"]
    assert diffs["fills"] is None


def test_rows_out_of_time_order_on_disk_still_compare_canonically(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    ordered = RunBuilder(db, ["A"], ["X"]).bars("X", [1, 2, 3, 4])
    shuffled = RunBuilder(db, ["A"], ["X"]).bars("X", [3, 4], start=2).bars("X", [1, 2])
    ra, rb = ordered.finish(), shuffled.finish()
    conn = open_runs_db(db)
    assert compare_runs(conn, ra, conn, rb).identical
    plant(db, "UPDATE bars SET close = 5 WHERE run_id = ? AND close = 4", rb)
    assert "close 4.0 vs 5.0" in (by_table(compare_runs(conn, ra, conn, rb))["bars"] or "")
