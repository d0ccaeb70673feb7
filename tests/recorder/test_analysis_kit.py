"""Builds runs.db files by hand (runsdb.connect + create_run + inserts) for hand-computed cases.

Imported by the analysis, compare and report tests; its own test checks the builder writes what
the recorder would (the same tables and columns).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from recorder import runsdb

T0 = 1_704_196_800_000_000_000  # 2024-01-02 12:00:00 UTC
MINUTE = 60_000_000_000


def t(i: int) -> int:
    """Market time of bar i."""
    return T0 + i * MINUTE


class RunBuilder:
    """One run in a runs.db: bars per symbol, fills per strategy, then a final status."""

    def __init__(self, path: Path, strategies: list[str], symbols: list[str], bar_period: str = "MINUTE") -> None:
        self.conn: sqlite3.Connection = runsdb.connect(path)
        config: dict[str, Any] = {
            "mode": "backtest", "symbols": symbols, "strategies": strategies, "start_date": None, "end_date": None,
            "in_process": True,
            "components": {
                "strategies": [{"strategy_id": s, "spec": {"base": f"tests:{s}", "name": s, "attrs": {}}} for s in strategies],
                "broker": {"base": "components.broker:SimulatedBroker", "name": "SimulatedBroker", "attrs": {}},
                "datafeed": {"base": "components.datafeed:SimulatedDatafeed", "name": "SimulatedDatafeed", "attrs": {}},
            },
            "versions": {"tickbus": "test"},
        }
        self.run_id = runsdb.create_run(self.conn, strategies, config)
        self.bar_period = bar_period
        self._fills = 0

    def bars(self, symbol: str, closes: list[float], start: int = 0, times: list[int] | None = None) -> RunBuilder:
        times = times or [t(start + i) for i in range(len(closes))]
        self.conn.executemany(
            "INSERT INTO bars (run_id, ts_event_ns, ts_created_ns, symbol, bar_period, open, high, low, close, volume)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(self.run_id, ts, 1, symbol, self.bar_period, c, c + 0.5, c - 0.5, c, 100) for ts, c in zip(times, closes)],
        )
        return self

    def fill(self, strategy: str, symbol: str, i: int, side: str, qty: float, price: float, commission: float = 0.0) -> RunBuilder:
        self._fills += 1
        n = self._fills
        self.conn.execute(
            "INSERT INTO fills (run_id, ts_event_ns, ts_created_ns, ts_broker_ns, associated_order_id, broker_order_id,"
            " symbol, fill_id, broker_fill_id, side, quantity_filled, fill_price, commission, exchange, strategy_id)"
            " VALUES (?, ?, ?, ?, ?, NULL, ?, ?, NULL, ?, ?, ?, ?, 'SIMULATED', ?)",
            (self.run_id, t(i), 1, t(i), f"{strategy}-{n}", symbol, f"{strategy}-{n}-F", side, qty, price, commission, strategy),
        )
        return self

    def finish(self, status: str = "completed", error: str | None = None) -> str:
        if status != "running":
            runsdb.finish_run(self.conn, self.run_id, status, error)
        self.conn.close()
        return self.run_id


def hand_run(path: Path) -> str:
    """The hand-computed run of test_analysis.py (every figure there is worked out by hand).

    X closes 10 11 12 11 10 9 (bars 0-5); Y closes 20 19 18 17 16 (bars 0-4, none at 5).
    A (reversal, commissions): buy 2 @ 11 (fee 1) at 1; sell 5 @ 12 (fee 2.5) at 2; buy 3 @ 10 (fee 1.5) at 4.
    B (partial exits): buy 2 @ 10 (fee .4) at 0; buy 2 @ 12 (fee .4) at 1; sell 1 @ 13 (fee .1) at 2;
      sell 3 @ 10 (fee .3) at 3.
    L (loses only, on Y): buy 1 @ 20 (fee .5) at 0; sell 1 @ 18 (fee .5) at 2; sell 1 @ 17 at 3; buy 1 @ 17.5 at 4.
    N never trades.
    """
    b = RunBuilder(path, ["A", "B", "L", "N"], ["X", "Y"])
    b.bars("X", [10, 11, 12, 11, 10, 9]).bars("Y", [20, 19, 18, 17, 16])
    b.fill("A", "X", 1, "BUY", 2, 11, 1.0).fill("A", "X", 2, "SELL", 5, 12, 2.5).fill("A", "X", 4, "BUY", 3, 10, 1.5)
    b.fill("B", "X", 0, "BUY", 2, 10, 0.4).fill("B", "X", 1, "BUY", 2, 12, 0.4)
    b.fill("B", "X", 2, "SELL", 1, 13, 0.1).fill("B", "X", 3, "SELL", 3, 10, 0.3)
    b.fill("L", "Y", 0, "BUY", 1, 20, 0.5).fill("L", "Y", 2, "SELL", 1, 18, 0.5)
    b.fill("L", "Y", 3, "SELL", 1, 17).fill("L", "Y", 4, "BUY", 1, 17.5)
    return b.finish()


def test_builder_writes_rows_the_recorder_schema_accepts(tmp_path: Path) -> None:
    run_id = hand_run(tmp_path / "runs.db")
    conn = runsdb.connect(tmp_path / "runs.db", create=False)
    assert conn.execute("SELECT COUNT(*) FROM bars WHERE run_id = ?", (run_id,)).fetchone()[0] == 11
    assert conn.execute("SELECT COUNT(*) FROM fills WHERE run_id = ?", (run_id,)).fetchone()[0] == 11
