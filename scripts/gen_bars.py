#!/usr/bin/env python3
"""Deterministic synthetic one-minute OHLCV bars for the SMA-X benchmark.

    python scripts/gen_bars.py OUT.csv [--symbols K] [--bars N] [--seed 42]

Written by components.sample_data, the generator of the demo's data too (columns
ts_event_ns,symbol,open,high,low,close,volume, sorted by ts then symbol, prices at 0.01, every
symbol has a bar at every minute); equal arguments give the same bytes on every machine.
"""

from __future__ import annotations

import argparse
import sys

from components.sample_data import write_sample_csv


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--symbols", type=int, default=10)
    p.add_argument("--bars", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args(argv)
    write_sample_csv(a.out, a.symbols, a.bars, a.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
