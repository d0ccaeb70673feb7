#!/usr/bin/env python3
"""SMA-X vectorised with numpy: the benchmark's reference engine.

    python scripts/bench_engines/numpy_smax.py BARS.csv --periods 10:30[,5:20...] --fills-out FILLS.csv

Prints one JSON object: {"load_s", "run_s", "fills", "pnl"}.

Exact decimal arithmetic: prices have two decimals, so closes are taken as integer cents and the
SMAs compared through their integer window sums (fast > slow  <=>  sum_f * slow > sum_s * fast),
cumsum for the windows. Ties (fast == slow exactly) therefore follow the SMA-X rule (scripts/smax.py)
to the letter, which engines summing floats cannot promise; bench.py uses this engine as the
reference, allows backtrader to differ only at such ties and tickbus (exact SMAs) not at all.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import NamedTuple

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_engines.common import Bars, Fill, load_csv, parse_periods, write_fills  # noqa: E402


class SymbolResult(NamedTuple):
    fill_bars: np.ndarray  # bar index of each fill (its open is the price)
    fill_qty: np.ndarray  # signed quantity (+ BUY, - SELL)
    pnl_cents: int  # realized + open at the last close, in cents
    tie_bars: np.ndarray  # bars where both SMAs are defined and exactly equal


def cents(prices: np.ndarray) -> np.ndarray:
    """Two-decimal prices as exact integer cents."""
    return np.rint(prices * 100.0).astype(np.int64)


def smax_symbol(open_c: np.ndarray, close_c: np.ndarray, fast: int, slow: int) -> SymbolResult:
    """SMA-X on one symbol's bars (prices in integer cents)."""
    n = len(close_c)
    w = max(fast, slow)
    empty = np.zeros(0, np.int64)
    if n < w:
        return SymbolResult(empty, empty, 0, empty)
    cs = np.zeros(n + 1, np.int64)
    np.cumsum(close_c, out=cs[1:])
    end = np.arange(w, n + 1)  # window ends (exclusive) for bars w-1 .. n-1
    sum_f = cs[end] - cs[end - fast]
    sum_s = cs[end] - cs[end - slow]
    d = sum_f * slow - sum_s * fast  # sign of fast SMA - slow SMA at bars w-1 .. n-1, exact
    tie_bars = np.nonzero(d == 0)[0] + (w - 1)
    cur, prev = d[1:], d[:-1]  # bars w .. n-1 and the bar before each
    signal = np.zeros(n, np.int64)
    sig = signal[w:]
    sig[(cur > 0) & (prev <= 0)] = 1
    sig[(cur < 0) & (prev >= 0)] = -1
    # Target position after bar t: the direction of the last cross at or before t (0 before any).
    last = np.where(signal != 0, np.arange(n), 0)
    np.maximum.accumulate(last, out=last)
    target = signal[last]  # signal[0] == 0
    qty = np.diff(target, prepend=0)  # order placed after bar t
    order_bars = np.nonzero(qty)[0]
    order_bars = order_bars[order_bars < n - 1]  # an order placed on the last bar never fills
    fill_bars = order_bars + 1
    fill_qty = qty[order_bars]
    final_pos = int(fill_qty.sum())
    pnl = -int(np.dot(fill_qty, open_c[fill_bars])) + final_pos * int(close_c[-1])
    return SymbolResult(fill_bars, fill_qty, pnl, tie_bars)


def smax(data: dict[str, Bars], periods: list[tuple[int, int]]) -> tuple[list[Fill], float, dict[tuple[int, str], np.ndarray]]:
    """All fills (strategy index, symbol, ts, side, qty, price), total PnL, tie bars per (strategy, symbol)."""
    fills: list[Fill] = []
    pnl_cents = 0
    ties: dict[tuple[int, str], np.ndarray] = {}
    prepared = {sym: (cents(b.open), cents(b.close)) for sym, b in data.items()}
    for si, (fast, slow) in enumerate(periods):
        for sym in sorted(data):
            b = data[sym]
            open_c, close_c = prepared[sym]
            r = smax_symbol(open_c, close_c, fast, slow)
            pnl_cents += r.pnl_cents
            ties[(si, sym)] = r.tie_bars
            ts = b.ts[r.fill_bars].tolist()
            price = (open_c[r.fill_bars] / 100.0).tolist()
            for t, q, p in zip(ts, r.fill_qty.tolist(), price):
                fills.append((si, sym, t, "BUY" if q > 0 else "SELL", float(abs(q)), p))
    return fills, pnl_cents / 100.0, ties


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("csv")
    p.add_argument("--periods", default="10:30", help="fast:slow[,fast:slow...], one SMA-X per pair")
    p.add_argument("--fills-out", help="write the fills here (CSV)")
    a = p.parse_args(argv)
    periods = parse_periods(a.periods)
    t0 = time.perf_counter()
    data = load_csv(a.csv)
    t1 = time.perf_counter()
    fills, pnl, _ties = smax(data, periods)
    t2 = time.perf_counter()
    if a.fills_out:
        write_fills(a.fills_out, fills)
    print(json.dumps({"load_s": round(t1 - t0, 6), "run_s": round(t2 - t1, 6), "fills": len(fills), "pnl": pnl}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
