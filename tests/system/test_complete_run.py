"""A complete multi-process run: every event type recorded, own fills, determinism across modes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from systemkit import EXERCISER, make_orchestrator, processes_mentioning, recorded_events

from components.spec import configured
from orchestrator.strategies import resolve, with_parameters


def exercisers() -> list[type]:
    ex = resolve(f"{EXERCISER}:Exerciser")
    a = with_parameters(ex, {}, ["SYM000"])
    b = configured(ex, "_ExerciserB", strategy_id="ExB", symbols=["SYM000"])
    return [a, b]


def test_every_event_type_is_recorded_and_each_strategy_gets_its_own_fills(secmaster: Path, tmp_path: Path) -> None:
    runs_db = tmp_path / "runs.db"
    orch = make_orchestrator(secmaster, runs_db, exercisers())
    result = orch.run()
    assert result.status == "completed", result.error
    assert result.strategy_ids == ["Exerciser", "ExB"]
    assert processes_mentioning(str(orch.run_dir)) == []
    conn = sqlite3.connect(runs_db)
    count = lambda table, where="1": conn.execute(  # noqa: E731
        f"SELECT COUNT(*) FROM {table} WHERE run_id = ? AND {where}", (result.run_id,)).fetchone()[0]
    assert count("bars") == 300  # only the symbol the strategies trade is replayed
    assert count("bars_processed") == 2 * 300  # each strategy, its one symbol
    for sid in ("Exerciser", "ExB"):
        own = f"strategy_id = '{sid}'"
        assert count("order_submissions", own) == 9
        assert count("orders_accepted", own) == 8
        assert count("orders_rejected", own + " AND rejection_reason = 'INVALID_QUANTITY'") == 1
        assert count("order_modifications", own) == 1 and count("modifications_accepted", own) == 1
        # expires_after_bars=2 ends its order by a cancellation at its second bar
        assert count("order_cancellations", own) == 3
        assert count("cancellations_accepted", own) == 2
        assert count("cancellations_rejected", own + " AND rejection_reason = 'ORDER_ALREADY_CLOSED'") == 1
        assert count("expirations", own) == 1 + 1  # expires_at_ns, expires_in
        fills = conn.execute(
            "SELECT associated_order_id, side, quantity_filled, commission FROM fills WHERE run_id=? AND strategy_id=? ORDER BY ts_event_ns",
            (result.run_id, sid)).fetchall()
        # market buy 1, stop buy 1, limit sell 3 (reversal to -1), stop-limit buy 1 (flat)
        assert [(f[1], f[2]) for f in fills] == [("BUY", 1.0), ("BUY", 1.0), ("SELL", 3.0), ("BUY", 1.0)]
        assert all(f[0].startswith(f"{sid}-") for f in fills)
        assert fills[2][3] == pytest.approx(0.03)
    status, ts_end = conn.execute("SELECT status, ts_end FROM runs WHERE run_id=?", (result.run_id,)).fetchone()
    assert status == "completed" and ts_end


def test_same_run_in_process_and_multi_process_records_identical_events(secmaster: Path, tmp_path: Path) -> None:
    runs_db = tmp_path / "runs.db"
    sma = with_parameters(resolve("SMACrossover"), {"fast_period": "5", "slow_period": "20"}, None)
    rsi = resolve("RSIMeanReversion")
    strategies = [sma, rsi, *exercisers()]
    results = [make_orchestrator(secmaster, runs_db, strategies, in_process=True).run()]
    results += [make_orchestrator(secmaster, runs_db, strategies).run() for _ in range(2)]
    results += [make_orchestrator(secmaster, runs_db, strategies, transport="tcp").run()]
    results += [make_orchestrator(secmaster, runs_db, strategies, broker_in_bus=False).run()]  # its own process
    assert [r.status for r in results] == ["completed"] * 5, [r.error for r in results]
    assert len({r.run_id for r in results}) == 5
    reference = recorded_events(runs_db, results[0].run_id)
    assert len(reference["fills"]) > 20 and len(reference["expirations"]) > 0
    for r in results[1:]:
        assert recorded_events(runs_db, r.run_id) == reference
