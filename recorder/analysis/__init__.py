"""Reading and analysing recorded runs, from the runs database alone.

    from recorder.analysis import open_runs_db, analyse_run
    conn = open_runs_db("runs.db")
    a = analyse_run(conn, "latest")            # or a run id
    a.total.net_pnl, a.total.curve.sharpe       # the whole run
    a.strategies["SMA-Crossover"].symbols["SYM000"].trades.win_rate
    a.round_trips                               # columnar numpy arrays
    a.curve.ts, a.curve.equity                  # net PnL at every bar close

Modules: `catalog` (run rows, id look-up), `load` (bars and fills into numpy arrays, streaming),
`ledger` (positions and round trips), `equity` (mark-to-market curves), `stats` (the formulas and
the annualisation), `analyse` (all scopes), `summary` (`runs list` aggregates), `compare` (same
events?).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recorder.analysis.analyse import RunAnalysis, StrategyResult, analyse_run
    from recorder.analysis.catalog import LATEST, RunInfo, UnknownRunError, get_run, open_runs_db, run_ids
    from recorder.analysis.compare import Comparison, TableComparison, compare_runs
    from recorder.analysis.equity import Curve
    from recorder.analysis.ledger import Ledger, RoundTrips, build_ledger
    from recorder.analysis.load import Bars, Fills, RunData, load_run
    from recorder.analysis.stats import Annualisation, CurveStats, Stats, TradeStats
    from recorder.analysis.summary import RunSummary, list_runs, net_pnl

# Each name's module, imported on first use (`analyse` itself is the submodule: a lazy package
# attribute cannot shadow a submodule's name): a run imports `timefmt` (stdlib only) without
# paying for numpy and the analysis modules (~0.2 s of start-up).
_MODULES = {
    "analyse": ("RunAnalysis", "StrategyResult", "analyse_run"),
    "catalog": ("LATEST", "RunInfo", "UnknownRunError", "get_run", "open_runs_db", "run_ids"),
    "compare": ("Comparison", "TableComparison", "compare_runs"),
    "equity": ("Curve",),
    "ledger": ("Ledger", "RoundTrips", "build_ledger"),
    "load": ("Bars", "Fills", "RunData", "load_run"),
    "stats": ("Annualisation", "CurveStats", "Stats", "TradeStats"),
    "summary": ("RunSummary", "list_runs", "net_pnl"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "LATEST", "Annualisation", "Bars", "Comparison", "Curve", "CurveStats", "Fills", "Ledger", "RoundTrips",
    "RunAnalysis", "RunData", "RunInfo", "RunSummary", "Stats", "StrategyResult", "TableComparison", "TradeStats",
    "UnknownRunError", "analyse_run", "build_ledger", "compare_runs", "get_run", "list_runs", "load_run",
    "net_pnl", "open_runs_db", "run_ids",
]
