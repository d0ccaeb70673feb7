"""Parabolic SAR (hand-computed reversals, AF cap, reference) and PeriodExtreme."""

from __future__ import annotations

import numpy as np
import pytest

from components.indicators import (
    RSI,
    Close,
    High,
    Low,
    ParabolicSAR,
    PeriodExtreme,
    SimpleMovingAverage,
    Volume,
)
from components.models import BarField, ExtremeType

# --- Parabolic SAR -------------------------------------------------------------------------------


def ref_psar(h: np.ndarray, lo: np.ndarray, start: float, step: float, cap: float) -> np.ndarray:
    """Textbook Wilder SAR written out bar by bar, independent of the implementation."""
    n = len(h)
    out = np.full(n, np.nan)
    if n < 2:
        return out
    long = bool(h[1] >= h[0])
    sar = lo[0] if long else h[0]
    ep = h[1] if long else lo[1]
    af = start
    out[1] = sar
    for t in range(2, n):
        sar = sar + af * (ep - sar)
        if long:
            sar = min(sar, lo[t - 1], lo[t - 2])
            if lo[t] < sar:
                long, sar, ep, af = False, ep, lo[t], start
            elif h[t] > ep:
                ep, af = h[t], min(af + step, cap)
        else:
            sar = max(sar, h[t - 1], h[t - 2])
            if h[t] > sar:
                long, sar, ep, af = True, ep, h[t], start
            elif lo[t] < ep:
                ep, af = lo[t], min(af + step, cap)
        out[t] = sar
    return out


HAND_BARS = [(10, 9), (11, 10), (12, 11), (13, 12), (9, 8), (10, 7), (8, 6), (14, 9)]
HAND_SAR = [np.nan, 9.0, 9.0, 9.12, 13.0, 13.0, 12.76, 6.0]
# bar 2: up (11 >= 10), SAR = prior low 9; bar 3: 9.04 clamped to min(lows 10, 9) = 9, AF .04;
# bar 4: 9 + .04 * (12 - 9) = 9.12, AF .06; bar 5: 9.3528 pierced by low 8 -> short at EP 13;
# bar 6: 12.9 clamped to max(highs 9, 13) = 13, EP 7, AF .04; bar 7: 13 - .04 * 6 = 12.76;
# bar 8: 12.3544 pierced by high 14 -> long at EP 6.


def test_psar_hand_computed_reversals_both_ways(kit) -> None:
    bars = [
        kit.make_bar((h + lo) / 2, high=float(h), low=float(lo), i=i)
        for i, (h, lo) in enumerate(HAND_BARS)
    ]
    values = kit.feed(ParabolicSAR(), bars)
    kit.assert_series_close(values, np.array(HAND_SAR), tol=1e-12)


def test_psar_initial_downtrend(kit) -> None:
    bars = [
        kit.make_bar(9.5, high=10.0, low=9.0, i=0),
        kit.make_bar(8.5, high=9.0, low=8.0, i=1),  # lower high: short, SAR = prior high 10
        kit.make_bar(7.5, high=8.0, low=7.0, i=2),  # 10 + .02 * (8 - 10) = 9.96; max(highs) 10
        kit.make_bar(6.5, high=7.0, low=6.0, i=3),  # 10 + .04 * (7 - 10) = 9.88
    ]
    values = kit.feed(ParabolicSAR(), bars)
    assert np.isnan(values[0])
    assert values[1:].tolist() == pytest.approx([10.0, 10.0, 9.88])


def test_psar_af_capped(kit) -> None:
    # A steady uptrend makes a new high every bar, so AF climbs by 0.02 to its cap of 0.2.
    n = 60
    bars = [kit.make_bar(9.5 + t, high=10.0 + t, low=9.0 + t, i=t) for t in range(n)]
    sar = kit.feed(ParabolicSAR(), bars)
    highs = np.array([10.0 + t for t in range(n)])
    kit.assert_series_close(sar, ref_psar(highs, highs - 1.0, 0.02, 0.02, 0.2), tol=1e-12)
    ratios = (sar[2:] - sar[1:-1]) / (highs[1:-1] - sar[1:-1])  # effective AF per bar
    assert ratios.max() <= 0.2 + 1e-12
    assert ratios[-20:] == pytest.approx([0.2] * 20)
    capped = kit.feed(ParabolicSAR(0.05, 0.1, 0.12), bars)
    r = (capped[2:] - capped[1:-1]) / (highs[1:-1] - capped[1:-1])
    assert r[-20:] == pytest.approx([0.12] * 20)


@pytest.mark.parametrize("params", [(0.02, 0.02, 0.2), (0.01, 0.005, 0.1), (0.1, 0.1, 0.5)])
def test_psar_matches_reference(kit, params: tuple[float, float, float]) -> None:
    s = kit.random_walk(500, seed=int(params[1] * 1000))
    values = kit.feed(ParabolicSAR(*params), s.bars)
    expected = ref_psar(s.high, s.low, *params)
    kit.assert_series_close(values, expected)
    assert np.isnan(values[0]) and np.isfinite(values[1:]).all()
    # plenty of reversals each way on a random walk
    above = values[1:] > s.close[1:]
    assert 5 < np.count_nonzero(np.diff(above.astype(int)) == 1)
    assert 5 < np.count_nonzero(np.diff(above.astype(int)) == -1)


# --- PeriodExtreme -------------------------------------------------------------------------------


@pytest.mark.parametrize("period", [1, 3, 20])
def test_extreme_of_high_and_low(kit, period: int) -> None:
    s = kit.random_walk(400, seed=period)
    high_max = kit.feed(PeriodExtreme(High, period), s.bars)
    low_min = kit.feed(PeriodExtreme(Low, period, ExtremeType.MIN), s.bars)
    kit.assert_series_close(high_max, kit.rolling(s.high, period, np.max), tol=0.0)
    kit.assert_series_close(low_min, kit.rolling(s.low, period, np.min), tol=0.0)


def test_extreme_with_ties_matches_brute_force(kit) -> None:
    rng = np.random.default_rng(3)
    closes = rng.integers(0, 5, 500).astype(float)  # lots of equal values
    bars = [kit.make_bar(float(c), i=i) for i, c in enumerate(closes)]
    for kind, fn in [(ExtremeType.MAX, np.max), (ExtremeType.MIN, np.min)]:
        values = kit.feed(PeriodExtreme(Close, 7, kind), bars)
        kit.assert_series_close(values, kit.rolling(closes, 7, fn), tol=0.0)


def test_extreme_nan_if_any_source_value_nan(kit) -> None:
    s = kit.random_walk(200, seed=8, none_volume_at=(50, 90))
    values = kit.feed(PeriodExtreme(Volume, 5), s.bars)
    kit.assert_series_close(values, kit.rolling(s.volume, 5, np.max), tol=0.0)
    assert np.isnan(values[50:55]).all() and np.isfinite(values[55:90]).all()


def test_extreme_of_warming_up_source(kit) -> None:
    s = kit.random_walk(300, seed=9)
    values = kit.feed(PeriodExtreme(RSI, 6, ExtremeType.MIN, bar_field=BarField.LOW), s.bars)
    rsi = kit.feed(RSI(bar_field=BarField.LOW), s.bars)
    kit.assert_series_close(values, kit.rolling(rsi, 6, np.min), tol=0.0)
    assert np.isnan(values[: 14 + 5]).all() and not np.isnan(values[14 + 5])
    sma = kit.feed(PeriodExtreme(SimpleMovingAverage, 4, bar_field=BarField.HIGH), s.bars)
    expected = kit.rolling(kit.rolling(s.high, 200, np.mean), 4, np.max)
    kit.assert_series_close(sma, expected)


def test_extreme_source_is_private_and_sized(kit) -> None:
    extreme = PeriodExtreme(High, 5)
    assert isinstance(extreme.source, High)
    assert extreme.source.max_history == 5
    assert extreme.extreme_type is ExtremeType.MAX
