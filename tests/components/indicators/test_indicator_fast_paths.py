"""Fast paths must read exactly what the plain ones did: OHLCV views of a shared bar history, and
SimpleMovingAverage's fused update (issue 7)."""

from __future__ import annotations

import math
import random

from components.events import BarReceived
from components.indicators import (
    Close,
    High,
    IndicatorBase,
    Low,
    Open,
    SimpleMovingAverage,
    Volume,
    get_registered_indicators,
)
from components.indicators.market_fields import BarHistory, bar_field_views
from components.models import BarField, BarPeriod

INDICES = (-1, -2, -3, -99, -100, -101, 0, 1, 99, 100)


def _interleaved(kit) -> list[BarReceived]:
    a = kit.random_walk(250, seed=4, symbol="AAA", none_volume_at=(3, 200, 249))
    b = kit.random_walk(250, seed=9, symbol="BBB", start=40.0)
    return [bar for pair in zip(a.bars, b.bars) for bar in pair]


def _repr_reads(ind: IndicatorBase, symbols: tuple[str, ...]) -> list[str]:
    return [repr(ind.latest(s)) for s in symbols] + [repr(ind[s, k]) for s in symbols for k in INDICES]


def test_views_read_what_standalone_field_indicators_store(kit) -> None:
    history = BarHistory()
    views = bar_field_views(history)
    plain: tuple[IndicatorBase, ...] = (Open(), High(), Low(), Close(), Volume())
    for i, bar in enumerate(_interleaved(kit)):
        history[bar.symbol].append(bar)
        for ind in plain:
            ind.update(bar)
        if i % 37 == 0 or i > 480:
            for view, ind in zip(views, plain):
                assert _repr_reads(view, ("AAA", "BBB", "ZZZ")) == _repr_reads(ind, ("AAA", "BBB", "ZZZ"))
    assert all(isinstance(v, cls) for v, cls in zip(views, (Open, High, Low, Close, Volume)))
    assert [v.name for v in views] == ["OPEN", "HIGH", "LOW", "CLOSE", "VOLUME"]
    assert all(v.max_history == 100 for v in views)
    assert isinstance(views[4].latest("AAA"), float) and math.isnan(views[4]["AAA", -1])  # volume None


def test_updating_a_view_records_the_bar_for_all_five(kit) -> None:
    history = BarHistory(max_history=2)
    o, h, l, c, v = bar_field_views(history)
    for i in range(3):
        c.update(kit.make_bar(float(i), open=10.0 + i, volume=i, i=i))
    assert (o.latest("AAA"), c["AAA", -2], v.latest("AAA")) == (12.0, 1.0, 2.0)
    assert math.isnan(c["AAA", -3]) and c.max_history == 2 and len(history["AAA"]) == 2
    assert "BBB" not in history and math.isnan(h.latest("BBB")) and "BBB" not in history


def test_views_are_not_registered() -> None:
    assert not any("View" in name or name.startswith("_") for name in get_registered_indicators())


def _noisy_bars(seed: int, n: int = 3000) -> list[BarReceived]:
    rng = random.Random(seed)
    price = {s: rng.uniform(1.0, 1e6) for s in "AB"}
    bars = []
    for i in range(n):
        s = rng.choice("AB")
        price[s] *= 1 + rng.gauss(0.0, 0.02)
        r = rng.random()
        c = math.nan if r < 0.01 else math.inf if r < 0.013 else -math.inf if r < 0.016 else price[s]
        vol = None if rng.random() < 0.02 else rng.randint(0, 10**6)
        bars.append(
            BarReceived(
                ts_event_ns=i, symbol=s, bar_period=BarPeriod.MINUTE, open=c, high=c, low=c, close=c, volume=vol
            )
        )
    return bars


def test_sma_fused_update_is_bit_identical_to_the_generic_path() -> None:
    for period in (1, 2, 3, 7, 30):
        for bar_field in (BarField.CLOSE, BarField.VOLUME):
            fused = SimpleMovingAverage(period, max_history=5, bar_field=bar_field)
            generic = SimpleMovingAverage(period, max_history=5, bar_field=bar_field)
            for bar in _noisy_bars(period):
                fused.update(bar)
                IndicatorBase.update(generic, bar)  # _compute_indicator + append, as before
                assert repr(fused.latest(bar.symbol)) == repr(generic.latest(bar.symbol))
            for s in "AB":
                assert [repr(fused[s, k]) for k in range(-6, 5)] == [repr(generic[s, k]) for k in range(-6, 5)]


def test_sma_subclass_overriding_compute_keeps_its_override() -> None:
    class _Doubled(SimpleMovingAverage):
        def _compute_indicator(self, incoming_bar: BarReceived) -> float:
            return 2.0 * super()._compute_indicator(incoming_bar)

    ind, ref = _Doubled(2), SimpleMovingAverage(2)
    for bar in _noisy_bars(1, 200):
        ind.update(bar)
        ref.update(bar)
        assert repr(ind.latest(bar.symbol)) == repr(2.0 * ref.latest(bar.symbol))
