"""Exact window sums (components/indicators/exact.py): SMA, Bollinger and Detrend against integer
and rational arithmetic on fixed-point series, the way the datafeed makes its floats (P / 1e9)."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from components.indicators import BollingerLower, BollingerUpper, DetrendOscillator, SimpleMovingAverage
from components.indicators.exact import UNITS, ExactWindow, fixed_point

LIMIT = 2**23 * UNITS  # fixed_point is exact for |P / 1e9| < 2**23
PERIODS = (1, 2, 7, 30, 200)


def _price(units: int) -> float:
    return units / 1e9  # the datafeed's float of a secmaster price (SQLite: open / 1e9)


def _near_level(n: int, seed: int, level: int = 11_201, step: int = 10_000_000) -> list[int]:
    """Cent prices (in 1e-9 units) drifting a cent at a time around `level` cents."""
    rng = random.Random(seed)
    c, out = level, []
    for _ in range(n):
        c += rng.choice((-1, 0, 0, 0, 1))
        out.append(c * step)
    return out


def _large(n: int, seed: int) -> list[int]:
    """9-decimal prices just under 2**23 and in the binade below (where x * 1e9 may round one off)."""
    rng = random.Random(seed)
    return [rng.choice((1, -1)) * rng.randrange(2**22 * UNITS, LIMIT) for _ in range(n)]


def _tiny(n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(1, 1000) for _ in range(n)]  # 1e-9 .. 1e-6


def _decimals(n: int, seed: int) -> list[int]:
    """Prices of every magnitude below 2**23 (log-uniform) with 0 to 9 decimals."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        step = 10 ** (9 - rng.randrange(10))  # 1e-9 .. 1 in units
        bound = min(LIMIT, 10 ** rng.randrange(1, 17))
        out.append(rng.randrange(1 - bound, bound) // step * step)
    return out


SERIES = {
    "near a level, long": _near_level(20_000, 1),
    "large": _large(3000, 2),
    "tiny": _tiny(3000, 3),
    "0 to 9 decimals": _decimals(3000, 4),
}


def _feed(ind, units: list[int], kit) -> list[float]:
    return kit.feed(ind, [kit.make_bar(_price(u), i=i) for i, u in enumerate(units)]).tolist()


@pytest.mark.parametrize("name", list(SERIES))
def test_fixed_point_recovers_the_secmaster_integer(name: str) -> None:
    for units in SERIES[name]:
        assert fixed_point(_price(units)) == units
    for units in (1, -1, 0, LIMIT - 1, -(LIMIT - 1), 2**22 * UNITS, 2**52, 2**53 - LIMIT // 2, 10_000_000):
        assert fixed_point(_price(units)) == units


def test_floats_without_a_fixed_point_value_are_told_apart() -> None:
    for x in (0.1 + 0.2, 1 / 3, math.pi, 1e-10, 112.01 + 1e-12, math.nan, math.inf, -math.inf, 1e300):
        assert fixed_point(x) is None, x
    assert fixed_point(112.01) == 112_010_000_000 and fixed_point(-0.0) == 0


@pytest.mark.parametrize("name", list(SERIES))
@pytest.mark.parametrize("period", PERIODS)
def test_sma_is_the_correctly_rounded_exact_mean(kit, name: str, period: int) -> None:
    units = SERIES[name]
    values = _feed(SimpleMovingAverage(period, max_history=1), units, kit)
    for i, value in enumerate(values):
        if i < period - 1:
            assert math.isnan(value)
        else:  # int / int true division rounds correctly
            assert value == sum(units[i - period + 1 : i + 1]) / (period * UNITS), i


@pytest.mark.parametrize("x", [112.01, 0.1, 1e-9, 8_388_607.123456789, -3.7, 0.0])
def test_a_window_of_equal_values_has_that_value_as_mean(kit, x: float) -> None:
    for period in (3, 10, 30):
        values = kit.feed(SimpleMovingAverage(period), [kit.make_bar(x, i=i) for i in range(40)])
        assert (values[period - 1 :] == x).all()
    assert sum([0.1] * 10) / 10 != 0.1  # what summing the floats gives


def test_equal_means_are_equal_floats_and_unequal_ones_keep_their_order(kit) -> None:
    units = _near_level(6000, 7)
    fast = _feed(SimpleMovingAverage(10), units, kit)
    slow = _feed(SimpleMovingAverage(30), units, kit)
    ties = 0
    for i in range(29, len(units)):
        exact = sum(units[i - 9 : i + 1]) * 30 - sum(units[i - 29 : i + 1]) * 10
        assert (fast[i] > slow[i]) - (fast[i] < slow[i]) == (exact > 0) - (exact < 0), i
        ties += exact == 0
    assert ties > 20
    # The same window in another order: the same float.
    window = units[:200]
    shuffled = random.Random(1).sample(window, len(window))
    a, b = SimpleMovingAverage(200), SimpleMovingAverage(200)
    assert _feed(a, window, kit)[-1] == _feed(b, shuffled, kit)[-1]


@pytest.mark.parametrize("period", PERIODS)
def test_sma_agrees_with_the_float_formula(kit, period: int) -> None:
    fixed = [_price(u) for u in _near_level(3000, period)]
    computed = kit.random_walk(3000, seed=period).close.tolist()
    for series in (fixed, computed):
        values = kit.feed(SimpleMovingAverage(period), [kit.make_bar(x, i=i) for i, x in enumerate(series)])
        for i in range(period - 1, len(series)):
            seed = sum(series[i - period + 1 : i + 1]) / period
            assert abs(values[i] - seed) <= 1e-12 * abs(seed)


def _exact(x: float) -> Fraction:
    units = fixed_point(x)
    return Fraction(x) if units is None else Fraction(units, UNITS)


def test_values_outside_the_fixed_point_path_still_give_the_exact_mean(kit) -> None:
    rng = random.Random(5)
    # Mixed: fixed-point prices, computed floats, huge and subnormal values.
    series = [rng.choice((_price(rng.randrange(10**12)), rng.uniform(0, 1000), 1e20 * rng.random(), 5e-324 * rng.randrange(9)))
              for _ in range(2000)]
    for period in (1, 3, 30):
        values = kit.feed(SimpleMovingAverage(period), [kit.make_bar(x, i=i) for i, x in enumerate(series)])
        for i in range(period - 1, len(series)):
            assert values[i] == float(sum(map(_exact, series[i - period + 1 : i + 1])) / period), (period, i)


def test_after_a_nan_leaves_the_window_the_mean_is_exact_again(kit) -> None:
    units = _near_level(100, 8)
    prices = [_price(u) for u in units]
    prices[40] = math.nan
    values = kit.feed(SimpleMovingAverage(10), [kit.make_bar(x, i=i) for i, x in enumerate(prices)])
    assert all(math.isnan(v) for v in values[40:50])
    assert all(values[i] == sum(units[i - 9 : i + 1]) / (10 * UNITS) for i in range(50, 100))


@pytest.mark.parametrize("name", ["near a level, long", "large", "tiny"])
def test_window_variance_is_exact_to_an_ulp(name: str) -> None:
    units = SERIES[name][:3000]
    window = ExactWindow(20, squares=True)
    for i, u in enumerate(units):
        window.push(_price(u))
        if i >= 19:
            xs = [Fraction(v, UNITS) for v in units[i - 19 : i + 1]]
            mean = sum(xs) / 20
            mean_f, var_f = window.mean_variance()
            assert mean_f == float(mean)
            assert math.isclose(var_f, float(sum((x - mean) ** 2 for x in xs) / 20), rel_tol=4e-16, abs_tol=0.0)


def test_bollinger_middle_band_is_the_sma_and_a_flat_window_has_zero_width(kit) -> None:
    units = _near_level(3000, 9)
    assert _feed(BollingerUpper(20, num_std=0.0), units, kit)[19:] == _feed(SimpleMovingAverage(20), units, kit)[19:]
    flat = [kit.make_bar(0.1, i=i) for i in range(30)]
    assert (kit.feed(BollingerUpper(10), flat)[9:] == 0.1).all()
    assert (kit.feed(BollingerLower(10), flat)[9:] == 0.1).all()


def test_detrend_is_the_exact_difference_and_zero_at_ties(kit) -> None:
    units = _near_level(5000, 10)
    values = _feed(DetrendOscillator(10, 30), units, kit)
    zeros = 0
    for i in range(29, len(units)):
        exact = Fraction(sum(units[i - 9 : i + 1]), 10 * UNITS) - Fraction(sum(units[i - 29 : i + 1]), 30 * UNITS)
        assert values[i] == float(exact), i
        zeros += exact == 0
    assert zeros > 20
