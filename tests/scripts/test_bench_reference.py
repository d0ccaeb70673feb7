"""The SMA-X benchmark's reference engine and fill comparison (scripts/bench_engines, scripts/bench.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


bench = _load("tickbus_bench", SCRIPTS / "bench.py")  # puts scripts/ on sys.path
from bench_engines.common import Bars, normalise  # noqa: E402
from bench_engines.numpy_smax import smax  # noqa: E402

START, MIN = 1_704_196_800_000_000_000, 60_000_000_000


def literal_smax(opens: list[str], closes: list[str], fast: int, slow: int) -> list[tuple[int, int]]:
    """The SMA-X rule (scripts/smax.py), bar by bar, in exact rational arithmetic: [(fill bar, signed qty)]."""
    c = [Fraction(x) for x in closes]

    def sma(i: int, p: int) -> Fraction | None:
        return sum(c[i - p + 1 : i + 1]) / p if i >= p - 1 else None

    pos, fills = 0, []
    for t in range(1, len(c)):
        f0, s0, f1, s1 = sma(t, fast), sma(t, slow), sma(t - 1, fast), sma(t - 1, slow)
        if None in (f0, s0, f1, s1):
            continue
        if f0 > s0 and f1 <= s1:
            target = 1
        elif f0 < s0 and f1 >= s1:
            target = -1
        else:
            continue
        if target != pos and t + 1 < len(c):
            fills.append((t + 1, target - pos))
            pos = target
    return fills


def _bars(closes_cents: np.ndarray) -> Bars:
    n = len(closes_cents)
    close = closes_cents / 100.0
    open_ = np.concatenate([[close[0]], close[:-1]])
    return Bars(START + MIN * np.arange(n, dtype=np.int64), open_, close, close, close, np.ones(n, np.int64))


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("periods", [(10, 30), (5, 20), (3, 4)])
def test_numpy_reference_is_the_literal_rule_even_with_many_ties(seed: int, periods: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    # Mostly flat prices moving a cent at a time: exact SMA ties on many bars.
    steps = rng.choice([-1, 0, 0, 0, 1], size=600)
    cents = 10_000 + np.cumsum(steps)
    data = {"A": _bars(cents)}
    fills, pnl, ties = smax(data, [periods])
    assert len(ties[(0, "A")]) >= 3  # the data really exercise ties
    expected = literal_smax([f"{x:.2f}" for x in data["A"].open], [f"{x:.2f}" for x in data["A"].close], *periods)
    got = [(int(np.searchsorted(data["A"].ts, f[2])), int(f[4]) * (1 if f[3] == "BUY" else -1)) for f in fills]
    assert got == expected
    pos = sum(q for _, q in expected)
    exact = -sum(q * Fraction(f"{data['A'].open[i]:.2f}") for i, q in expected) + pos * Fraction(f"{data['A'].close[-1]:.2f}")
    assert pnl == pytest.approx(float(exact), abs=1e-9)


def test_differences_only_at_ties_are_accepted_and_others_are_not() -> None:
    cents = np.array([10_000 + (i % 7) for i in range(200)])  # periodic: SMA(7) constant, many ties
    data = {"A": _bars(cents)}
    periods = [(7, 14)]
    ref, _, ties = smax(data, periods)
    d = bench.Differences(data, periods)
    tie_bar = int(ties[(0, "A")][0])
    assert d.tie("A", tie_bar, 7, 14)
    shifted = normalise(0, "A", int(data["A"].ts[tie_bar + 1]), "BUY", 1, data["A"].open[tie_bar + 1])
    r = d.compare(ref, ref + [shifted])
    assert r["fills_match"] and r["tie_diffs"] == 1 and r["unexplained_diffs"] == 0
    # A fill far from any tie (SMA(2) vs SMA(5) on a rising series never ties) is a mismatch.
    rising = {"B": _bars(np.arange(10_000, 10_200))}
    d2 = bench.Differences(rising, [(2, 5)])
    ref2, _, ties2 = smax(rising, [(2, 5)])
    assert len(ties2[(0, "B")]) == 0
    bogus = normalise(0, "B", int(rising["B"].ts[100]), "SELL", 2, rising["B"].open[100])
    r2 = d2.compare(ref2, ref2 + [bogus])
    assert not r2["fills_match"] and r2["unexplained_diffs"] == 1


def test_strategy_periods_are_deterministic_and_distinct() -> None:
    from bench_engines.common import strategy_periods

    p16 = strategy_periods(16)
    assert p16[:4] == [(10, 30), (5, 20), (15, 45), (20, 60)]
    assert len(set(p16)) == 16 and strategy_periods(4) == p16[:4]


def test_gen_bars_writes_the_sample_generator_bytes_with_seed_42(tmp_path: Path) -> None:
    # (test_sample_data pins those bytes: the benchmark's data stay those of its published figures)
    from components.sample_data import write_sample_csv

    out = tmp_path / "a.csv"
    subprocess.run([sys.executable, str(SCRIPTS / "gen_bars.py"), str(out), "--symbols", "3", "--bars", "50"], check=True)
    assert out.read_bytes() == write_sample_csv(tmp_path / "b.csv", symbols=3, bars=50, seed=42).read_bytes()
