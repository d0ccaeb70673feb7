"""Run analysis against hand-computed figures (the run is described in test_analysis_kit.hand_run).

Curves are net PnL at each bar close, worked out on paper from the fills; every statistic is then
checked against its definition applied to those hand numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_analysis_kit import RunBuilder, hand_run, t

from recorder.analysis import RunAnalysis, analyse_run, list_runs, load_run, net_pnl, open_runs_db
from recorder.analysis.stats import annualisation

ANN = math.sqrt(252 * 390)  # MINUTE bars: 98,280 a year


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> RunAnalysis:
    db = tmp_path_factory.mktemp("hand") / "runs.db"
    run_id = hand_run(db)
    return analyse_run(open_runs_db(db), run_id)


def trips(a: RunAnalysis, sid: str) -> list[tuple[object, ...]]:
    """(direction, entry time, exit time, entry, exit, quantity, gross, commission, net), floats
    rounded to 9 places so hand decimals compare exactly."""
    return [
        (r["direction"], r["entry_time"], r["exit_time"],
         *(round(r[k], 9) for k in ("entry_price", "exit_price", "quantity", "gross_pnl", "commission", "net_pnl")))
        for r in a.round_trip_records() if r["strategy_id"] == sid
    ]


def iso(i: int) -> str:
    return f"2024-01-02T12:{i:02d}:00Z"


def test_reversal_in_one_fill_closes_a_trip_and_opens_the_next(hand: RunAnalysis) -> None:
    # buy 2 @ 11 (fee 1); sell 5 @ 12 (fee 2.5: 2/5 to the long trip, 3/5 to the short); buy 3 @ 10 (fee 1.5)
    # long trip fees 1 + 1, short trip fees 1.5 + 1.5
    assert trips(hand, "A") == ([
        ("long", iso(1), iso(2), 11.0, 12.0, 2.0, 2.0, 2.0, 0.0),
        ("short", iso(2), iso(4), 12.0, 10.0, 3.0, 6.0, 3.0, 3.0),
    ])
    s = hand.strategies["A"].stats
    assert (s.realized, s.unrealized, s.commission, s.net_pnl) == pytest.approx((8.0, 0.0, 5.0, 3.0))
    assert s.fills == 3 and s.open_positions == 0


def test_reversal_equity_drawdown_sharpe_sortino_exposure(hand: RunAnalysis) -> None:
    r = hand.strategies["A"]
    # t1: -fee 1; t2: +2 realized -3.5 fees, short 3 @ 12 at 12; t3: short gains 3; t4: flat, 8 - 5
    assert r.curve.equity == pytest.approx([0.0, -1.0, -1.5, 1.5, 3.0, 3.0])
    c = r.stats.curve
    assert c.max_drawdown == pytest.approx(1.5)
    assert c.capital == pytest.approx(36.0)  # short 3 x 12, the largest gross exposure
    assert c.max_drawdown_pct == pytest.approx(1.5 / 36.0)
    assert c.exposure == pytest.approx(3 / 6)  # positions at the closes of bars 1, 2, 3
    # changes 0, -1, -0.5, 3, 1.5, 0: mean 0.5, sample variance 11 / 5, downside mean square 1.25 / 6
    assert c.sharpe == pytest.approx(0.5 / math.sqrt(2.2) * ANN)
    assert c.sortino == pytest.approx(0.5 / math.sqrt(1.25 / 6) * ANN)
    tr = r.stats.trades
    assert (tr.round_trips, tr.wins, tr.losses, tr.win_rate) == (2, 1, 0, 0.5)  # the 0.00 trip is no win
    assert tr.profit_factor is None and tr.avg_win == pytest.approx(3.0) and tr.avg_loss is None


def test_partial_exits_split_at_average_cost_with_commissions_pro_rata(hand: RunAnalysis) -> None:
    # buy 2 @ 10, buy 2 @ 12 (avg 11, fees .8); sell 1 @ 13 (fee .1); sell 3 @ 10 (fee .3)
    # first trip fees: 1/4 of .8 + .1; second: the other 3/4 of .8 + .3
    assert trips(hand, "B") == ([
        ("long", iso(0), iso(2), 11.0, 13.0, 1.0, 2.0, 0.3, 1.7),
        ("long", iso(0), iso(3), 11.0, 10.0, 3.0, -3.0, 0.9, -3.9),
    ])
    s = hand.strategies["B"].stats
    assert (s.realized, s.commission, s.net_pnl) == pytest.approx((-1.0, 1.2, -2.2))
    assert hand.strategies["B"].curve.equity == pytest.approx([-0.4, -0.8, 4.1, -2.2, -2.2, -2.2])
    c = s.curve
    assert c.max_drawdown == pytest.approx(6.3)  # from the 4.1 peak to -2.2
    assert c.capital == pytest.approx(44.0)  # long 4 x 11
    assert c.max_drawdown_pct == pytest.approx(6.3 / (44.0 + 4.1))
    tr = s.trades
    assert (tr.win_rate, tr.profit_factor, tr.avg_win, tr.avg_loss) == pytest.approx((0.5, 1.7 / 3.9, 1.7, -3.9))


def test_losing_only_strategy(hand: RunAnalysis) -> None:
    r = hand.strategies["L"]
    assert trips(hand, "L") == ([
        ("long", iso(0), iso(2), 20.0, 18.0, 1.0, -2.0, 1.0, -3.0),
        ("short", iso(3), iso(4), 17.0, 17.5, 1.0, -0.5, 0.0, -0.5),
    ])
    tr = r.stats.trades
    assert (tr.wins, tr.losses, tr.win_rate, tr.profit_factor, tr.avg_win) == (0, 2, 0.0, 0.0, None)
    assert tr.avg_loss == pytest.approx(-1.75)
    # Y has no bar 5: the run's grid holds its bar-4 mark there
    equity = [-0.5, -1.5, -3.0, -3.0, -3.5, -3.5]
    assert r.curve.equity == pytest.approx(equity)
    c = r.stats.curve
    assert (c.max_drawdown, c.capital, c.max_drawdown_pct) == pytest.approx((3.5, 20.0, 3.5 / 20.0))
    changes = np.diff(equity, prepend=0.0)
    assert c.sharpe == pytest.approx(changes.mean() / changes.std(ddof=1) * ANN)
    assert c.sharpe is not None and c.sharpe < 0
    assert c.sortino == pytest.approx(changes.mean() / math.sqrt(np.mean(changes**2)) * ANN)
    assert c.exposure == pytest.approx(3 / 6)
    y = r.symbols["Y"]
    assert y.curve.bars == 5 and y.curve.exposure == pytest.approx(3 / 5)


def test_strategy_that_never_trades(hand: RunAnalysis) -> None:
    r = hand.strategies["N"]
    s = r.stats
    assert r.symbols == {}
    assert (s.fills, s.realized, s.unrealized, s.commission, s.net_pnl, s.open_positions) == (0, 0, 0, 0, 0, 0)
    assert s.trades.round_trips == 0 and s.trades.win_rate is None and s.trades.profit_factor is None
    assert s.trades.avg_win is None and s.trades.avg_loss is None
    c = s.curve
    assert (c.max_drawdown, c.max_drawdown_pct, c.exposure, c.sharpe, c.sortino) == (0.0, 0.0, 0.0, None, None)
    assert list(r.curve.equity) == [0.0] * 6


def test_total_sums_the_strategies(hand: RunAnalysis) -> None:
    s = hand.total
    assert (s.realized, s.commission, s.net_pnl, s.fills) == pytest.approx((4.5, 7.2, -2.7, 11))
    assert hand.curve.equity == pytest.approx([-0.9, -3.3, -0.4, -3.7, -2.7, -2.7])
    assert s.curve.exposure == pytest.approx(4 / 6)  # nobody holds anything at bars 4 and 5
    tr = s.trades
    assert (tr.round_trips, tr.wins, tr.losses) == (6, 2, 3)
    assert tr.profit_factor == pytest.approx(4.7 / 7.4)
    assert s.curve.max_drawdown == pytest.approx(3.7)
    assert list(hand.strategies) == ["A", "B", "L", "N"]  # configuration order


def test_open_position_is_marked_at_the_last_close(tmp_path: Path) -> None:
    b = RunBuilder(tmp_path / "runs.db", ["O"], ["X"])
    b.bars("X", [10, 11, 12, 9]).fill("O", "X", 0, "BUY", 3, 10, 0.3).fill("O", "X", 2, "SELL", 1, 11)
    run_id = b.finish()
    a = analyse_run(open_runs_db(tmp_path / "runs.db"), run_id)
    x = a.strategies["O"].symbols["X"]
    assert (x.position, x.avg_price, x.last_close) == (2.0, 10.0, 9.0)
    assert (x.realized, x.unrealized, x.commission, x.net_pnl) == pytest.approx((1.0, -2.0, 0.3, -1.3))
    assert a.strategies["O"].stats.open_positions == 1
    assert trips(a, "O") == [("long", iso(0), iso(2), 10.0, 11.0, 1.0, 1.0, 0.1, 0.9)]
    assert a.strategies["O"].curve.equity == pytest.approx([-0.3, 2.7, 4.7, -1.3])
    assert float(a.ledger.open_commission[-1]) == pytest.approx(0.2)  # the open lots' share


def test_always_in_the_market_reversals_give_a_trip_each(tmp_path: Path) -> None:
    # the seed's round trips gave none for this strategy
    b = RunBuilder(tmp_path / "runs.db", ["R"], ["X"])
    b.bars("X", [10, 11, 12, 13, 14])
    for i, (side, qty) in enumerate([("BUY", 1), ("SELL", 2), ("BUY", 2), ("SELL", 2)]):
        b.fill("R", "X", i, side, qty, 10 + i)
    a = analyse_run(open_runs_db(tmp_path / "runs.db"), b.finish())
    assert [(d, q, g) for d, _, _, _, _, q, g, _, _ in trips(a, "R")] == [
        ("long", 1.0, 1.0), ("short", 1.0, -1.0), ("long", 1.0, 1.0)]
    assert a.strategies["R"].symbols["X"].position == -1.0


def test_summary_net_pnl_from_cash_flows_matches_the_fill_walk(hand: RunAnalysis, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    run_id = hand_run(db)
    conn = open_runs_db(db)
    assert net_pnl(conn, run_id) == pytest.approx(hand.total.net_pnl)
    [row] = list_runs(conn)
    assert (row.bars, row.fills, row.info.status) == (11, 11, "completed")


def test_loading_in_small_chunks_gives_the_same_arrays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "runs.db"
    b = RunBuilder(db, ["A"], ["Z", "X"])
    for i in range(7):  # interleaved as the recorder writes them: by time, then symbol
        b.bars("Z", [50.0 + i], start=i).bars("X", [10.0 + i], start=i)
    b.fill("A", "Z", 1, "BUY", 1, 51).fill("A", "X", 1, "SELL", 1, 11).fill("A", "Z", 3, "SELL", 1, 53)
    run_id = b.finish()
    whole = load_run(open_runs_db(db), run_id, ohlv=True)
    monkeypatch.setattr("recorder.analysis.load.CHUNK_ROWS", 2)
    chunked = load_run(open_runs_db(db), run_id, ohlv=True)
    assert whole.symbols == chunked.symbols == ("X", "Z")
    for field in ("ts", "symbol", "close", "open", "high", "low", "volume", "starts"):
        assert np.array_equal(getattr(whole.bars, field), getattr(chunked.bars, field))
    for field in ("ts", "symbol", "strategy", "quantity", "price", "commission"):
        assert np.array_equal(getattr(whole.fills, field), getattr(chunked.fills, field))
    bars = whole.bars
    assert list(bars.close[bars.span(0)]) == [10.0 + i for i in range(7)]  # X grouped, in time order
    assert list(bars.ts[bars.span(1)]) == [t(i) for i in range(7)]
    assert list(whole.fills.quantity) == [1.0, -1.0, -1.0] and list(whole.fills.symbol) == [1, 0, 1]
    assert whole.bars.symbol.dtype == np.int32 and whole.bars.ts.dtype == np.int64


@pytest.mark.parametrize(
    "period, per_year",
    [("MINUTE", 252 * 390), ("SECOND", 252 * 23_400), ("HOUR", 252 * 6.5), ("DAY", 252)],
)
def test_annualisation_by_bar_period(period: str, per_year: float) -> None:
    ann = annualisation(period, np.array([], dtype=np.int64))
    assert ann.periods_per_year == pytest.approx(per_year) and period in ann.basis


def test_annualisation_from_median_spacing_when_the_period_is_unknown() -> None:
    five_min = np.array([0, 300, 600, 900, 86_400, 86_700]) * 1_000_000_000  # an overnight gap
    ann = annualisation(None, five_min)
    assert ann.periods_per_year == pytest.approx(252 * 78) and "median bar spacing 300 s" in ann.basis
    weekly = np.arange(5) * 7 * 86_400 * 1_000_000_000
    assert annualisation(None, weekly).periods_per_year == pytest.approx(36)
