"""IndicatorBase: history indexing, bounds, registry, names, exports, per-symbol isolation."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import components.indicators as ind_pkg
from components.events import BarReceived
from components.indicators import (
    ADX,
    ATR,
    ROC,
    RSI,
    BollingerBandwidth,
    BollingerLower,
    BollingerUpper,
    Close,
    DetrendOscillator,
    High,
    IndicatorBase,
    Low,
    MinusDI,
    Open,
    ParabolicSAR,
    PeriodExtreme,
    PlusDI,
    SimpleMovingAverage,
    Volume,
    get_registered_indicators,
)
from components.indicators import base as base_module
from components.models import BarField, ExtremeType

EXPORTS = [
    "IndicatorBase",
    "get_registered_indicators",
    "Open",
    "High",
    "Low",
    "Close",
    "Volume",
    "SimpleMovingAverage",
    "BollingerUpper",
    "BollingerLower",
    "BollingerBandwidth",
    "RSI",
    "ATR",
    "PlusDI",
    "MinusDI",
    "ADX",
    "ParabolicSAR",
    "ROC",
    "DetrendOscillator",
    "PeriodExtreme",
]

FACTORIES: dict[str, Callable[[], IndicatorBase]] = {
    "open": Open,
    "high": High,
    "low": Low,
    "close": Close,
    "volume": Volume,
    "sma": lambda: SimpleMovingAverage(10),
    "bb_upper": lambda: BollingerUpper(10, 2.5),
    "bb_lower": lambda: BollingerLower(10, 1.5),
    "bb_bw": lambda: BollingerBandwidth(10),
    "rsi": lambda: RSI(7),
    "atr": lambda: ATR(7),
    "plus_di": lambda: PlusDI(7),
    "minus_di": lambda: MinusDI(7),
    "adx": lambda: ADX(5),
    "psar": ParabolicSAR,
    "roc": lambda: ROC(5),
    "detrend": lambda: DetrendOscillator(3, 8),
    "extreme": lambda: PeriodExtreme(Low, period=6, extreme_type=ExtremeType.MIN),
    "extreme_rsi": lambda: PeriodExtreme(RSI, 4, ExtremeType.MAX, bar_field=BarField.HIGH),
}


def test_package_exports_everything() -> None:
    assert sorted(ind_pkg.__all__) == sorted(EXPORTS)
    for name in EXPORTS:
        assert hasattr(ind_pkg, name)


def test_builtins_are_registered() -> None:
    registry = get_registered_indicators()
    for name in EXPORTS[2:]:
        assert registry[name] is getattr(ind_pkg, name)
    assert "IndicatorBase" not in registry
    assert not any(key.startswith("_") for key in registry)


def test_registry_is_a_copy() -> None:
    registry = get_registered_indicators()
    registry.clear()
    assert "SimpleMovingAverage" in get_registered_indicators()


def _namespace(name: str) -> dict[str, object]:
    return {
        "name": property(lambda self: name),
        "_compute_indicator": lambda self, bar: bar.close * 2.0,
    }


def test_subclass_with_underscore_name_is_not_registered() -> None:
    hidden = type("_HiddenIndicator", (IndicatorBase,), _namespace("HIDDEN"))
    assert "_HiddenIndicator" not in get_registered_indicators()
    assert hidden not in get_registered_indicators().values()


def test_public_subclass_is_registered(kit) -> None:
    try:
        visible = type("VisibleTestIndicator", (IndicatorBase,), _namespace("VIS"))
        assert get_registered_indicators()["VisibleTestIndicator"] is visible
        instance = visible()
        instance.update(kit.make_bar(3.0))
        assert instance.latest("AAA") == 6.0
        assert instance.name == "VIS"
    finally:
        base_module._indicator_registry.pop("VisibleTestIndicator", None)


def test_base_is_abstract() -> None:
    with pytest.raises(TypeError):
        IndicatorBase()  # type: ignore[abstract]


def test_names() -> None:
    assert [i().name for i in (Open, High, Low, Close, Volume)] == [
        "OPEN",
        "HIGH",
        "LOW",
        "CLOSE",
        "VOLUME",
    ]
    assert SimpleMovingAverage().name == "SMA_200_CLOSE"
    assert SimpleMovingAverage(20, bar_field=BarField.HIGH).name == "SMA_20_HIGH"
    assert BollingerUpper().name == "BB_UPPER_20_2.0_CLOSE"
    assert BollingerLower(10, 1.5, bar_field=BarField.LOW).name == "BB_LOWER_10_1.5_LOW"
    assert BollingerBandwidth(30, 3).name == "BB_BANDWIDTH_30_3.0_CLOSE"
    assert RSI().name == "RSI_14_CLOSE"
    assert RSI(9, bar_field=BarField.OPEN).name == "RSI_9_OPEN"
    assert ATR().name == "ATR_14"
    assert PlusDI().name == "PLUS_DI_14"
    assert MinusDI(7).name == "MINUS_DI_7"
    assert ADX(10).name == "ADX_10"
    assert ParabolicSAR().name == "PSAR_0.02_0.02_0.2"
    assert ParabolicSAR(0.01, 0.03, 0.3).name == "PSAR_0.01_0.03_0.3"
    assert ROC().name == "ROC(14)"
    assert DetrendOscillator().name == "DETREND(3,7)"
    assert DetrendOscillator(5, 20).name == "DETREND(5,20)"
    assert PeriodExtreme(High).name == "20-period MAX of HIGH"
    assert (
        PeriodExtreme(RSI, 5, ExtremeType.MIN, bar_field=BarField.LOW).name
        == "5-period MIN of RSI_14_LOW"
    )


def test_periods_and_max_history_are_clamped() -> None:
    assert SimpleMovingAverage(0).name == "SMA_1_CLOSE"
    assert SimpleMovingAverage(-5).period == 1
    assert BollingerUpper(0).period == 1
    assert RSI(0).period == 1
    assert ATR(-1).period == 1
    assert ADX(0).name == "ADX_1"
    assert ROC(0).name == "ROC(1)"
    assert DetrendOscillator(0, -3).name == "DETREND(1,1)"
    assert PeriodExtreme(Close, 0).period == 1
    assert Close(max_history=0).max_history == 1
    assert SimpleMovingAverage(5, max_history=-10).max_history == 1


def test_history_indexing_and_bounds(kit) -> None:
    close = Close(max_history=5)
    assert math.isnan(close.latest("AAA"))
    assert math.isnan(close["AAA", -1])
    for i in range(10):
        close.update(kit.make_bar(float(i), i=i))
    assert close.latest("AAA") == 9.0 == close["AAA", -1]
    assert [close["AAA", -k] for k in range(1, 6)] == [9.0, 8.0, 7.0, 6.0, 5.0]
    assert math.isnan(close["AAA", -6])  # beyond max_history
    assert close["AAA", 0] == 5.0  # oldest retained, ordinary Python indexing
    assert close["AAA", 4] == 9.0
    assert math.isnan(close["AAA", 5])
    assert math.isnan(close["BBB", -1])  # unknown symbol
    assert math.isnan(close.latest("BBB"))


def test_max_history_one(kit) -> None:
    close = Close(max_history=0)
    for i in range(3):
        close.update(kit.make_bar(float(i), i=i))
    assert close["AAA", -1] == 2.0
    assert math.isnan(close["AAA", -2])


def test_indicator_history_holds_warmup_nans(kit) -> None:
    sma = SimpleMovingAverage(3, max_history=10)
    for i in range(4):
        sma.update(kit.make_bar(float(i + 1), i=i))
    assert math.isnan(sma["AAA", 0]) and math.isnan(sma["AAA", 1])
    assert sma["AAA", 2] == 2.0 and sma["AAA", 3] == 3.0


@pytest.mark.parametrize("key", sorted(FACTORIES))
def test_per_symbol_isolation(kit, key: str) -> None:
    a = kit.random_walk(300, seed=1, symbol="AAA", none_volume_at=(40, 41))
    b = kit.random_walk(300, seed=2, symbol="BBB", start=50.0, scale=0.5)
    interleaved: list[BarReceived] = []
    for bar_a, bar_b in zip(a.bars, b.bars):
        interleaved += [bar_a, bar_b]
    both = kit.feed(FACTORIES[key](), interleaved)
    alone_a = kit.feed(FACTORIES[key](), a.bars)
    alone_b = kit.feed(FACTORIES[key](), b.bars)
    np.testing.assert_array_equal(both[0::2], alone_a)
    np.testing.assert_array_equal(both[1::2], alone_b)
    assert np.isfinite(alone_a[-50:]).all() and np.isfinite(alone_b[-50:]).all()


@pytest.mark.parametrize("key", sorted(FACTORIES))
def test_history_matches_latest_sequence(kit, key: str) -> None:
    series = kit.random_walk(150, seed=3)
    indicator = FACTORIES[key]()
    values = kit.feed(indicator, series.bars)
    history = [indicator["AAA", -k] for k in range(100, 0, -1)]
    np.testing.assert_array_equal(np.array(history), values[-100:])
    assert math.isnan(indicator["AAA", -101])
