"""Shared helpers for the indicator tests (exposed as fixtures; no package imports needed)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pytest

from components.events import BarReceived
from components.indicators import IndicatorBase
from components.models import BarPeriod

MINUTE_NS = 60_000_000_000


def make_bar(
    close: float,
    *,
    symbol: str = "AAA",
    open: float | None = None,
    high: float | None = None,
    low: float | None = None,
    volume: int | None = 1000,
    i: int = 0,
) -> BarReceived:
    o = close if open is None else open
    return BarReceived(
        ts_event_ns=1_700_000_000_000_000_000 + i * MINUTE_NS,
        symbol=symbol,
        bar_period=BarPeriod.MINUTE,
        open=o,
        high=max(o, close) if high is None else high,
        low=min(o, close) if low is None else low,
        close=close,
        volume=volume,
    )


@dataclass
class Series:
    """A bar series plus its fields as float arrays (volume None -> NaN)."""

    bars: list[BarReceived]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def random_walk(
    n: int = 400,
    seed: int = 0,
    symbol: str = "AAA",
    start: float = 100.0,
    scale: float = 1.0,
    drift: float = 0.0,
    none_volume_at: Sequence[int] = (),
) -> Series:
    rng = np.random.default_rng(seed)
    close = start + np.cumsum(rng.normal(drift, scale, n))
    open_ = np.concatenate([[start], close[:-1]]) + rng.normal(0.0, scale * 0.3, n)
    high = np.maximum(open_, close) + np.abs(rng.normal(0.0, scale * 0.5, n))
    low = np.minimum(open_, close) - np.abs(rng.normal(0.0, scale * 0.5, n))
    vol = rng.integers(1, 10_000, n)
    none_at = set(none_volume_at)
    bars = [
        BarReceived(
            ts_event_ns=1_700_000_000_000_000_000 + i * MINUTE_NS,
            symbol=symbol,
            bar_period=BarPeriod.MINUTE,
            open=float(open_[i]),
            high=float(high[i]),
            low=float(low[i]),
            close=float(close[i]),
            volume=None if i in none_at else int(vol[i]),
        )
        for i in range(n)
    ]
    volume = np.array([np.nan if b.volume is None else float(b.volume) for b in bars])
    return Series(bars, open_, high, low, close, volume)


def feed(indicator: IndicatorBase, bars: Sequence[BarReceived]) -> np.ndarray:
    """Update with every bar; the latest value for that bar's symbol after each update."""
    out = []
    for bar in bars:
        indicator.update(bar)
        out.append(indicator.latest(bar.symbol))
    return np.array(out, dtype=float)


def assert_series_close(actual: np.ndarray, expected: np.ndarray, tol: float = 1e-9) -> None:
    """Same NaN positions; elsewhere |a - e| <= tol * max(1, |e|)."""
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    nan_a = np.isnan(actual)
    nan_e = np.isnan(expected)
    assert np.array_equal(nan_a, nan_e), (
        f"NaN mismatch at {np.flatnonzero(nan_a != nan_e)[:10].tolist()}"
    )
    ok = ~nan_e
    err = np.abs(actual[ok] - expected[ok]) / np.maximum(1.0, np.abs(expected[ok]))
    if err.size:
        worst = int(np.argmax(err))
        assert err[worst] <= tol, f"max rel err {err[worst]:.3e} at {np.flatnonzero(ok)[worst]}"


def rolling(x: np.ndarray, period: int, fn: Callable[[np.ndarray], float]) -> np.ndarray:
    """fn over each full trailing window, NaN before the first full one."""
    out = np.full(len(x), np.nan)
    for i in range(period - 1, len(x)):
        out[i] = fn(x[i - period + 1 : i + 1])
    return out


class Kit:
    make_bar = staticmethod(make_bar)
    random_walk = staticmethod(random_walk)
    feed = staticmethod(feed)
    assert_series_close = staticmethod(assert_series_close)
    rolling = staticmethod(rolling)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
