"""Equity curves marked to market at every bar close.

A (strategy, symbol) curve lives on that symbol's bars: at each close, net PnL = realized -
commissions (of the fills up to and including that bar's time: a fill at time t happened at or
before the close of bar t) + position x (close - average cost). Curves of many symbols are summed
on the run's time grid (every distinct bar time) by adding each symbol's changes at its own bar
times and taking a cumulative sum, so the cost is O(bars), not O(symbols x grid); between two of
its bars a symbol keeps its last mark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from components.positions import FLAT_EPSILON
from recorder.analysis.ledger import Ledger


@dataclass(frozen=True)
class SymbolCurve:
    """One (strategy, symbol) on its symbol's bars."""

    equity: np.ndarray  # net PnL at each close
    position: np.ndarray  # signed position held at each close
    close: np.ndarray

    @property
    def gross_exposure(self) -> np.ndarray:
        return np.abs(self.position) * self.close

    @property
    def in_market(self) -> np.ndarray:
        return np.abs(self.position) > FLAT_EPSILON


def symbol_curve(ledger: Ledger, fill_idx: np.ndarray, fill_ts: np.ndarray, bar_ts: np.ndarray, close: np.ndarray) -> SymbolCurve:
    """`fill_idx`: the group's fill indexes in time order; `fill_ts`: their times."""
    if not len(fill_idx):
        zeros = np.zeros(len(bar_ts))
        return SymbolCurve(zeros, zeros, close)
    j = np.searchsorted(fill_ts, bar_ts, side="right") - 1
    seen = j >= 0
    at = fill_idx[np.maximum(j, 0)]
    pos = np.where(seen, ledger.position[at], 0.0)
    avg = np.where(seen, ledger.avg_price[at], 0.0)
    booked = np.where(seen, ledger.realized[at] - ledger.commission[at], 0.0)
    return SymbolCurve(booked + pos * (close - avg), pos, close)


@dataclass
class Curve:
    """Curve of several symbols (and strategies) on the run's time grid."""

    ts: np.ndarray  # the grid (shared, not copied)
    equity: np.ndarray
    gross_exposure: np.ndarray
    open_positions: np.ndarray  # number of (strategy, symbol) positions open at each grid time

    @classmethod
    def zeros(cls, grid: np.ndarray) -> Curve:
        n = len(grid)
        return cls(grid, np.zeros(n), np.zeros(n), np.zeros(n, dtype=np.int64))

    @property
    def in_market(self) -> np.ndarray:
        return self.open_positions > 0

    def add_changes(self, grid_idx: np.ndarray, sc: SymbolCurve) -> None:
        """Accumulate one symbol's changes (call `finish` after the last)."""
        self.equity[grid_idx] += np.diff(sc.equity, prepend=0.0)
        self.gross_exposure[grid_idx] += np.diff(sc.gross_exposure, prepend=0.0)
        self.open_positions[grid_idx] += np.diff(sc.in_market.astype(np.int64), prepend=0)

    def finish(self) -> None:
        np.cumsum(self.equity, out=self.equity)
        np.cumsum(self.gross_exposure, out=self.gross_exposure)
        np.cumsum(self.open_positions, out=self.open_positions)

    def __add__(self, other: Curve) -> Curve:
        return Curve(self.ts, self.equity + other.equity, self.gross_exposure + other.gross_exposure,
                     self.open_positions + other.open_positions)
