"""The strategy API: buy / sell, expiry options, the order view, typed parameters, ids, registry."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from test_strategy_support import MINUTE, Wire, bar, ts

import components
from components import PERIOD_NS, BarPeriod, OrderRecord, OrderStatus, OrderType, ParamSpec, StrategyBase, TradeSide
from components.broker import SimulatedBroker
from components.events import (
    BarReceived,
    CancellationAccepted,
    FillEvent,
    OrderCancellationRequest,
    OrderExpired,
    OrderSubmissionRequest,
)
from components.spec import build_class, class_spec, configured, load_file_module
from components.strategy import get_registered_strategies
from components.strategy_classes import display_name
from orchestrator.orchestrator import strategy_ids_for
from orchestrator.strategies import with_parameters


class _Scripted(StrategyBase):
    """Runs `plan[i]` on its i-th bar; records the callbacks about orders with the order's view."""

    def setup(self) -> None:
        self.plan: dict[int, Any] = {}
        self.n = 0
        self.seen: list[tuple[str, str, OrderRecord]] = []
        self.cancels_seen = 0

    def on_bar(self, bar: BarReceived) -> None:
        action = self.plan.get(self.n)
        self.n += 1
        if action is not None:
            action(self)

    def on_fill(self, fill: FillEvent) -> None:
        self.seen.append(("fill", fill.associated_order_id, self.orders[fill.associated_order_id]))

    def on_order_expired(self, event: OrderExpired) -> None:
        self.seen.append(("expired", event.associated_order_id, self.orders[event.associated_order_id]))

    def on_cancellation_accepted(self, event: CancellationAccepted) -> None:
        self.cancels_seen += 1


def _submissions(wire: Wire) -> list[OrderSubmissionRequest]:
    return wire.events(OrderSubmissionRequest)  # type: ignore[return-value]


def test_buy_and_sell_choose_the_order_type_from_the_prices_given() -> None:
    s = _Scripted(strategy_id="s")
    s.plan[0] = lambda st: [st.buy(1), st.sell(2, limit_price=101), st.buy(3, stop_price=102),
                            st.sell(4, stop_price=99, limit_price=98.5, symbol="BBB", signal="x")]
    wire = Wire(s)
    wire.feed([bar(i=0)])
    got = [(o.order_type, o.side, o.quantity, o.limit_price, o.stop_price, o.symbol) for o in _submissions(wire)]
    assert got == [
        (OrderType.MARKET, TradeSide.BUY, 1.0, None, None, "AAA"),
        (OrderType.LIMIT, TradeSide.SELL, 2.0, 101.0, None, "AAA"),
        (OrderType.STOP, TradeSide.BUY, 3.0, None, 102.0, "AAA"),
        (OrderType.STOP_LIMIT, TradeSide.SELL, 4.0, 98.5, 99.0, "BBB"),
    ]
    with pytest.raises(TypeError):
        s.buy(1, 100.0)  # type: ignore[misc]  # options are keyword-only


def test_expires_in_counts_from_market_time_and_only_one_expiry_is_taken() -> None:
    s = _Scripted(strategy_id="s")
    s.plan[0] = lambda st: st.buy(1, limit_price=50, expires_in=timedelta(minutes=2))
    wire = Wire(s)
    wire.feed([bar(i=0)])
    assert _submissions(wire)[0].expires_at_ns == ts(0) + 2 * MINUTE == ts(0) + 2 * PERIOD_NS[BarPeriod.MINUTE]
    assert BarPeriod.MINUTE.duration == timedelta(minutes=1)
    for bad, words in [
        (dict(expires_in=timedelta(minutes=1), expires_at_ns=ts(5)), "one expiry"),
        (dict(expires_in=timedelta(0)), "positive timedelta"),
        (dict(expires_in=60), "positive timedelta"),
        (dict(expires_after_bars=0), ">= 1"),
        (dict(expires_after_bars=1.5), "whole number"),
    ]:
        with pytest.raises(ValueError, match=words):
            s.buy(1, limit_price=50, **bad)
    fresh = _Scripted(strategy_id="t")
    with pytest.raises(ValueError, match="before the first bar"):
        fresh.buy(1, symbol="AAA", expires_in=timedelta(minutes=1))


def test_expires_after_bars_gives_the_order_that_many_bars_of_its_symbol_then_expires_it() -> None:
    s = _Scripted(strategy_id="s")
    oid = ""

    def place(st: StrategyBase) -> None:
        nonlocal oid
        oid = st.buy(1, limit_price=50, symbol="BBB", expires_after_bars=2, signal="dip")  # placed on AAA's bar

    s.plan[0] = place
    wire = Wire(SimulatedBroker(), s)
    wire.feed([bar("AAA", 0), bar("BBB", 0)])  # BBB's bar at the time it was placed: no chance to fill
    wire.feed([bar("AAA", 1)])  # no bar of BBB: no chance either
    wire.feed([bar("AAA", 2), bar("BBB", 2)])  # chance 1
    assert s.orders[oid].status is OrderStatus.ACCEPTED and not wire.events(OrderCancellationRequest)
    wire.feed([bar("BBB", 3)])  # chance 2: still working, so the strategy ends it now
    cancels = wire.events(OrderCancellationRequest)
    assert [c.system_order_id for c in cancels] == [oid]  # type: ignore[attr-defined]
    assert [(kind, i) for kind, i, _ in s.seen] == [("expired", oid)] and s.cancels_seen == 0
    record = s.orders[oid]
    assert record.status is OrderStatus.EXPIRED and not record.is_open and record.signal == "dip"
    assert s.open_orders == {} and s.open_orders_of("BBB") == []


def test_an_order_that_fills_within_its_bars_is_not_cancelled() -> None:
    s = _Scripted(strategy_id="s")
    s.plan[0] = lambda st: st.buy(1, limit_price=99.0, expires_after_bars=2, signal="dip")
    wire = Wire(SimulatedBroker(), s)
    wire.feed([bar(i=0)])
    wire.feed([bar(i=1, open=100.0, low=100.0)])
    wire.feed([bar(i=2, open=98.0)])  # fills at 98
    wire.feed([bar(i=3)])
    assert not wire.events(OrderCancellationRequest)
    assert [kind for kind, _, _ in s.seen] == ["fill"]


def test_the_order_view_stays_readable_after_the_order_ends() -> None:
    s = _Scripted(strategy_id="s")
    ids: list[str] = []
    s.plan[0] = lambda st: ids.extend([st.buy(2, signal="entry"), st.sell(1, limit_price=500.0)])
    wire = Wire(SimulatedBroker(), s)
    wire.feed([bar(i=0)])
    assert [r.order_id for r in s.open_orders_of("AAA")] == ids and s.open_orders_of("BBB") == []
    wire.feed([bar(i=1, open=101.0)])
    (kind, oid, during), = s.seen
    assert (kind, oid) == ("fill", ids[0])
    # inside on_fill the order is already booked as filled, with its fill and its signal
    assert during.status is OrderStatus.FILLED and during.signal == "entry" and during.filled_quantity == 2.0
    assert [f.fill_price for f in during.fills] == [101.0]
    assert list(s.orders) == ids and len(s.orders) == 2
    assert s.orders[ids[1]].is_open and s.orders[ids[1]].accepted
    assert list(s.open_orders) == [ids[1]]
    with pytest.raises(TypeError):
        s.orders[ids[0]] = s.orders[ids[1]]  # type: ignore[index]  # read-only


def test_submit_order_keeps_its_positional_spelling_and_takes_the_new_expiries() -> None:
    s = _Scripted(strategy_id="s")
    s.plan[0] = lambda st: (st.submit_order(OrderType.LIMIT, TradeSide.BUY, 1, 90.0, None, None, "sig", "AAA", ts(3)),
                            st.submit_order(OrderType.LIMIT, TradeSide.BUY, 1, 90.0, expires_after_bars=3))
    wire = Wire(s)
    wire.feed([bar(i=0)])
    first, second = _submissions(wire)
    assert (first.limit_price, first.signal, first.expires_at_ns) == (90.0, "sig", ts(3))
    assert second.expires_at_ns is None and s.orders[second.system_order_id].expires_after_bars == 3


# --- parameters -------------------------------------------------------------------------------------


class _Typed(StrategyBase):
    period = ParamSpec(default=20, min=2, max=50)
    period_kind = ParamSpec(default=BarPeriod.MINUTE)
    parameters = {"legacy": ParamSpec(default=1.5)}

    def on_bar(self, bar: BarReceived) -> None: ...


def test_class_attribute_parameters_join_the_parameters_dict_and_read_as_values() -> None:
    assert list(_Typed.parameters) == ["legacy", "period", "period_kind"]
    assert _Typed.period == ParamSpec(default=20, min=2, max=50)  # on the class: the spec
    s = _Typed(period="7")
    assert (s.period, s.period_kind, s.legacy) == (7, BarPeriod.MINUTE, 1.5)
    with pytest.raises(ValueError, match="above the maximum"):
        _Typed(period=51)
    configured_cls = with_parameters(_Typed, {"period": "9"})
    assert configured_cls().period == 9
    rebuilt = build_class(class_spec(configured_cls))
    assert rebuilt().period == 9 and rebuilt.parameters["period"].default == 9


def test_unknown_attributes_raise() -> None:
    with pytest.raises(AttributeError, match="perod"):
        _Typed().perod  # type: ignore[attr-defined]  # noqa: B018


# --- ids and the registry ---------------------------------------------------------------------------


class DipBuyerWithoutName(StrategyBase):
    threshold = ParamSpec(default=1.0)

    def on_bar(self, bar: BarReceived) -> None: ...


def test_ids_come_from_the_strategys_own_class_not_its_configuration() -> None:
    configured_cls = with_parameters(DipBuyerWithoutName, {"threshold": "2"}, ["AAA"])
    assert strategy_ids_for([configured_cls]) == ["DipBuyerWithoutName"]
    assert configured_cls().strategy_id == "DipBuyerWithoutName"
    rebuilt = build_class(class_spec(configured_cls))
    assert strategy_ids_for([rebuilt]) == ["DipBuyerWithoutName"] and rebuilt().strategy_id == "DipBuyerWithoutName"
    assert strategy_ids_for([configured(DipBuyerWithoutName, strategy_id="mine")]) == ["mine"]
    assert display_name(configured_cls) == "DipBuyerWithoutName"  # run names and the run's config
    assert display_name(with_parameters(_Typed, {"period": "3"})) == "_Typed"
    assert "DipBuyerWithoutName" in get_registered_strategies()
    assert configured_cls.__name__ not in get_registered_strategies()


_SOURCE = """
from components import StrategyBase

class TwiceNamed(StrategyBase):
    def on_bar(self, bar):
        pass
"""


def test_the_same_name_from_another_file_is_an_error_naming_both(tmp_path: Path) -> None:
    from orchestrator.strategies import resolve

    first, second = tmp_path / "first.py", tmp_path / "second.py"
    first.write_text(textwrap.dedent(_SOURCE))
    second.write_text(textwrap.dedent(_SOURCE))
    one = load_file_module(first)
    assert get_registered_strategies()["TwiceNamed"] is one.TwiceNamed
    exec(compile(first.read_text(), str(first), "exec"), vars(one))  # a reload of the same file
    assert get_registered_strategies()["TwiceNamed"] is one.TwiceNamed
    two = load_file_module(second)  # loads: named by its file, it runs
    assert resolve(f"{second}:TwiceNamed") is two.TwiceNamed
    assert "TwiceNamed" not in get_registered_strategies()
    with pytest.raises(ValueError, match="TwiceNamed") as info:
        resolve("TwiceNamed")
    assert str(first) in str(info.value) and str(second) in str(info.value)


def test_public_names() -> None:
    from components.strategy_orders import OrderRecord as record_class

    assert components.OrderRecord is record_class and components.OrderStatus.FILLED.is_open is False
    assert components.PERIOD_NS[BarPeriod.SECOND] == 1_000_000_000
    assert {"OrderRecord", "OrderStatus", "PERIOD_NS"} <= set(components.__all__)


def test_bars_at_other_times_do_not_shift_a_bar_limit() -> None:
    s = _Scripted(strategy_id="s")
    s.plan[1] = lambda st: st.buy(1, limit_price=1.0, expires_after_bars=1)
    wire = Wire(SimulatedBroker(), s)
    for i in range(3):
        wire.feed([bar(i=i)])
    # placed on bar 1, its one chance is bar 2, where it is ended
    cancel, = wire.events(OrderCancellationRequest)
    assert cancel.ts_event_ns == ts(2)


def test_the_readmes_strategy_runs_and_uses_every_expiry_it_shows(tmp_path: Path) -> None:
    from test_strategy_support import random_walk_bars

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "my_strategy.py"
    path.write_text(code)
    strategy = load_file_module(path).DipBuyer(period=5)
    assert strategy.strategy_id == "DipBuyer"
    wire = Wire(SimulatedBroker(), strategy)
    wire.start()
    for bars in random_walk_bars(600, symbols=("AAA", "BBB")):
        wire.feed(bars)
    statuses = {record.status for record in strategy.orders.values()}
    assert {OrderStatus.FILLED, OrderStatus.EXPIRED} <= statuses
    assert wire.events(OrderExpired) and wire.events(OrderCancellationRequest)  # expires_in, expires_after_bars
