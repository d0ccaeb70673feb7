#!/usr/bin/env python3
"""SMA-X on backtrader (the yardstick): one data feed per symbol, one bt strategy per SMA-X instance.

    python scripts/bench_engines/bt_smax.py BARS.csv --periods 10:30[,5:20...] --fills-out FILLS.csv

Prints one JSON object: {"load_s", "run_s", "fills", "pnl", "pnl_broker", "backtrader"}.

- Loading: the CSV is parsed with numpy and split per symbol (`load_s`); each symbol becomes a
  feed built from those arrays (no pandas). bt preloads the feeds inside `cerebro.run()`.
- Logic: the SMA-X cross rule (scripts/smax.py) written out on the two SMA lines (bt's CrossOver is not
  used: it looks back past equal values, so it differs at ties); SMA(period) is bt's own
  (`math.fsum(window) / period`). Market orders for target - position, filled by bt's default
  broker at the next bar's open; no commission; ample cash so no order is ever refused.
- Positions: backtrader keeps ONE position per data feed, shared by all strategies, so each
  strategy tracks its own position from its own completed orders; hence every strategy's fills are
  independent and comparable per strategy also in multi-strategy cases (`pnl_broker`, the broker's
  value change, is the sum over all strategies).
- Cerebro(stdstats=False): no default observers, bt's fastest ordinary configuration; runonce
  and preload stay at their defaults (True).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import backtrader as bt  # noqa: E402

from bench_engines.common import Bars, Fill, load_csv, parse_periods, pnl_from_fills, write_fills  # noqa: E402

START_CASH = 100_000_000.0
_EPOCH_ORDINAL = 719_163  # date(1970, 1, 1).toordinal(): bt.date2num's day numbering
_NS_PER_DAY = 86_400_000_000_000


class ArrayFeed(bt.feed.DataBase):
    """A bt data feed over one symbol's arrays (ts in ns since the epoch, UTC)."""

    params = (("bars", None),)

    def start(self) -> None:
        super().start()
        b: Bars = self.p.bars
        self._dt = (b.ts / _NS_PER_DAY + _EPOCH_ORDINAL).tolist()
        self._o, self._h, self._l = b.open.tolist(), b.high.tolist(), b.low.tolist()
        self._c, self._v = b.close.tolist(), b.volume.astype(float).tolist()
        self._i = 0
        self._n = len(self._dt)

    def _load(self) -> bool:
        i = self._i
        if i >= self._n:
            return False
        lines = self.lines
        lines.datetime[0] = self._dt[i]
        lines.open[0] = self._o[i]
        lines.high[0] = self._h[i]
        lines.low[0] = self._l[i]
        lines.close[0] = self._c[i]
        lines.volume[0] = self._v[i]
        lines.openinterest[0] = 0.0
        self._i = i + 1
        return True


class SMAXStrategy(bt.Strategy):
    params = (("fast", 10), ("slow", 30), ("index", 0), ("sink", None), ("ts", None))

    def __init__(self) -> None:
        self.legs = [
            (d, bt.indicators.SMA(d.close, period=self.p.fast), bt.indicators.SMA(d.close, period=self.p.slow))
            for d in self.datas
        ]
        self.own_pos = {d._name: 0 for d in self.datas}
        self.warm = max(self.p.fast, self.p.slow)  # both SMAs defined at t-1 once len > warm

    def next(self) -> None:
        if len(self.data0) <= self.warm:
            return
        own_pos = self.own_pos
        for d, fast, slow in self.legs:
            f0, s0 = fast[0], slow[0]
            f1, s1 = fast[-1], slow[-1]
            if f0 > s0 and f1 <= s1:
                target = 1
            elif f0 < s0 and f1 >= s1:
                target = -1
            else:
                continue
            qty = target - own_pos[d._name]
            if qty > 0:
                self.buy(data=d, size=qty)
            elif qty < 0:
                self.sell(data=d, size=-qty)

    def notify_order(self, order: bt.Order) -> None:
        if order.status != order.Completed:
            return
        d = order.data
        size = order.executed.size  # signed
        self.own_pos[d._name] += size
        ts = self.p.ts[d._name][len(d) - 1]  # the bar whose open filled it
        self.p.sink.append(
            (self.p.index, d._name, ts, "BUY" if size > 0 else "SELL", float(abs(size)), float(order.executed.price))
        )


def run(data: dict[str, Bars], periods: list[tuple[int, int]]) -> tuple[list[Fill], float]:
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(START_CASH)
    for sym in sorted(data):
        cerebro.adddata(ArrayFeed(bars=data[sym], timeframe=bt.TimeFrame.Minutes, compression=1), name=sym)
    ts = {sym: b.ts.tolist() for sym, b in data.items()}
    fills: list[Fill] = []
    for i, (fast, slow) in enumerate(periods):
        cerebro.addstrategy(SMAXStrategy, fast=fast, slow=slow, index=i, sink=fills, ts=ts)
    cerebro.run()
    return fills, cerebro.broker.getvalue() - START_CASH


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
    fills, pnl_broker = run(data, periods)
    t2 = time.perf_counter()
    fills.sort(key=lambda f: (f[0], f[1], f[2]))
    if a.fills_out:
        write_fills(a.fills_out, fills)
    last_close = {sym: float(b.close[-1]) for sym, b in data.items()}
    print(json.dumps({
        "load_s": round(t1 - t0, 6),
        "run_s": round(t2 - t1, 6),
        "fills": len(fills),
        "pnl": pnl_from_fills(fills, last_close),
        "pnl_broker": pnl_broker,
        "backtrader": bt.__version__,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
