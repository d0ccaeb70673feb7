"""Which figures the outputs show, in which order, with which label and format (one list, so
`runs show` and `runs report` never disagree)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from recorder.analysis.analyse import RunAnalysis
from recorder.analysis.stats import Stats
from recorder.report import fmt

Metric = tuple[str, Callable[[Stats], Any], Callable[[Any], str]]

METRICS: list[Metric] = [
    ("net PnL", lambda s: s.net_pnl, fmt.money),
    ("realized PnL (gross)", lambda s: s.realized, fmt.money),
    ("unrealized PnL (gross, last close)", lambda s: s.unrealized, fmt.money),
    ("commissions", lambda s: s.commission, fmt.money),
    ("open positions", lambda s: s.open_positions, fmt.count),
    ("fills", lambda s: s.fills, fmt.count),
    ("round trips", lambda s: s.trades.round_trips, fmt.count),
    ("wins / losses", lambda s: f"{s.trades.wins:,} / {s.trades.losses:,}", str),
    ("win rate", lambda s: s.trades.win_rate, fmt.pct),
    ("profit factor", lambda s: s.trades.profit_factor, fmt.ratio),
    ("average win", lambda s: s.trades.avg_win, fmt.money),
    ("average loss", lambda s: s.trades.avg_loss, fmt.money),
    ("max drawdown", lambda s: s.curve.max_drawdown, fmt.money),
    ("max drawdown %", lambda s: s.curve.max_drawdown_pct, fmt.pct),
    ("capital (drawdown % base)", lambda s: s.curve.capital, fmt.money),
    ("exposure (time in market)", lambda s: s.curve.exposure, fmt.pct),
    ("Sharpe (annualised)", lambda s: s.curve.sharpe, fmt.ratio),
    ("Sortino (annualised)", lambda s: s.curve.sortino, fmt.ratio),
]

SYMBOL_COLUMNS: list[Metric] = [
    ("fills", lambda s: s.fills, fmt.count),
    ("trips", lambda s: s.trades.round_trips, fmt.count),
    ("position", lambda s: s.position, fmt.qty),
    ("avg price", lambda s: s.avg_price, fmt.price),
    ("last close", lambda s: s.last_close, fmt.price),
    ("realized", lambda s: s.realized, fmt.money),
    ("unrealized", lambda s: s.unrealized, fmt.money),
    ("commissions", lambda s: s.commission, fmt.money),
    ("net PnL", lambda s: s.net_pnl, fmt.money),
    ("win rate", lambda s: s.trades.win_rate, fmt.pct),
    ("max DD", lambda s: s.curve.max_drawdown, fmt.money),
    ("exposure", lambda s: s.curve.exposure, fmt.pct),
    ("Sharpe", lambda s: s.curve.sharpe, fmt.ratio),
]


def scopes(a: RunAnalysis) -> list[tuple[str, Stats]]:
    """('total', run stats) then one per strategy, configuration order."""
    return [("total", a.total)] + [(sid, r.stats) for sid, r in a.strategies.items()]


def metric_rows(a: RunAnalysis) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the figures table: one row per metric, one column per scope."""
    sc = scopes(a)
    header = ["", *(name for name, _ in sc)]
    return header, [[label, *(f(get(s)) for _, s in sc)] for label, get, f in METRICS]


def symbol_rows(a: RunAnalysis) -> tuple[list[str], list[list[str]]]:
    header = ["strategy", "symbol", *(label for label, _, _ in SYMBOL_COLUMNS)]
    rows = [
        [sid, sym, *(f(get(st)) for _, get, f in SYMBOL_COLUMNS)]
        for sid, r in a.strategies.items()
        for sym, st in r.symbols.items()
    ]
    return header, rows


def footnotes(a: RunAnalysis) -> list[str]:
    cap = "given" if a.capital is not None else "each scope's peak gross exposure (sum of |position| x close); set with --capital"
    return [
        "PnL: realized and unrealized are gross; net = realized + unrealized - commissions, marked at each symbol's last close.",
        "Round trips: every reducing fill closes one (a reversal closes one and opens the next); entry price = average cost;"
        " wins/losses by net PnL.",
        f"Sharpe / Sortino: mean / std (downside deviation) of per-bar net equity changes, risk-free 0,"
        f" x sqrt({a.annualisation.periods_per_year:,.6g}) = x {a.annualisation.factor:,.2f}; {a.annualisation.basis}.",
        f"Drawdown %: of capital + peak PnL; capital = {cap}.",
        "Exposure: share of bar closes with an open position.",
    ] + ([a.info.attribution_note] if a.info.attribution_note else [])
