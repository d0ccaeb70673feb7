"""Names of the runs.db layout that the command line needs without loading the event types or
numpy: the record levels and the figures a run's metrics keep in columns of their own.

Record levels (`tickbus run --record`, `tickbus sweep --record`): `all` keeps every event;
`trades` all but the bars and what the strategies made of them (`bars`, `bars_processed`: the
bulk of a run's rows); `summary` the fills only. At every level the run row is written, and below
`all` the run's figures too (recorder/metrics.py), computed from the bars it replayed.
"""

from __future__ import annotations

RECORD_LEVELS = ("all", "trades", "summary")
BAR_TABLES = frozenset({"bars", "bars_processed"})

#: run_metrics' figure columns, and whether more is better (a sweep's ranking order).
METRIC_COLUMNS: dict[str, bool] = {
    "net_pnl": True, "sharpe": True, "sortino": True, "max_drawdown": False, "max_drawdown_pct": False,
    "fills": True, "round_trips": True, "win_rate": True, "profit_factor": True, "exposure": True,
}


def keeps(level: str, table: str) -> bool:
    """Whether a run recorded at `level` stores the rows of event table `table`."""
    if level == "summary":
        return table == "fills"
    if level == "trades":
        return table not in BAR_TABLES
    return True
