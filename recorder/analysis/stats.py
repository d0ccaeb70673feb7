"""Performance figures from round trips and an equity curve: one formula each, stated here.

* Wins and losses are round trips with net PnL (after commissions) > 0 and < 0; win rate is
  wins / round trips; profit factor is the sum of winning net PnL over the absolute sum of losing
  net PnL (None with no losing trip); average win / loss are means of those nets.
* Drawdown is measured on net equity (PnL marked to market at every bar close, starting at 0):
  max of peak - equity. The percentage is of `capital + peak PnL`; a backtest has no account
  size, so capital defaults to the peak gross exposure (sum of |position| x close), the money
  needed to hold the largest position without leverage.
* Sharpe = mean / std (ddof 1) and Sortino = mean / downside deviation (root mean square of the
  negative changes, over all periods) of per-bar equity changes, risk-free rate 0, multiplied by
  sqrt(periods per year); see `Annualisation`. Both are None when undefined (no variation).
* Exposure is the fraction of bar closes at which a position is open.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

TRADING_DAYS = 252
SESSION_HOURS = 6.5
_NS_HOUR = 3_600_000_000_000
_NS_DAY = 24 * _NS_HOUR
_BAR_NS = {"SECOND": 1_000_000_000, "MINUTE": 60_000_000_000, "HOUR": _NS_HOUR, "DAY": _NS_DAY}


@dataclass(frozen=True)
class Annualisation:
    """How per-bar Sharpe/Sortino become annual: x sqrt(periods_per_year)."""

    periods_per_year: float
    basis: str

    @property
    def factor(self) -> float:
        return math.sqrt(self.periods_per_year)

    def to_dict(self) -> dict[str, Any]:
        return {"periods_per_year": self.periods_per_year, "factor": self.factor, "basis": self.basis}


def annualisation(bar_period: str | None, ts: np.ndarray) -> Annualisation:
    """Periods per year for bars: 252 trading days for daily bars; for intraday bars 252 days of
    6.5-hour sessions (MINUTE: 252 x 390 = 98,280). The bar length comes from the recorded
    bar_period, else from the median spacing of the bar times."""
    how = f"bar_period {bar_period}"
    bar_ns = _BAR_NS.get(bar_period or "")
    if bar_ns is None:
        spacing = np.diff(np.unique(ts))
        bar_ns = int(np.median(spacing)) if len(spacing) else _NS_DAY
        how = f"median bar spacing {bar_ns / 1e9:g} s"
    if bar_ns >= _NS_DAY:
        per_year = TRADING_DAYS * _NS_DAY / bar_ns
        return Annualisation(per_year, f"{per_year:,.6g} bars/year: {TRADING_DAYS} trading days ({how})")
    per_day = SESSION_HOURS * _NS_HOUR / bar_ns
    per_year = TRADING_DAYS * per_day
    return Annualisation(
        per_year, f"{per_year:,.6g} bars/year: {TRADING_DAYS} days x {per_day:,.6g} bars of a {SESSION_HOURS} h session ({how})"
    )


@dataclass(frozen=True)
class TradeStats:
    round_trips: int
    wins: int
    losses: int
    win_rate: float | None
    profit_factor: float | None
    avg_win: float | None
    avg_loss: float | None
    gross_profit: float  # sum of winning trips' net PnL
    gross_loss: float  # sum of losing trips' net PnL (<= 0)


def trade_stats(net: np.ndarray) -> TradeStats:
    """Figures of a set of round trips from their net PnLs."""
    wins, losses = net[net > 0.0], net[net < 0.0]
    profit, loss = float(wins.sum()), float(losses.sum())
    return TradeStats(
        round_trips=len(net),
        wins=len(wins),
        losses=len(losses),
        win_rate=len(wins) / len(net) if len(net) else None,
        profit_factor=profit / -loss if len(losses) else None,
        avg_win=float(wins.mean()) if len(wins) else None,
        avg_loss=float(losses.mean()) if len(losses) else None,
        gross_profit=profit,
        gross_loss=loss,
    )


@dataclass(frozen=True)
class CurveStats:
    max_drawdown: float
    max_drawdown_pct: float | None  # fraction (0.05 = 5 %) of capital + peak PnL
    capital: float
    exposure: float
    sharpe: float | None
    sortino: float | None
    bars: int


def drawdown(equity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(peak so far, drawdown = peak - equity) at each point; the peak starts at 0 (no PnL yet)."""
    peak = np.maximum.accumulate(np.maximum(equity, 0.0)) if len(equity) else equity
    return peak, peak - equity


def curve_stats(
    equity: np.ndarray, in_market: np.ndarray, gross_exposure: np.ndarray, ann: Annualisation, capital: float | None
) -> CurveStats:
    """Figures of one equity curve (net PnL at each bar close)."""
    peak, dd = drawdown(equity)
    base = float(gross_exposure.max()) if capital is None and len(gross_exposure) else float(capital or 0.0)
    max_dd = float(dd.max()) if len(dd) else 0.0
    pct: float | None = 0.0
    if max_dd > 0.0:
        denom = base + peak
        ok = denom > 0.0
        pct = float((dd[ok] / denom[ok]).max()) if ok.any() else None
    changes = np.diff(equity, prepend=0.0)
    sharpe = sortino = None
    if len(changes) > 1:
        mean = float(changes.mean())
        std = float(changes.std(ddof=1))
        if std > 1e-12 * max(1.0, abs(mean)):
            sharpe = mean / std * ann.factor
        downside = math.sqrt(float(np.mean(np.minimum(changes, 0.0) ** 2)))
        if downside > 0.0:
            sortino = mean / downside * ann.factor
    return CurveStats(
        max_drawdown=max_dd,
        max_drawdown_pct=pct,
        capital=base,
        exposure=float(in_market.mean()) if len(in_market) else 0.0,
        sharpe=sharpe,
        sortino=sortino,
        bars=len(equity),
    )


@dataclass(frozen=True)
class Stats:
    """All figures of one scope: a (strategy, symbol), a strategy, or the whole run."""

    fills: int
    realized: float  # gross
    unrealized: float  # gross, at the last close
    commission: float
    net_pnl: float  # realized + unrealized - commission
    open_positions: int  # symbols with a position at the end
    trades: TradeStats
    curve: CurveStats
    # one symbol only
    position: float | None = None
    avg_price: float | None = None
    last_close: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        flat = {k: v for k, v in d.items() if k not in ("trades", "curve")}
        flat.update(d["trades"])
        flat.update(d["curve"])
        return flat
