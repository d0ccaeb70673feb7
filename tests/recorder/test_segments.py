"""Chart segments, round-trip excursions and the one loader of bars with indicators, by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recorder.analysis import analyse_run, get_run, open_runs_db
from recorder.analysis.excursions import excursions
from recorder.analysis.load import SymbolBars, load_symbol_bars
from recorder.analysis.segments import (
    Condition, SegmentError, around_trades, by_bars, by_period, field_names, matching, where,
)
from test_analysis_kit import MINUTE, RunBuilder, t

DAY = 1440 * MINUTE


def bars_of(closes: list[float], **indicators: list[float]) -> SymbolBars:
    n = len(closes)
    c = np.array(closes, dtype=float)
    return SymbolBars("X", np.array([t(i) for i in range(n)], dtype=np.int64), c, c + 0.5, c - 0.5, c, np.full(n, 100.0),
                      {("S", k): np.array(v, dtype=float) for k, v in indicators.items()})


def spans(segments: list) -> list[tuple[int, int]]:
    return [(s.start, s.end) for s in segments]


def test_by_bars_with_overlap() -> None:
    ts = np.arange(10, dtype=np.int64) * MINUTE
    assert spans(by_bars(ts, 4, 1)) == [(0, 3), (3, 6), (6, 9)]
    assert spans(by_bars(ts, 4, 0)) == [(0, 3), (4, 7), (8, 9)]
    assert spans(by_bars(ts, 20, 5)) == [(0, 9)]
    with pytest.raises(SegmentError, match="overlap"):
        by_bars(ts, 4, 4)


def test_by_period_follows_the_calendar() -> None:
    start = 1_704_067_200_000_000_000  # 2024-01-01T00:00:00Z, a Monday
    ts = np.array([start + k * 6 * 3_600_000_000_000 for k in range(4 * 9)], dtype=np.int64)  # every 6 h for 9 days
    days = by_period(ts, "day")
    assert len(days) == 9 and all(s.bars == 4 for s in days) and days[0].label == "2024-01-01"
    weeks = by_period(ts, "week")
    assert spans(weeks) == [(0, 27), (28, 35)] and weeks[1].label == "week of 2024-01-08"
    assert spans(by_period(ts, "4hour")) == [(i, i) for i in range(36)]
    months = by_period(np.array([start, start + 40 * DAY, start + 100 * DAY], dtype=np.int64), "quarter")
    assert [m.label for m in months] == ["2024 Q1", "2024 Q2"] and spans(months) == [(0, 1), (2, 2)]
    with pytest.raises(SegmentError, match="unknown period"):
        by_period(ts, "fortnight")


def test_around_trades_pads_and_marks_each_trip() -> None:
    ts = np.arange(20, dtype=np.int64) * MINUTE
    segs = around_trades(ts, np.array([3 * MINUTE, 15 * MINUTE]), np.array([6 * MINUTE, 19 * MINUTE]), 2, ["a", "b"])
    assert spans(segs) == [(1, 8), (13, 19)]
    assert [s.mark for s in segs] == [(3, 6), (15, 19)] and [s.trade for s in segs] == [0, 1]


def test_condition_runs_merge_across_small_gaps_with_context() -> None:
    b = bars_of([1, 5, 5, 1, 5, 1, 1, 1, 5, 1, 1, 1], sma=[np.nan, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    cond = [Condition("close", ">", "S|sma")]
    assert matching(b, cond).tolist() == [False, True, True, False, True, False, False, False, True, False, False, False]
    assert spans(where(b, cond, gap=0, context=0)) == [(1, 2), (4, 4), (8, 8)]
    merged = where(b, cond, gap=1, context=1)
    assert spans(merged) == [(0, 5), (7, 9)] and [s.mark for s in merged] == [(1, 4), (8, 8)]
    # NaN never matches (the first bar's indicator), a number on the right, several conditions ANDed
    assert matching(b, [Condition("S|sma", "!=", 99.0)]).tolist()[0] is False
    assert spans(where(b, [Condition("close", "==", 5.0), Condition("high", "<", 6.0)], 0, 0)) == [(1, 2), (4, 4), (8, 8)]


def test_condition_errors_name_what_is_wrong() -> None:
    b = bars_of([1, 2], rsi=[50, 60])
    with pytest.raises(SegmentError, match="no field 'RSI'"):
        where(b, [Condition("RSI", ">", 1.0)], 0, 0)
    with pytest.raises(SegmentError, match="unknown operator '=>'"):
        where(b, [Condition("close", "=>", 1.0)], 0, 0)
    assert field_names(b) == {"open": "open", "high": "high", "low": "low", "close": "close", "volume": "volume", "S|rsi": "rsi"}


def test_excursions_from_entry_bar_to_the_bar_before_the_exit(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    b = RunBuilder(db, ["A"], ["X"]).bars("X", [10, 11, 13, 9, 12, 12])  # highs +0.5, lows -0.5
    b.fill("A", "X", 1, "BUY", 2, 11).fill("A", "X", 4, "SELL", 2, 12)  # long 2 from bar 1 to bar 4
    b.fill("A", "X", 4, "SELL", 1, 12).fill("A", "X", 5, "BUY", 1, 12.5)  # short 1, bar 4 to 5
    a = analyse_run(open_runs_db(db), b.finish(), ohlv=True)
    ex = excursions(a.round_trips, a.data.bars)
    # long: bars 1..3 highs 11.5, 13.5, 9.5 and lows 10.5, 12.5, 8.5; exit +2
    assert ex.best.tolist()[0] == pytest.approx(2 * 2.5) and ex.worst.tolist()[0] == pytest.approx(2 * -2.5)
    assert ex.drawdown.tolist()[0] == pytest.approx(2 * (2.5 + 2.5))  # peak 13.5 then 8.5
    # short from 12 at bar 4 (high 12.5, low 11.5), out at 12.5: best +0.5, worst -0.5
    assert (ex.best[1], ex.worst[1], ex.drawdown[1]) == pytest.approx((0.5, -0.5, 1.0))
    assert ex.bars.tolist() == [3, 1]


def test_load_symbol_bars_aligns_each_strategys_indicators(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    b = RunBuilder(db, ["A", "B"], ["X"]).bars("X", [10, 11, 12, 13])
    rows = [(b.run_id, t(i), 1, "X", "MINUTE", 1, 1, 1, 1, 1, json.dumps(values), sid) for i, sid, values in (
        (0, "A", {"sma": None}), (1, "A", {"sma": 10.5}), (2, "A", {"sma": 11.5}), (1, "B", {"rsi": 40}),
        (3, "B", {"rsi": "oops"}), (9, "A", {"sma": 1}),  # a processed bar with no bar: left out
    )]
    b.conn.executemany("INSERT INTO bars_processed (run_id, ts_event_ns, ts_created_ns, symbol, bar_period, open, high, low,"
                       " close, volume, indicators, strategy_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    run_id = b.finish()
    conn = open_runs_db(db)
    got = load_symbol_bars(conn, get_run(conn, run_id), "X")
    assert got.close.tolist() == [10, 11, 12, 13] and got.high.tolist() == [10.5, 11.5, 12.5, 13.5]
    assert np.array_equal(got.indicators[("A", "sma")], [np.nan, 10.5, 11.5, np.nan], equal_nan=True)
    assert np.array_equal(got.indicators[("B", "rsi")], [np.nan, 40, np.nan, np.nan], equal_nan=True)
    part = load_symbol_bars(conn, get_run(conn, run_id), "X", t(1), t(2))
    assert part.close.tolist() == [11, 12] and part.indicators[("A", "sma")].tolist() == [10.5, 11.5]
