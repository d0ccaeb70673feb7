"""The example strategies: declarations, the seed's SMA signals, and an RSI run that uses every
order feature (limit, stop, expiry, modification, cancellation) on random-walk minute data."""

from __future__ import annotations

from collections import Counter

import pytest
from test_strategy_support import Wire, bar, random_walk_bars, strip_wall_clock

import components.examples  # noqa: F401  (registers the examples)
from components.broker import SimulatedBroker
from components.events import (
    FillEvent,
    OrderRejected,
    OrderSubmissionRequest,
)
from components.examples import RSIMeanReversion, SMACrossover
from components.models import BarPeriod, OrderType, TradeSide
from components.strategy import StrategyBase, get_registered_strategies


def test_examples_are_registered_with_names() -> None:
    registry = get_registered_strategies()
    assert registry["SMACrossover"] is SMACrossover and SMACrossover.name == "SMA Crossover"
    assert registry["RSIMeanReversion"] is RSIMeanReversion and RSIMeanReversion.name
    assert issubclass(SMACrossover, StrategyBase)


def test_public_api_imports() -> None:
    from components import (  # noqa: F401
        ActionType,
        BarPeriod,
        FillEvent,
        OrderType,
        ParamSpec,
        SimulatedBroker,
        StrategyBase,
        TradeSide,
    )

    assert StrategyBase is components.strategy.StrategyBase


def test_sma_crossover_parameters_as_the_seed_except_bar_period() -> None:
    p = SMACrossover.parameters
    assert (p["fast_period"].default, p["fast_period"].min, p["fast_period"].max) == (20, 5, 100)
    assert (p["slow_period"].default, p["slow_period"].min, p["slow_period"].max) == (100, 10, 500)
    assert (p["quantity"].default, p["quantity"].min, p["quantity"].max) == (1.0, 0.1, 100.0)
    assert p["bar_period"].default is BarPeriod.MINUTE
    s = SMACrossover(fast_period="10", slow_period=30)
    assert (s.fast_period, s.slow_period, s.quantity) == (10, 30, 1.0)


def _closes(values: list[float]) -> list[list]:
    return [[bar(i=i, open=v)] for i, v in enumerate(values)]


def test_sma_crossover_signals() -> None:
    s = SMACrossover(strategy_id="sma", fast_period=5, slow_period=10)
    wire = Wire(SimulatedBroker(), s)
    down = [100.0 - i for i in range(15)]
    up = [down[-1] + 2 * i for i in range(1, 15)]
    down2 = [up[-1] - 2 * i for i in range(1, 15)]
    for bars in _closes(down + up + down2):
        wire.feed(bars)
    orders = [e for e in wire.events(OrderSubmissionRequest)]
    assert [(o.side, o.signal) for o in orders] == [  # type: ignore[attr-defined]
        (TradeSide.BUY, "sma_crossover_up"),
        (TradeSide.SELL, "sma_crossover_down"),
    ]
    assert all(o.order_type is OrderType.MARKET and o.quantity == 1.0 for o in orders)  # type: ignore[attr-defined]
    assert s.position == 0.0 and len(wire.events(FillEvent)) == 2
    assert s.realized_pnl() != 0.0


def test_sma_crossover_ignores_other_bar_periods() -> None:
    s = SMACrossover(fast_period=5, slow_period=10)
    s.on_message("BarReceived.feed.", [bar(i=0, period=BarPeriod.SECOND)])
    assert s.drain() == []


def _run(n: int = 3000, order: str = "ab") -> tuple[Wire, dict[str, StrategyBase]]:
    strategies = {
        "a": RSIMeanReversion(strategy_id="rsi"),
        "b": SMACrossover(strategy_id="sma", fast_period=10, slow_period=40),
    }
    wire = Wire(SimulatedBroker(), *(strategies[k] for k in order))
    wire.start()
    for bars in random_walk_bars(n, ("AAA", "BBB")):
        wire.feed(bars)
    wire.stop()
    return wire, strategies


def test_rsi_mean_reversion_uses_every_order_feature() -> None:
    wire, strategies = _run()
    counts = Counter(f"{type(e).__name__}.{getattr(e, 'strategy_id', '')}" for _, e in wire.log)
    for kind in ("FillEvent", "OrderExpired", "ModificationAccepted", "CancellationAccepted", "OrderAccepted"):
        assert counts[f"{kind}.rsi"] >= 5, (kind, counts)
    assert not wire.events(OrderRejected)
    types = {e.order_type for e in wire.events(OrderSubmissionRequest) if e.strategy_id == "rsi"}  # type: ignore[attr-defined]
    assert types == {OrderType.LIMIT, OrderType.STOP, OrderType.MARKET}
    assert all(e.expires_at_ns for e in wire.events(OrderSubmissionRequest) if e.order_type is OrderType.LIMIT)  # type: ignore[attr-defined]
    rsi = strategies["a"]
    for sym in ("AAA", "BBB"):
        assert abs(rsi.position_of(sym)) <= 1.0
    fills = [e for e in wire.events(FillEvent) if e.strategy_id == "rsi"]  # type: ignore[attr-defined]
    net: dict[str, float] = {}
    for f in fills:
        net[f.symbol] = net.get(f.symbol, 0.0) + f.quantity_filled * f.side.sign  # type: ignore[attr-defined]
    assert net == pytest.approx({s: rsi.position_of(s) for s in net})


def test_example_run_is_deterministic_whatever_the_delivery_order() -> None:
    wire1, _ = _run(1500, "ab")
    wire2, _ = _run(1500, "ab")
    assert strip_wall_clock(e for _, e in wire1.log) == strip_wall_clock(e for _, e in wire2.log)
    wire3, _ = _run(1500, "ba")
    for sid in ("rsi", "sma"):
        mine = [e for _, e in wire1.log if getattr(e, "strategy_id", None) == sid]
        theirs = [e for _, e in wire3.log if getattr(e, "strategy_id", None) == sid]
        assert strip_wall_clock(mine) == strip_wall_clock(theirs)
    # across strategies, the order at one market time follows delivery (each is matched on its
    # own schedule); the fills themselves are the same
    assert sorted(map(repr, strip_wall_clock(wire1.events(FillEvent)))) == sorted(map(repr, strip_wall_clock(wire3.events(FillEvent))))
