"""Bollinger upper/lower/bandwidth against numpy (population std)."""

from __future__ import annotations

import numpy as np
import pytest

from components.indicators import BollingerBandwidth, BollingerLower, BollingerUpper
from components.models import BarField


def _reference(x: np.ndarray, period: int) -> tuple[np.ndarray, np.ndarray]:
    mean = np.full(len(x), np.nan)
    std = np.full(len(x), np.nan)
    for i in range(period - 1, len(x)):
        window = x[i - period + 1 : i + 1]
        mean[i] = window.mean()
        std[i] = window.std()  # ddof=0
    return mean, std


@pytest.mark.parametrize(("period", "k"), [(1, 2.0), (2, 1.0), (20, 2.0), (50, 2.5)])
def test_bands_match_numpy(kit, period: int, k: float) -> None:
    s = kit.random_walk(600, seed=period)
    mean, std = _reference(s.close, period)
    kit.assert_series_close(kit.feed(BollingerUpper(period, k), s.bars), mean + k * std)
    kit.assert_series_close(kit.feed(BollingerLower(period, k), s.bars), mean - k * std)
    bandwidth = kit.feed(BollingerBandwidth(period, k), s.bars)
    kit.assert_series_close(bandwidth, 2.0 * k * std / mean * 100.0)
    assert np.isnan(bandwidth[: period - 1]).all()


@pytest.mark.parametrize("bar_field", [BarField.OPEN, BarField.LOW, BarField.VOLUME])
def test_bands_bar_field(kit, bar_field: BarField) -> None:
    s = kit.random_walk(300, seed=4, none_volume_at=(100,))
    x = getattr(s, bar_field.name.lower())
    mean, std = _reference(x, 10)
    kit.assert_series_close(kit.feed(BollingerUpper(10, bar_field=bar_field), s.bars), mean + 2 * std)
    kit.assert_series_close(kit.feed(BollingerLower(10, bar_field=bar_field), s.bars), mean - 2 * std)


def test_hand_computed(kit) -> None:
    closes = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]  # mean 5, population std 2
    bars = [kit.make_bar(c, i=i) for i, c in enumerate(closes)]
    assert kit.feed(BollingerUpper(8), bars)[-1] == pytest.approx(9.0, abs=1e-12)
    assert kit.feed(BollingerLower(8, 1.0), bars)[-1] == pytest.approx(3.0, abs=1e-12)
    assert kit.feed(BollingerBandwidth(8), bars)[-1] == pytest.approx(160.0, abs=1e-12)


def test_bandwidth_nan_when_mean_near_zero(kit) -> None:
    closes = [1.0, -1.0] * 10
    bars = [kit.make_bar(c, i=i) for i, c in enumerate(closes)]
    bandwidth = kit.feed(BollingerBandwidth(4), bars)
    assert np.isnan(bandwidth).all()
    upper = kit.feed(BollingerUpper(4), bars)
    assert np.allclose(upper[3:], 2.0, atol=1e-12)  # bands stay defined
    zeros = [kit.make_bar(0.0, i=i) for i in range(10)]
    assert np.isnan(kit.feed(BollingerBandwidth(3), zeros)).all()
    tiny = [kit.make_bar(1e-13 * (i % 2), i=i) for i in range(10)]
    assert np.isnan(kit.feed(BollingerBandwidth(2), tiny)).all()


def test_flat_series_has_zero_width(kit) -> None:
    bars = [kit.make_bar(0.1, i=i) for i in range(100)]
    upper = kit.feed(BollingerUpper(7), bars)
    lower = kit.feed(BollingerLower(7), bars)
    assert np.all(np.abs(upper[6:] - 0.1) < 1e-15) and np.all(np.abs(lower[6:] - 0.1) < 1e-15)


def test_no_cancellation_at_high_level_and_low_volatility(kit) -> None:
    # Price 1e6, sigma ~1e-3 per step, trending: naive sum-of-squares would lose ~all digits of
    # the variance; the band half-width must still match numpy to 1e-9 absolute.
    s = kit.random_walk(20_000, seed=77, start=1e6, scale=1e-3, drift=5e-4)
    upper = kit.feed(BollingerUpper(20, 1.0), s.bars)
    lower = kit.feed(BollingerLower(20, 1.0), s.bars)
    _, std = _reference(s.close, 20)
    half_width = (upper - lower) / 2.0
    assert np.nanmax(np.abs(half_width - std)) < 1e-9
    bandwidth = kit.feed(BollingerBandwidth(20, 1.0), s.bars)
    mean, _ = _reference(s.close, 20)
    kit.assert_series_close(bandwidth, 2.0 * std / mean * 100.0, tol=1e-12)
