"""Fixtures for multi-process system tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.sample_data import build_sample_secmaster


@pytest.fixture(scope="session")
def secmaster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 symbols x 300 minute bars: long enough for every scripted action, short enough to be quick."""
    return build_sample_secmaster(tmp_path_factory.mktemp("data") / "secmaster.db", symbols=4, bars=300, seed=11)


GAPPY_BARS = 600


@pytest.fixture(scope="session")
def gappy_secmaster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 symbols over 600 minutes, none complete: SYM000 misses ~20% of its bars at random, SYM001
    starts late, SYM002 ends early, SYM003 has random gaps and 15-minute holes every 100 minutes."""
    import random

    from components.sample_data import iter_sample_rows, CSV_HEADER, START_NS, MINUTE_NS
    from components.secmaster.csv_import import import_csv

    rng = random.Random(5)

    def kept(symbol: str, i: int) -> bool:
        if symbol == "SYM000":
            return rng.random() > 0.2
        if symbol == "SYM001":
            return i >= 120
        if symbol == "SYM002":
            return i < 480
        return rng.random() > 0.1 and i % 100 >= 15

    folder = tmp_path_factory.mktemp("gappy")
    csv = folder / "gappy.csv"
    with open(csv, "w", encoding="utf-8") as f:
        f.write(CSV_HEADER + "\n")
        for ts, s, o, h, l, c, v in iter_sample_rows(4, GAPPY_BARS, 23):
            if kept(s, (ts - START_NS) // MINUTE_NS):
                f.write(f"{ts},{s},{o},{h},{l},{c},{v}\n")
    db = folder / "secmaster.db"
    import_csv(csv, db, "tickbus", "SAMPLE", progress=False)
    return db
