"""One line per run for `tickbus runs list`, from SQL aggregates only (no bar is loaded).

Total net PnL needs no position walk: with average-cost accounting, realized + unrealized over a
symbol's life is its cash flow plus the final position marked at the last close, so
net = sum(-signed qty x price) + position x last close - commissions, per symbol. The same
figure `analyse` reaches fill by fill (the tests check both agree).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from recorder.analysis.catalog import RunInfo, all_runs, count_rows
from recorder.analysis.load import snapshot


@dataclass(frozen=True)
class RunSummary:
    info: RunInfo
    bars: int
    fills: int
    net_pnl: float

    def to_dict(self) -> dict[str, Any]:
        i = self.info
        return {
            "run_id": i.run_id, "status": i.shown_status, "orchestrator_gone": i.orchestrator_gone(),
            "strategies": i.strategy_ids, "symbols": i.symbols,
            "bars": self.bars, "fills": self.fills, "net_pnl": self.net_pnl,
            "ts_start": i.ts_start, "ts_end": i.ts_end, "wall_time_s": round(i.wall_time_s, 3),
        }


def net_pnl(conn: sqlite3.Connection, run_id: str) -> float:
    """Net PnL of all the run's strategies at each symbol's last close."""
    total = 0.0
    rows = conn.execute(
        "SELECT symbol, SUM(CASE WHEN side = 'BUY' THEN quantity_filled ELSE -quantity_filled END),"
        " SUM(CASE WHEN side = 'BUY' THEN -quantity_filled ELSE quantity_filled END * fill_price),"
        " SUM(commission) FROM fills WHERE run_id = ? GROUP BY symbol",
        (run_id,),
    ).fetchall()
    for symbol, position, cash, commission in rows:
        total += cash - commission
        if position:
            mark = conn.execute(
                "SELECT close FROM bars WHERE run_id = ? AND symbol = ? ORDER BY ts_event_ns DESC LIMIT 1", (run_id, symbol)
            ).fetchone() or conn.execute(
                "SELECT fill_price FROM fills WHERE run_id = ? AND symbol = ? ORDER BY ts_event_ns DESC, id DESC LIMIT 1",
                (run_id, symbol),
            ).fetchone()
            total += position * mark[0]
    return total


def _stored(conn: sqlite3.Connection, info: RunInfo) -> tuple[int, float] | None:
    """(bars replayed, net PnL) from the stored figures of a run recorded without its bars."""
    row = conn.execute("SELECT net_pnl, json_extract(stats, '$.data.bars') FROM run_metrics"
                       " WHERE run_id = ? AND strategy_id = '' AND symbol = ''", (info.run_id,)).fetchone()
    return None if row is None else (int(row[1] or 0), float(row[0] or 0.0))


def summarise(conn: sqlite3.Connection, info: RunInfo) -> RunSummary:
    with snapshot(conn):
        fills = count_rows(conn, "fills", info.run_id)
        stored = _stored(conn, info) if info.record_level != "all" else None
        if stored is not None:
            return RunSummary(info, stored[0], fills, stored[1])
        return RunSummary(info, count_rows(conn, "bars", info.run_id), fills, net_pnl(conn, info.run_id))


def list_runs(conn: sqlite3.Connection) -> list[RunSummary]:
    """Every run, newest first."""
    return [summarise(conn, info) for info in all_runs(conn)]
