"""RSI, ATR, +DI, -DI and ADX against whole-series numpy references and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from components.indicators import ADX, ATR, RSI, MinusDI, PlusDI
from components.models import BarField

# --- references (vectorised where the formula allows, plain recursions otherwise) ----------------


def ref_rsi(x: np.ndarray, p: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    change = np.diff(x)
    gain = np.where(change > 0, change, 0.0)
    loss = np.where(change < 0, -change, 0.0)
    if len(change) < p:
        return out
    ag, al = gain[:p].mean(), loss[:p].mean()
    for j in range(p - 1, len(change)):
        if j >= p:
            ag = ag + (gain[j] - ag) / p
            al = al + (loss[j] - al) / p
        out[j + 1] = (100.0 if ag > 1e-12 else 50.0) if al <= 1e-12 else 100 - 100 / (1 + ag / al)
    return out


def ref_tr(h: np.ndarray, lo: np.ndarray, c: np.ndarray) -> np.ndarray:
    """True ranges for bars 1..n-1 (bar 0 has no previous close)."""
    prev = c[:-1]
    return np.max(np.stack([h[1:] - lo[1:], np.abs(h[1:] - prev), np.abs(lo[1:] - prev)]), axis=0)


def ref_dm(h: np.ndarray, lo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    up = h[1:] - h[:-1]
    down = lo[:-1] - lo[1:]
    plus = np.where((up > down) & (up > 0), up, 0.0)
    minus = np.where((down > up) & (down > 0), down, 0.0)
    return plus, minus


def wilder_sum(x: np.ndarray, p: int) -> np.ndarray:
    """sum of the first p, then s - s/p + x; aligned with x, NaN before index p-1."""
    out = np.full(len(x), np.nan)
    if len(x) < p:
        return out
    s = x[:p].sum()
    out[p - 1] = s
    for j in range(p, len(x)):
        s = s - s / p + x[j]
        out[j] = s
    return out


def wilder_mean(x: np.ndarray, p: int) -> np.ndarray:
    """mean of the first p, then (a*(p-1) + x)/p; aligned with x."""
    out = np.full(len(x), np.nan)
    valid = np.flatnonzero(~np.isnan(x))
    if len(valid) < p:
        return out
    first = valid[0]
    a = x[first : first + p].mean()
    out[first + p - 1] = a
    for j in range(first + p, len(x)):
        a = (a * (p - 1) + x[j]) / p
        out[j] = a
    return out


def pad(x: np.ndarray) -> np.ndarray:
    return np.concatenate([[np.nan], x])


def ref_di(s, p: int) -> tuple[np.ndarray, np.ndarray]:
    tr = wilder_sum(ref_tr(s.high, s.low, s.close), p)
    plus, minus = ref_dm(s.high, s.low)
    plus_s, minus_s = wilder_sum(plus, p), wilder_sum(minus, p)
    with np.errstate(invalid="ignore", divide="ignore"):
        plus_di = np.where(tr <= 1e-12, 0.0, 100 * plus_s / tr)
        minus_di = np.where(tr <= 1e-12, 0.0, 100 * minus_s / tr)
    plus_di[np.isnan(tr)] = np.nan
    minus_di[np.isnan(tr)] = np.nan
    return pad(plus_di), pad(minus_di)


def ref_adx(s, p: int) -> np.ndarray:
    plus_di, minus_di = ref_di(s, p)
    total = plus_di + minus_di
    with np.errstate(invalid="ignore", divide="ignore"):
        dx = np.where(total > 1e-12, np.abs(plus_di - minus_di) / total * 100, 0.0)
    dx[np.isnan(total)] = np.nan
    return wilder_mean(dx, p)


# --- RSI -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("period", [1, 2, 14, 30])
def test_rsi_matches_reference(kit, period: int) -> None:
    s = kit.random_walk(500, seed=period)
    values = kit.feed(RSI(period), s.bars)
    kit.assert_series_close(values, ref_rsi(s.close, period))
    assert np.isnan(values[:period]).all() and not np.isnan(values[period])
    assert np.nanmin(values) >= 0.0 and np.nanmax(values) <= 100.0


def test_rsi_hand_computed(kit) -> None:
    closes = [10.0, 11.0, 10.5, 11.5, 11.0]  # changes +1, -0.5, +1, -0.5
    values = kit.feed(RSI(2), [kit.make_bar(c, i=i) for i, c in enumerate(closes)])
    assert np.isnan(values[:2]).all()
    assert values[2] == pytest.approx(100 - 100 / (1 + 0.5 / 0.25))  # gains 1,0 losses 0,.5
    # then Wilder with alpha 1/2: gain .5*.5+.5*1=.75, loss .5*.25+0=.125
    assert values[3] == pytest.approx(100 - 100 / (1 + 0.75 / 0.125))
    assert values[4] == pytest.approx(100 - 100 / (1 + 0.375 / 0.3125))


def test_rsi_flat_series_is_50(kit) -> None:
    values = kit.feed(RSI(5), [kit.make_bar(42.0, i=i) for i in range(20)])
    assert np.isnan(values[:5]).all()
    assert (values[5:] == 50.0).all()


def test_rsi_only_gains_is_100_only_losses_is_0(kit) -> None:
    up = kit.feed(RSI(5), [kit.make_bar(100.0 + i, i=i) for i in range(20)])
    assert (up[5:] == 100.0).all()
    down = kit.feed(RSI(5), [kit.make_bar(100.0 - i, i=i) for i in range(20)])
    assert np.allclose(down[5:], 0.0, atol=1e-12)


def test_rsi_bar_field_and_nan_input_skipped(kit) -> None:
    s = kit.random_walk(200, seed=9, none_volume_at=(20, 100))
    values = kit.feed(RSI(7, bar_field=BarField.VOLUME), s.bars)
    assert math.isnan(values[20]) and math.isnan(values[100])
    # A NaN input produces NaN and leaves the state untouched: the other values are those of the
    # series with the missing bars removed.
    keep = ~np.isnan(s.volume)
    kit.assert_series_close(values[keep], ref_rsi(s.volume[keep], 7))
    high = kit.feed(RSI(7, bar_field=BarField.HIGH), s.bars)
    kit.assert_series_close(high, ref_rsi(s.high, 7))


# --- ATR -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("period", [1, 3, 14])
def test_atr_matches_reference(kit, period: int) -> None:
    s = kit.random_walk(400, seed=40 + period)
    values = kit.feed(ATR(period), s.bars)
    kit.assert_series_close(values, pad(wilder_mean(ref_tr(s.high, s.low, s.close), period)))
    assert np.isnan(values[:period]).all() and not np.isnan(values[period])


def test_atr_hand_computed_uses_previous_close(kit) -> None:
    bars = [
        kit.make_bar(10.0, high=10.5, low=9.5, i=0),
        kit.make_bar(12.0, high=12.5, low=11.5, i=1),  # TR = max(1, 2.5, 1.5) = 2.5 (gap up)
        kit.make_bar(11.0, high=12.0, low=10.0, i=2),  # TR = max(2, 0, 2) = 2
        kit.make_bar(8.0, high=9.0, low=7.0, i=3),  # TR = max(2, 2, 4) = 4 (gap down)
        kit.make_bar(8.0, high=8.5, low=7.5, i=4),  # TR = 1
    ]
    values = kit.feed(ATR(2), bars)
    assert np.isnan(values[:2]).all()
    assert values[2] == pytest.approx((2.5 + 2.0) / 2)
    assert values[3] == pytest.approx((2.25 * 1 + 4.0) / 2)
    assert values[4] == pytest.approx((3.125 + 1.0) / 2)


# --- +DI / -DI / ADX -----------------------------------------------------------------------------


@pytest.mark.parametrize("period", [1, 5, 14])
def test_di_match_reference(kit, period: int) -> None:
    s = kit.random_walk(400, seed=50 + period)
    plus_ref, minus_ref = ref_di(s, period)
    plus = kit.feed(PlusDI(period), s.bars)
    minus = kit.feed(MinusDI(period), s.bars)
    kit.assert_series_close(plus, plus_ref)
    kit.assert_series_close(minus, minus_ref)
    assert np.isnan(plus[:period]).all() and not np.isnan(plus[period])
    assert np.nanmin(plus) >= 0 and np.nanmax(plus) <= 100


@pytest.mark.parametrize("period", [1, 5, 14])
def test_adx_matches_reference(kit, period: int) -> None:
    s = kit.random_walk(400, seed=60 + period)
    values = kit.feed(ADX(period), s.bars)
    kit.assert_series_close(values, ref_adx(s, period))
    first = 2 * period - 1
    assert np.isnan(values[:first]).all() and not np.isnan(values[first])
    assert np.nanmin(values) >= 0 and np.nanmax(values) <= 100


def test_di_hand_computed(kit) -> None:
    bars = [
        kit.make_bar(10.0, high=11.0, low=9.0, i=0),
        kit.make_bar(11.5, high=12.0, low=10.0, i=1),  # +DM 1 (up 1 > down -1), TR 2
        kit.make_bar(9.0, high=11.0, low=8.0, i=2),  # up -1, down 2 -> -DM 2, TR max(3, .5, 3.5)
        kit.make_bar(9.0, high=9.5, low=8.5, i=3),  # up -1.5, down -.5 -> none; TR 1
    ]
    plus = kit.feed(PlusDI(2), bars)
    minus = kit.feed(MinusDI(2), bars)
    assert np.isnan(plus[:2]).all()
    assert plus[2] == pytest.approx(100 * 1 / 5.5)
    assert minus[2] == pytest.approx(100 * 2 / 5.5)
    # smoothed: s - s/2 + x
    assert plus[3] == pytest.approx(100 * 0.5 / (2.75 + 1.0))
    assert minus[3] == pytest.approx(100 * 1.0 / (2.75 + 1.0))
    adx = kit.feed(ADX(2), bars)
    dx2 = abs(plus[2] - minus[2]) / (plus[2] + minus[2]) * 100
    dx3 = abs(plus[3] - minus[3]) / (plus[3] + minus[3]) * 100
    assert np.isnan(adx[:3]).all()
    assert adx[3] == pytest.approx((dx2 + dx3) / 2)


def test_trend_direction(kit) -> None:
    up = [kit.make_bar(100.0 + i, high=101.0 + i, low=99.0 + i, i=i) for i in range(60)]
    down = [kit.make_bar(100.0 - i, high=101.0 - i, low=99.0 - i, i=i) for i in range(60)]
    # each bar: TR 2, directional movement 1 in the trend's direction -> DI 50 and 0
    assert kit.feed(PlusDI(14), up)[-1] == pytest.approx(50.0)
    assert kit.feed(MinusDI(14), up)[-1] == 0.0
    assert kit.feed(MinusDI(14), down)[-1] == pytest.approx(50.0)
    assert kit.feed(PlusDI(14), down)[-1] == 0.0
    assert kit.feed(ADX(14), up)[-1] == pytest.approx(100.0)
    flat = [kit.make_bar(5.0, i=i) for i in range(40)]  # TR 0: DIs and ADX are 0
    assert kit.feed(PlusDI(5), flat)[-1] == 0.0
    assert kit.feed(ADX(5), flat)[-1] == 0.0
