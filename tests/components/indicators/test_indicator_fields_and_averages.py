"""OHLCV fields, SMA, detrend oscillator and ROC against numpy over whole series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from components.indicators import (
    ROC,
    Close,
    DetrendOscillator,
    High,
    Low,
    Open,
    SimpleMovingAverage,
    Volume,
)
from components.models import BarField

FIELDS = [BarField.OPEN, BarField.HIGH, BarField.LOW, BarField.CLOSE, BarField.VOLUME]


def _field(series, bar_field: BarField) -> np.ndarray:
    return getattr(series, bar_field.name.lower())


# --- OHLCV ---------------------------------------------------------------------------------------


def test_market_fields(kit) -> None:
    s = kit.random_walk(200, seed=5, none_volume_at=(7, 150))
    for cls, expected in [
        (Open, s.open),
        (High, s.high),
        (Low, s.low),
        (Close, s.close),
        (Volume, s.volume),
    ]:
        values = kit.feed(cls(), s.bars)
        kit.assert_series_close(values, expected, tol=0.0)


def test_volume_none_is_nan_and_volume_is_float(kit) -> None:
    volume = Volume()
    volume.update(kit.make_bar(1.0, volume=None))
    assert math.isnan(volume.latest("AAA"))
    volume.update(kit.make_bar(1.0, volume=42))
    value = volume.latest("AAA")
    assert value == 42.0 and isinstance(value, float)
    assert math.isnan(volume["AAA", -2])


# --- SMA -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("period", [1, 2, 5, 30, 200])
def test_sma_matches_numpy(kit, period: int) -> None:
    s = kit.random_walk(600, seed=period)
    values = kit.feed(SimpleMovingAverage(period), s.bars)
    kit.assert_series_close(values, kit.rolling(s.close, period, np.mean))
    assert np.isnan(values[: period - 1]).all() and not np.isnan(values[period - 1])


@pytest.mark.parametrize("bar_field", FIELDS)
def test_sma_bar_fields(kit, bar_field: BarField) -> None:
    s = kit.random_walk(300, seed=11)
    values = kit.feed(SimpleMovingAverage(7, bar_field=bar_field), s.bars)
    kit.assert_series_close(values, kit.rolling(_field(s, bar_field), 7, np.mean))


def test_sma_hand_computed(kit) -> None:
    sma = SimpleMovingAverage(3)
    values = kit.feed(sma, [kit.make_bar(c, i=i) for i, c in enumerate([1.0, 2.0, 6.0, 10.0, 2.0])])
    assert np.isnan(values[:2]).all()
    assert values[2:].tolist() == [3.0, 6.0, 6.0]


def test_sma_nan_volume_poisons_only_its_window(kit) -> None:
    s = kit.random_walk(300, seed=12, none_volume_at=(50, 120, 121))
    values = kit.feed(SimpleMovingAverage(10, bar_field=BarField.VOLUME), s.bars)
    expected = kit.rolling(s.volume, 10, np.mean)  # NaN wherever the window holds a NaN
    kit.assert_series_close(values, expected)
    assert np.isnan(values[50:60]).all() and np.isfinite(values[60:120]).all()


def test_sma_long_series_high_level_no_drift(kit) -> None:
    # 50k bars at a price level of 1e5: rolling-sum error must not accumulate.
    s = kit.random_walk(50_000, seed=13, start=1e5, scale=0.01, drift=0.001)
    values = kit.feed(SimpleMovingAverage(200), s.bars)
    csum = np.concatenate([[0.0], np.cumsum(s.close - 1e5)])
    expected = np.full(len(s.close), np.nan)
    expected[199:] = 1e5 + (csum[200:] - csum[:-200]) / 200
    err = np.abs(values[199:] - expected[199:])
    assert err.max() < 1e-9


# --- detrend -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("short", "long"), [(3, 7), (1, 5), (10, 4), (6, 6), (20, 50)])
def test_detrend_matches_numpy(kit, short: int, long: int) -> None:
    s = kit.random_walk(500, seed=short * 100 + long)
    values = kit.feed(DetrendOscillator(short, long), s.bars)
    expected = kit.rolling(s.close, short, np.mean) - kit.rolling(s.close, long, np.mean)
    kit.assert_series_close(values, expected)
    assert np.isnan(values[: max(short, long) - 1]).all()


def test_detrend_bar_field_and_nan_volume(kit) -> None:
    s = kit.random_walk(300, seed=21, none_volume_at=(30, 200))
    values = kit.feed(DetrendOscillator(2, 9, bar_field=BarField.VOLUME), s.bars)
    expected = kit.rolling(s.volume, 2, np.mean) - kit.rolling(s.volume, 9, np.mean)
    kit.assert_series_close(values, expected)
    low = kit.feed(DetrendOscillator(4, 3, bar_field=BarField.LOW), s.bars)
    kit.assert_series_close(low, kit.rolling(s.low, 4, np.mean) - kit.rolling(s.low, 3, np.mean))


def test_detrend_hand_computed(kit) -> None:
    closes = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 20.0]
    values = kit.feed(DetrendOscillator(), [kit.make_bar(c, i=i) for i, c in enumerate(closes)])
    assert np.isnan(values[:6]).all()
    assert values[6] == pytest.approx(6.0 - 4.0)
    assert values[7] == pytest.approx((6 + 7 + 20) / 3 - (2 + 3 + 4 + 5 + 6 + 7 + 20) / 7)


# --- ROC -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("period", [1, 5, 14])
def test_roc_matches_numpy(kit, period: int) -> None:
    s = kit.random_walk(400, seed=30 + period)
    values = kit.feed(ROC(period), s.bars)
    expected = np.full(len(s.close), np.nan)
    expected[period:] = (s.close[period:] - s.close[:-period]) / s.close[:-period] * 100.0
    kit.assert_series_close(values, expected)


def test_roc_bar_field(kit) -> None:
    s = kit.random_walk(100, seed=33)
    values = kit.feed(ROC(3, bar_field=BarField.HIGH), s.bars)
    expected = np.full(100, np.nan)
    expected[3:] = (s.high[3:] / s.high[:-3] - 1.0) * 100.0
    kit.assert_series_close(values, expected)


def test_roc_nan_when_base_is_zero(kit) -> None:
    closes = [0.0, 1.0, 2.0, 3.0, 0.0, 5.0]
    values = kit.feed(ROC(1), [kit.make_bar(c, i=i) for i, c in enumerate(closes)])
    assert np.isnan(values[0]) and np.isnan(values[1])  # warm-up, then base 0
    assert values[2:4].tolist() == [100.0, 50.0]
    assert values[4] == -100.0
    assert np.isnan(values[5])
