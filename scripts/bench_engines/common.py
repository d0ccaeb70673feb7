"""Shared by the SMA-X benchmark and its engine runners: data loading, periods, fills files.

A fill is the tuple (strategy, symbol, ts_event_ns, side, qty, price): `strategy` is the index of
the SMA-X instance in the run (0-based, in `--periods` order), `ts_event_ns` the time of the bar
whose open filled it, side "BUY"/"SELL", qty > 0. `normalise` rounds qty and price to 1e-9 so
engines that hold prices differently (float from text, fixed-point 1e-9) compare equal.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

CSV_DTYPE = np.dtype(
    [("ts", "i8"), ("sym", "U32"), ("open", "f8"), ("high", "f8"), ("low", "f8"), ("close", "f8"), ("volume", "i8")]
)
FILLS_HEADER = ["strategy", "symbol", "ts_event_ns", "side", "qty", "price"]

Fill = tuple[int, str, int, str, float, float]


class Bars(NamedTuple):
    """One symbol's bars in time order."""

    ts: np.ndarray  # int64 ns
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def load_csv(path: str | os.PathLike[str]) -> dict[str, Bars]:
    """The gen_bars.py CSV (ts_event_ns,symbol,open,high,low,close,volume, header first), split by symbol.

    Rows may come in any order; each symbol's bars are sorted by time (stable).
    """
    with open(path, encoding="utf-8") as f:
        header = f.readline().strip().split(",")
        if header != ["ts_event_ns", "symbol", "open", "high", "low", "close", "volume"]:
            raise ValueError(f"{path}: unexpected header {header}")
        a = np.loadtxt(f, delimiter=",", dtype=CSV_DTYPE, ndmin=1)
    names, inverse = np.unique(a["sym"], return_inverse=True)
    order = np.lexsort((a["ts"], inverse))  # by symbol, then time
    inv_sorted = inverse[order]
    bounds = np.searchsorted(inv_sorted, np.arange(len(names) + 1))
    out: dict[str, Bars] = {}
    for k, name in enumerate(names.tolist()):
        rows = a[order[bounds[k] : bounds[k + 1]]]
        out[name] = Bars(
            np.ascontiguousarray(rows["ts"]),
            np.ascontiguousarray(rows["open"]),
            np.ascontiguousarray(rows["high"]),
            np.ascontiguousarray(rows["low"]),
            np.ascontiguousarray(rows["close"]),
            np.ascontiguousarray(rows["volume"]),
        )
    return out


def strategy_periods(n: int) -> list[tuple[int, int]]:
    """(fast, slow) of the n SMA-X instances of an n-strategy case; deterministic, all distinct."""
    base = [(10, 30), (5, 20), (15, 45), (20, 60)]
    out = base[:n]
    k = 5
    while len(out) < n:
        out.append((5 * k, 15 * k))
        k += 1
    return out


def format_periods(periods: Iterable[tuple[int, int]]) -> str:
    return ",".join(f"{f}:{s}" for f, s in periods)


def parse_periods(text: str) -> list[tuple[int, int]]:
    """"10:30,5:20" -> [(10, 30), (5, 20)]."""
    out = []
    for part in text.split(","):
        f, _, s = part.partition(":")
        fast, slow = int(f), int(s)
        if fast < 1 or slow < 1:
            raise ValueError(f"periods must be >= 1: {part!r}")
        out.append((fast, slow))
    if not out:
        raise ValueError("no periods")
    return out


def normalise(strategy: int, symbol: str, ts: int, side: str, qty: float, price: float) -> Fill:
    side = str(side).upper()
    if side not in ("BUY", "SELL"):
        raise ValueError(f"bad side {side!r}")
    return (int(strategy), str(symbol), int(ts), side, round(float(qty), 9), round(float(price), 9))


def write_fills(path: str | os.PathLike[str], fills: Iterable[Fill]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(FILLS_HEADER)
        for fill in fills:
            w.writerow([fill[0], fill[1], fill[2], fill[3], repr(float(fill[4])), repr(float(fill[5]))])
            n += 1
    return n


def read_fills(path: str | os.PathLike[str]) -> list[Fill]:
    with open(path, encoding="utf-8", newline="") as f:
        r = csv.reader(f)
        header = next(r)
        if header != FILLS_HEADER:
            raise ValueError(f"{path}: unexpected header {header}")
        return [normalise(int(s), sym, int(ts), side, float(q), float(p)) for s, sym, ts, side, q, p in r]


def pnl_from_fills(fills: Iterable[Fill], last_close: dict[str, float]) -> float:
    """Realized + open PnL at the last close: -sum(signed qty * price) + final position * last close."""
    cash = 0.0
    pos: dict[tuple[int, str], float] = {}
    for s, sym, _ts, side, qty, price in fills:
        signed = qty if side == "BUY" else -qty
        cash -= signed * price
        pos[(s, sym)] = pos.get((s, sym), 0.0) + signed
    return cash + sum(p * last_close[sym] for (_s, sym), p in pos.items())
