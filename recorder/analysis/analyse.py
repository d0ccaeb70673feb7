"""A run's results: statistics per (strategy, symbol), per strategy and in total.

Ties the pieces together: `load` (arrays), `ledger` (book and round trips), `equity` (curves),
`stats` (formulas). Every scope is computed from the runs database alone, with the engine's PnL
conventions: realized and unrealized are gross, commissions separate, net = gross - commissions.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import numpy as np

from recorder.analysis.catalog import RunInfo, get_run
from recorder.analysis.equity import Curve, SymbolCurve, symbol_curve
from recorder.analysis.ledger import Ledger, RoundTrips, build_ledger, group_order
from recorder.analysis.load import RunData, load_run
from recorder.analysis.stats import Annualisation, Stats, annualisation, curve_stats, trade_stats
from recorder.analysis.timefmt import iso_ns


@dataclass(frozen=True)
class StrategyResult:
    strategy_id: str
    stats: Stats
    symbols: dict[str, Stats]  # only the symbols the strategy traded
    curve: Curve


@dataclass(frozen=True)
class RunAnalysis:
    data: RunData
    ledger: Ledger
    annualisation: Annualisation
    capital: float | None  # as given; None = each scope's peak gross exposure
    strategies: dict[str, StrategyResult]  # every configured strategy, traded or not
    total: Stats
    curve: Curve  # all strategies on the run's time grid
    #: For a run recorded without its bars (recorder/metrics.py): what its stored figures saw of
    #: the bars it replayed (bars, symbols, bar_period, first/last_bar_ns); None otherwise.
    replayed: dict[str, Any] | None = None

    @property
    def info(self) -> RunInfo:
        return self.data.info

    @property
    def round_trips(self) -> RoundTrips:
        return self.ledger.round_trips

    def round_trip_records(self, limit: int | None = None) -> list[dict[str, Any]]:
        rt = self.round_trips
        n = len(rt) if limit is None else min(limit, len(rt))
        net = rt.net_pnl
        return [
            {
                "strategy_id": self.data.strategies[int(rt.strategy[i])],
                "symbol": self.data.symbols[int(rt.symbol[i])],
                "direction": "long" if rt.direction[i] > 0 else "short",
                "entry_time": iso_ns(int(rt.entry_ts[i])),
                "exit_time": iso_ns(int(rt.exit_ts[i])),
                "entry_price": float(rt.entry_price[i]),
                "exit_price": float(rt.exit_price[i]),
                "quantity": float(rt.quantity[i]),
                "gross_pnl": float(rt.gross_pnl[i]),
                "commission": float(rt.commission[i]),
                "net_pnl": float(net[i]),
            }
            for i in range(n)
        ]

    def to_dict(self, *, round_trips: bool = False) -> dict[str, Any]:
        bars = self.data.bars
        seen = self.replayed
        out: dict[str, Any] = {
            "run": self.info.to_dict(),
            "recorded": {
                "bars": len(bars), "fills": len(self.data.fills), "symbols": list(self.data.symbols),
                "first_bar": iso_ns(int(bars.ts.min())) if len(bars) else None,
                "last_bar": iso_ns(int(bars.ts.max())) if len(bars) else None,
                "bar_period": bars.bar_period,
            } if seen is None else {
                "bars": 0, "bars_replayed": seen.get("bars"), "fills": len(self.data.fills), "symbols": seen.get("symbols"),
                "first_bar": iso_ns(seen.get("first_bar_ns")), "last_bar": iso_ns(seen.get("last_bar_ns")),
                "bar_period": seen.get("bar_period"), "record": self.info.record_level,
            },
            "annualisation": self.annualisation.to_dict(),
            "capital": self.capital if self.capital is not None else "peak gross exposure",
            "total": self.total.to_dict(),
            "strategies": {
                sid: {"total": r.stats.to_dict(), "symbols": {s: st.to_dict() for s, st in r.symbols.items()}}
                for sid, r in self.strategies.items()
            },
        }
        if round_trips:
            out["round_trips"] = self.round_trip_records()
        return out


def _group_bounds(keys: np.ndarray) -> list[tuple[int, int, int]]:
    """(key, start, end) of each run of equal values in a sorted key array."""
    if not len(keys):
        return []
    cuts = np.flatnonzero(np.diff(keys)) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [len(keys)]))
    return [(int(keys[s]), int(s), int(e)) for s, e in zip(starts, ends)]


def _sum_stats(parts: list[Stats], net: np.ndarray, curve: Curve, ann: Annualisation, capital: float | None) -> Stats:
    return Stats(
        fills=sum(p.fills for p in parts),
        realized=sum(p.realized for p in parts),
        unrealized=sum(p.unrealized for p in parts),
        commission=sum(p.commission for p in parts),
        net_pnl=sum(p.net_pnl for p in parts),
        open_positions=sum(p.open_positions for p in parts),
        trades=trade_stats(net),
        curve=curve_stats(curve.equity, curve.in_market, curve.gross_exposure, ann, capital),
    )


def analyse(data: RunData, *, capital: float | None = None) -> RunAnalysis:
    """Every figure of a loaded run. `capital` is the base of drawdown % (see stats)."""
    fills, bars = data.fills, data.bars
    ledger = build_ledger(fills)
    grid = np.unique(bars.ts)
    ann = annualisation(bars.bar_period, grid)
    n_sym = max(len(data.symbols), 1)
    order = group_order(fills)
    fill_groups = _group_bounds((fills.strategy[order].astype(np.int64) * n_sym + fills.symbol[order]))
    rt = ledger.round_trips
    trip_keys = rt.strategy.astype(np.int64) * n_sym + rt.symbol
    net = rt.net_pnl

    strategies: dict[str, StrategyResult] = {}
    for code, sid in enumerate(data.strategies):
        curve = Curve.zeros(grid)
        per_symbol: dict[str, Stats] = {}
        for key, start, end in fill_groups:
            if key // n_sym != code:
                continue
            sym = key % n_sym
            idx = order[start:end]
            span = bars.span(sym)
            sc = symbol_curve(ledger, idx, fills.ts[idx], bars.ts[span], bars.close[span])
            if len(sc.equity):
                curve.add_changes(np.searchsorted(grid, bars.ts[span]), sc)
            t0, t1 = np.searchsorted(trip_keys, [key, key + 1])
            per_symbol[data.symbols[sym]] = _symbol_stats(ledger, idx, fills, sc, net[t0:t1], ann, capital)
        curve.finish()
        trips = net[rt.strategy == code]
        strategies[sid] = StrategyResult(sid, _sum_stats(list(per_symbol.values()), trips, curve, ann, capital), per_symbol, curve)

    total_curve = Curve.zeros(grid)
    for r in strategies.values():
        total_curve = total_curve + r.curve
    total = _sum_stats([r.stats for r in strategies.values()], net, total_curve, ann, capital)
    return RunAnalysis(data, ledger, ann, capital, strategies, total, total_curve)


def _symbol_stats(
    ledger: Ledger, idx: np.ndarray, fills: Any, sc: SymbolCurve, net: np.ndarray, ann: Annualisation, capital: float | None
) -> Stats:
    last = int(idx[-1])
    pos, avg = float(ledger.position[last]), float(ledger.avg_price[last])
    mark = float(sc.close[-1]) if len(sc.close) else float(fills.price[last])
    unrealized = pos * (mark - avg) if pos else 0.0
    realized, commission = float(ledger.realized[last]), float(ledger.commission[last])
    return Stats(
        fills=len(idx),
        realized=realized,
        unrealized=unrealized,
        commission=commission,
        net_pnl=realized + unrealized - commission,
        open_positions=int(pos != 0.0),
        trades=trade_stats(net),
        curve=curve_stats(sc.equity, sc.in_market, sc.gross_exposure, ann, capital),
        position=pos,
        avg_price=avg if pos else None,
        last_close=mark,
    )


def analyse_run(conn: sqlite3.Connection, run_id: str, *, capital: float | None = None, ohlv: bool = False) -> RunAnalysis:
    """Load and analyse one run (`latest` for the newest). A run recorded without its bars is
    read from its stored figures (recorder/metrics.py; `capital` cannot change those)."""
    from recorder import metrics

    info = get_run(conn, run_id)
    if info.record_level != "all":
        stored = metrics.stored_analysis(conn, info)
        if stored is not None:
            return stored
    return analyse(load_run(conn, info.run_id, ohlv=ohlv), capital=capital)
