"""StrategyBase: declaration, registry, per-bar pipeline, orders, callbacks, own-fills-only."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from test_strategy_support import Wire, bar, ts

from components.broker import SimulatedBroker
from components.codec import FEED_TOPIC, group_by_topic, type_prefix
from components.events import (
    RESPONSE_TYPES,
    BarProcessed,
    BarReceived,
    CancellationAccepted,
    CancellationRejected,
    EventBase,
    FillEvent,
    ModificationAccepted,
    ModificationRejected,
    OrderAccepted,
    OrderCancellationRequest,
    OrderExpired,
    OrderModificationRequest,
    OrderRejected,
    OrderSubmissionRequest,
    SyncClock,
    SyncReleased,
    SyncRequest,
)
from components.indicators import SimpleMovingAverage
from components.models import (
    BarPeriod,
    CancellationRejectionReason,
    ModificationRejectionReason,
    OrderRejectionReason,
    OrderType,
    TradeSide,
)
from components.params import ParamSpec
from components.strategy import StrategyBase, get_registered_strategies

BUY, SELL = TradeSide.BUY, TradeSide.SELL


class _Recorder(StrategyBase):
    """Records callbacks; `plan[i]` (bar index -> callable) places orders on that bar."""

    parameters = {"period": ParamSpec(default=3, min=1, max=50)}

    def setup(self) -> None:
        self.sma = self.add_indicator(SimpleMovingAverage(period=self.period))
        self.calls: list[tuple[str, Any]] = []
        self.plan: dict[int, Any] = {}
        self.seen_positions: list[float] = []
        self.bars_seen = 0

    def on_bar(self, bar: BarReceived) -> None:
        self.seen_positions.append(self.position)
        self.calls.append(("bar", bar.ts_event_ns))
        action = self.plan.get(self.bars_seen)
        self.bars_seen += 1
        if action is not None:
            action(self)

    def on_start(self) -> None:
        self.calls.append(("start", None))

    def on_stop(self) -> None:
        self.calls.append(("stop", None))

    def on_fill(self, fill: FillEvent) -> None:
        self.calls.append(("fill", fill.associated_order_id))

    def on_order_accepted(self, e: OrderAccepted) -> None:
        self.calls.append(("accepted", e.associated_order_id))

    def on_order_rejected(self, e: OrderRejected) -> None:
        self.calls.append(("rejected", e.rejection_reason))

    def on_cancellation_accepted(self, e: CancellationAccepted) -> None:
        self.calls.append(("cancel_ok", e.associated_order_id))

    def on_cancellation_rejected(self, e: CancellationRejected) -> None:
        self.calls.append(("cancel_rejected", e.rejection_reason))

    def on_modification_accepted(self, e: ModificationAccepted) -> None:
        self.calls.append(("modify_ok", e.associated_order_id))

    def on_modification_rejected(self, e: ModificationRejected) -> None:
        self.calls.append(("modify_rejected", e.rejection_reason))

    def on_order_expired(self, e: OrderExpired) -> None:
        self.calls.append(("expired", e.associated_order_id))


def deliver(strategy: StrategyBase, *bars: BarReceived) -> list[EventBase]:
    strategy.on_message(FEED_TOPIC, list(bars))
    return strategy.drain()


# --- declaration ---------------------------------------------------------------------------------


def test_strategy_id_default_explicit_and_invalid() -> None:
    assert _Recorder().strategy_id == "_Recorder"
    s = _Recorder(strategy_id="rec-1")
    assert s.strategy_id == s.component_id == "rec-1"
    for bad in ("a.b", "a b", "tab\t"):
        with pytest.raises(ValueError):
            _Recorder(strategy_id=bad)
    named = type("_Named", (_Recorder,), {"strategy_id": "fixed"})
    assert named().strategy_id == "fixed"


def test_parameters_become_attributes_and_overrides_are_validated() -> None:
    assert _Recorder().period == 3
    assert _Recorder(period="7").period == 7
    with pytest.raises(ValueError, match="above the maximum"):
        _Recorder(period=51)
    with pytest.raises(ValueError, match="no parameter 'perod'"):
        _Recorder(perod=5)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _Recorder().nothing  # noqa: B018


def test_parameter_names_cannot_shadow_the_base() -> None:
    cls = type("_Clash", (_Recorder,), {"parameters": {"position": ParamSpec(default=1)}})
    with pytest.raises(ValueError, match="clashes"):
        cls()


def test_on_bar_must_be_implemented() -> None:
    cls = type("_NoBar", (StrategyBase,), {})
    with pytest.raises(TypeError, match="on_bar"):
        cls()


def test_registry_public_subclasses_only_and_copy() -> None:
    public = type("PublicMadeByType", (_Recorder,), {})
    private = type("_ConfiguredPublicMadeByType", (public,), {"parameters": {}})
    registry = get_registered_strategies()
    assert registry["PublicMadeByType"] is public
    assert "_ConfiguredPublicMadeByType" not in registry and "_Recorder" not in registry
    registry.clear()
    assert "PublicMadeByType" in get_registered_strategies()
    assert private  # defined, not registered


def test_subscriptions_feed_plus_own_responses_and_releases() -> None:
    subs = _Recorder(strategy_id="s1").subscriptions()
    assert subs[0] == FEED_TOPIC
    assert sorted(subs[1:]) == sorted(type_prefix(cls, "s1") for cls in (*RESPONSE_TYPES, SyncReleased))
    assert len(subs) == 10


def test_start_and_stop_call_hooks() -> None:
    s = _Recorder()
    s.start()
    s.stop()
    assert s.calls == [("start", None), ("stop", None)]


# --- per-bar pipeline ----------------------------------------------------------------------------


def test_bar_processed_before_orders_with_indicator_values() -> None:
    s = _Recorder(strategy_id="s1")
    s.plan[2] = lambda st: st.submit_order(OrderType.MARKET, BUY, 1)
    out = deliver(s, bar(i=0, open=10.0))
    (bp,) = out
    assert isinstance(bp, BarProcessed) and bp.strategy_id == "s1"
    assert list(bp.indicators) == ["SMA_3_CLOSE"] and math.isnan(bp.indicators["SMA_3_CLOSE"])
    deliver(s, bar(i=1, open=11.0))
    out = deliver(s, bar(i=2, open=12.0))
    assert [type(e) for e in out] == [BarProcessed, OrderSubmissionRequest]
    assert out[0].indicators == {"SMA_3_CLOSE": pytest.approx(11.0)}  # type: ignore[attr-defined]
    assert (out[0].open, out[0].close, out[0].symbol, out[0].ts_event_ns) == (12.0, 12.0, "AAA", ts(2))  # type: ignore[attr-defined]
    assert s.bar.close["AAA", -2] == 11.0 and s.bar.close.latest("AAA") == 12.0


def test_without_bars_processed_the_indicators_and_orders_are_the_same() -> None:
    """A run that does not record BarProcessed (`--record trades`) builds none; nothing else changes."""
    outs: list[list[list[EventBase]]] = []
    strategies = []
    for reports in (True, False):
        s = _Recorder(strategy_id="s1", bars_processed=reports)
        s.plan[2] = lambda st: st.submit_order(OrderType.MARKET, BUY, 1)
        outs.append([deliver(s, bar(i=i, open=10.0 + i)) for i in range(4)])
        strategies.append(s)
    with_bp, without = ([[dataclasses.replace(e, ts_created_ns=0) for e in out] for out in run] for run in outs)
    assert [[e for e in out if type(e) is not BarProcessed] for out in with_bp] == without
    assert not any(type(e) is BarProcessed for out in without for e in out)
    assert strategies[1].sma.latest("AAA") == strategies[0].sma.latest("AAA") == pytest.approx(11.0)
    assert strategies[1].bar.close["AAA", -2] == strategies[0].bar.close["AAA", -2] == 11.0
    assert strategies[1].calls == strategies[0].calls


def test_symbol_filter_and_active_symbol() -> None:
    cls = type("_Only", (_Recorder,), {"symbols": ["BBB"]})
    s = cls()
    assert deliver(s, bar("AAA", 0), bar("BBB", 0), bar("CCC", 0)) != []
    assert s.bars_seen == 1 and s.active_symbol == "BBB"
    anything = _Recorder()
    deliver(anything, bar("AAA", 0), bar("BBB", 0))
    assert anything.bars_seen == 2


def test_bar_period_parameter_filters_bars() -> None:
    declared = type("_Minutes", (_Recorder,), {"parameters": {**_Recorder.parameters, "bar_period": ParamSpec(default=BarPeriod.MINUTE)}})
    s = declared()
    deliver(s, bar(i=0, period=BarPeriod.SECOND), bar("BBB", i=0, period=BarPeriod.MINUTE))
    assert s.bars_seen == 1
    s2 = declared(bar_period="SECOND")
    deliver(s2, bar(i=0, period=BarPeriod.SECOND), bar("BBB", i=0, period=BarPeriod.MINUTE))
    assert s2.bars_seen == 1 and s2.active_symbol == "AAA"
    undeclared = _Recorder()
    deliver(undeclared, bar(i=0, period=BarPeriod.SECOND), bar("BBB", i=0, period=BarPeriod.HOUR))
    assert undeclared.bars_seen == 2


def test_exception_in_on_bar_propagates() -> None:
    class _Boom(StrategyBase):
        def on_bar(self, bar: BarReceived) -> None:
            raise ZeroDivisionError("user bug")

    with pytest.raises(ZeroDivisionError, match="user bug"):
        _Boom().on_message(FEED_TOPIC, [bar()])


def test_exception_in_callback_propagates() -> None:
    class _BoomFill(_Recorder):
        def on_fill(self, fill: FillEvent) -> None:
            raise RuntimeError("bad fill handler")

    s = _BoomFill(strategy_id="s1")
    s.plan[0] = lambda st: st.submit_order(OrderType.MARKET, BUY, 1)
    wire = Wire(SimulatedBroker(), s)
    wire.feed([bar(i=0)])
    with pytest.raises(RuntimeError, match="bad fill handler"):
        wire.feed([bar(i=1)])


# --- orders --------------------------------------------------------------------------------------


def test_submit_order_fields_and_deterministic_ids() -> None:
    s = _Recorder(strategy_id="s1")
    ids: list[str] = []
    s.plan[0] = lambda st: ids.extend(
        [
            st.submit_order(OrderType.LIMIT, BUY, 2, limit_price=99),
            st.submit_order(OrderType.STOP, SELL, 1, stop_price=95.0, symbol="BBB", expires_at_ns=ts(9), signal="x"),
        ]
    )
    out = deliver(s, bar(i=4))
    assert ids == ["s1-1", "s1-2"]
    req1, req2 = out[1], out[2]
    assert isinstance(req1, OrderSubmissionRequest) and isinstance(req2, OrderSubmissionRequest)
    assert (req1.system_order_id, req1.symbol, req1.ts_event_ns, req1.strategy_id) == ("s1-1", "AAA", ts(4), "s1")
    assert type(req1.quantity) is float and type(req1.limit_price) is float
    assert (req2.symbol, req2.stop_price, req2.expires_at_ns, req2.signal) == ("BBB", 95.0, ts(9), "x")
    assert set(s.open_orders) == {"s1-1", "s1-2"}
    assert not s.open_orders["s1-1"].accepted


def test_submit_without_active_symbol_needs_a_symbol() -> None:
    s = _Recorder()
    with pytest.raises(RuntimeError, match="symbol"):
        s.submit_order(OrderType.MARKET, BUY, 1)
    assert s.submit_order(OrderType.MARKET, BUY, 1, symbol="AAA") == "_Recorder-1"


def test_cancel_and_modify_only_for_issued_ids() -> None:
    s = _Recorder(strategy_id="s1")
    assert s.submit_cancellation("s1-1") is False
    assert s.submit_modification("other-1", quantity=2) is False
    assert s.drain() == []
    oid = s.submit_order(OrderType.LIMIT, BUY, 1, limit_price=1.0, symbol="AAA")
    s.drain()
    assert s.submit_modification(oid, quantity=3) is True
    assert s.submit_cancellation(oid) is True
    mod, can = s.drain()
    assert isinstance(mod, OrderModificationRequest) and mod.quantity == 3.0 and mod.limit_price is None
    assert isinstance(can, OrderCancellationRequest) and can.symbol == "AAA" and can.strategy_id == "s1"


def test_order_lifecycle_through_the_broker() -> None:
    s = _Recorder(strategy_id="s1")
    limit_id = stop_id = gtd_id = ""

    def place(st: StrategyBase) -> None:
        nonlocal limit_id, stop_id, gtd_id
        limit_id = st.submit_order(OrderType.LIMIT, BUY, 1, limit_price=90.0)
        stop_id = st.submit_order(OrderType.STOP, SELL, 1, stop_price=80.0)
        gtd_id = st.submit_order(OrderType.LIMIT, BUY, 1, limit_price=70.0, expires_at_ns=ts(1))
        st.submit_order(OrderType.MARKET, BUY, -1)  # rejected

    def change(st: StrategyBase) -> None:
        st.submit_modification(limit_id, quantity=2, limit_price=95.0)
        st.submit_modification(limit_id, quantity=0)  # rejected
        st.submit_cancellation(stop_id)

    s.plan[0] = place
    s.plan[1] = change
    wire = Wire(SimulatedBroker(), s)
    wire.feed([bar(i=0)])
    assert set(s.open_orders) == {limit_id, stop_id, gtd_id}
    assert all(r.accepted for r in s.open_orders.values())
    assert ("rejected", OrderRejectionReason.INVALID_QUANTITY) in s.calls
    wire.feed([bar(i=1)])
    record = s.open_orders[limit_id]
    assert (record.quantity, record.limit_price) == (2.0, 95.0)
    assert stop_id not in s.open_orders
    assert ("modify_rejected", ModificationRejectionReason.INVALID_QUANTITY) in s.calls
    wire.feed([bar(i=2, open=96.0, low=94.0)])  # gtd expires, modified limit fills (2 @ 95)
    assert s.open_orders == {}
    assert s.position_of("AAA") == 2.0 and s.avg_price_of("AAA") == 95.0
    i_expired, i_fill, i_bar = (s.calls.index(x) for x in (("expired", gtd_id), ("fill", limit_id), ("bar", ts(2))))
    assert i_expired < i_fill < i_bar  # outcomes of T before the bar of T
    assert s.seen_positions[-1] == 2.0
    s.submit_cancellation(limit_id)  # outside on_bar: publish what it emitted by hand
    for topic, events in group_by_topic(s.drain()):
        wire.publish(topic, events)
    assert s.calls[-1] == ("cancel_rejected", CancellationRejectionReason.ORDER_ALREADY_CLOSED)


def test_position_is_current_inside_on_bar_and_pnl() -> None:
    s = _Recorder(strategy_id="s1")
    s.plan[0] = lambda st: st.submit_order(OrderType.MARKET, BUY, 2)
    s.plan[2] = lambda st: st.submit_order(OrderType.MARKET, SELL, 5)
    wire = Wire(type("_C", (SimulatedBroker,), {"commission_per_unit": 0.5})(), s)
    wire.feed([bar(i=0, open=100.0)])
    wire.feed([bar(i=1, open=101.0, close=102.0)])
    assert s.seen_positions == [0.0, 2.0]
    assert s.unrealized_pnl("AAA") == pytest.approx(2.0)
    wire.feed([bar(i=2, open=103.0)])
    wire.feed([bar(i=3, open=110.0, close=108.0)])  # reversal: long 2 -> short 3 at 110
    assert s.seen_positions[-1] == -3.0 and s.position == -3.0 and s.avg_price == 110.0
    assert s.realized_pnl() == pytest.approx(18.0) and s.realized_pnl("AAA") == pytest.approx(18.0)
    assert s.unrealized_pnl() == pytest.approx(6.0)
    assert s.commissions() == pytest.approx(3.5)


def test_only_own_fills_are_applied() -> None:
    s = _Recorder(strategy_id="s1")
    foreign = FillEvent(
        ts_event_ns=ts(1),
        ts_broker_ns=ts(1),
        associated_order_id="s2-1",
        symbol="AAA",
        strategy_id="s2",
        fill_id="s2-1-F",
        side=BUY,
        quantity_filled=1.0,
        fill_price=100.0,
        commission=0.0,
    )
    s.on_message("FillEvent.s2.", [foreign])
    assert s.position_of("AAA") == 0.0 and s.calls == []


def test_two_strategies_same_symbol_keep_separate_positions() -> None:
    a = _Recorder(strategy_id="a")
    b = _Recorder(strategy_id="b")
    a.plan[0] = lambda st: st.submit_order(OrderType.MARKET, BUY, 1)
    b.plan[0] = lambda st: st.submit_order(OrderType.MARKET, SELL, 3)
    b.plan[1] = lambda st: st.submit_order(OrderType.LIMIT, BUY, 1, limit_price=50.0)
    wire = Wire(SimulatedBroker(), a, b)
    for i in range(3):
        wire.feed([bar(i=i, open=100.0 + i)])
    assert a.position == 1.0 and a.avg_price == 101.0
    assert b.position == -3.0 and b.avg_price == 101.0
    assert [c for c in a.calls if c[0] == "fill"] == [("fill", "a-1")]
    assert [c for c in b.calls if c[0] in ("fill", "accepted")] == [("accepted", "b-1"), ("fill", "b-1"), ("accepted", "b-2")]
    assert list(b.open_orders) == ["b-2"] and a.open_orders == {}


def test_callbacks_see_the_orders_symbol_and_market_time() -> None:
    seen: list[tuple[str | None, float, int]] = []

    class _Watch(_Recorder):
        def on_fill(self, fill: FillEvent) -> None:
            seen.append((self.active_symbol, self.position, self.now_ns))

    s = _Watch(strategy_id="w")
    s.plan[0] = lambda st: st.submit_order(OrderType.MARKET, BUY, 1, symbol="BBB")
    wire = Wire(SimulatedBroker(), s)
    wire.feed([bar("AAA", 0), bar("BBB", 0)])
    wire.feed([bar("AAA", 1), bar("BBB", 1)])
    assert seen == [("BBB", 1.0, ts(1))]
    assert s.now.year >= 2023


# --- synchronisation with the broker (the state machine itself: test_broker_sync.py) -------------


class _Quiet(StrategyBase):
    """Overrides no answer callback (the fast path: it asks to be matched without waiting for
    answers); records bars and fills; `plan[i]` places orders on its i-th bar."""

    def setup(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.plan: dict[int, Any] = {}
        self.seen_positions: list[float] = []

    def on_bar(self, bar: BarReceived) -> None:
        self.seen_positions.append(self.position)
        self.calls.append(("bar", bar.ts_event_ns))
        action = self.plan.get(sum(1 for c in self.calls if c[0] == "bar") - 1)
        if action is not None:
            action(self)

    def on_fill(self, fill: FillEvent) -> None:
        self.calls.append(("fill", fill.associated_order_id))


def _answer(s: StrategyBase, *events: EventBase) -> list[EventBase]:
    for e in events:
        s.on_event(e)
    return s.drain()


def _release(s: StrategyBase, at: int) -> list[EventBase]:
    return _answer(s, SyncReleased(ts_event_ns=at, strategy_id=s.strategy_id))


def _accepted(oid: str, at: int = 0) -> OrderAccepted:
    return OrderAccepted(ts_event_ns=at, ts_broker_ns=at, associated_order_id=oid, strategy_id="s1")


def test_start_announces_the_strategys_clock_first() -> None:
    class _Early(_Quiet):
        symbols = ["BBB", "AAA"]
        parameters = {"bar_period": ParamSpec(default=BarPeriod.MINUTE)}

        def on_start(self) -> None:
            self.submit_order(OrderType.MARKET, BUY, 1, symbol="AAA")

    s = _Early(strategy_id="s1")
    s.start()
    clock, order = s.drain()
    assert isinstance(clock, SyncClock) and isinstance(order, OrderSubmissionRequest)
    assert (clock.strategy_id, clock.symbols, clock.bar_period) == ("s1", ("BBB", "AAA"), BarPeriod.MINUTE)
    anything = _Quiet(strategy_id="s2")
    anything.start()
    (clock,) = anything.drain()
    assert isinstance(clock, SyncClock) and (clock.symbols, clock.bar_period) == ((), None)


def test_a_strategy_with_nothing_working_never_asks_the_broker() -> None:
    s = _Quiet(strategy_id="s1")
    for i in range(5):
        assert all(type(e) is BarProcessed for e in deliver(s, bar(i=i)))
    assert not s.waiting_for_broker


def test_bars_are_held_until_the_broker_releases_them_then_handled_in_order() -> None:
    s = _Quiet(strategy_id="s1")
    s.plan[0] = lambda st: st.submit_order(OrderType.MARKET, BUY, 1)
    # no answer callback: the request to be matched leaves with the order
    assert [type(e) for e in deliver(s, bar(i=0))] == [BarProcessed, OrderSubmissionRequest, SyncRequest]
    assert s.waiting_for_broker
    assert deliver(s, bar(i=1)) == [] and deliver(s, bar(i=2)) == []  # held
    assert s.calls[-1] == ("bar", ts(0))
    _answer(s, _accepted("s1-1", ts(0)))
    _answer(s, FillEvent(ts_event_ns=ts(1), ts_broker_ns=ts(1), associated_order_id="s1-1", symbol="AAA", strategy_id="s1",
                         fill_id="s1-1-F", side=BUY, quantity_filled=1.0, fill_price=100.0, commission=0.0))
    assert s.calls[-1][0] == "fill"  # the fill of ts(1) before the bar of ts(1)
    _answer(s, SyncReleased(ts_event_ns=ts(1), strategy_id="other"))  # not ours: nothing happens
    assert s.waiting_for_broker
    out = _release(s, ts(1))
    # nothing works any more: bar 1 and the held bar 2 are handled, no new request
    assert [type(e) for e in out] == [BarProcessed, BarProcessed] and not s.waiting_for_broker
    assert [c[1] for c in s.calls if c[0] == "bar"] == [ts(0), ts(1), ts(2)]
    assert s.seen_positions == [0.0, 1.0, 1.0]


def test_with_answer_callbacks_the_match_is_asked_for_once_every_answer_was_handled() -> None:
    """What an answer's callback sends belongs to the timestamp whose request it answers."""

    class _Amends(_Recorder):
        def on_order_accepted(self, e: OrderAccepted) -> None:
            super().on_order_accepted(e)
            if e.associated_order_id == "s1-1":
                self.submit_modification("s1-1", limit_price=99.0)

    s = _Amends(strategy_id="s1")
    s.plan[0] = lambda st: st.submit_order(OrderType.LIMIT, BUY, 1, limit_price=50.0)
    assert [type(e) for e in deliver(s, bar(i=0))] == [BarProcessed, OrderSubmissionRequest]
    assert s.waiting_for_broker and deliver(s, bar(i=1)) == []  # held while answers are due
    out = _answer(s, _accepted("s1-1", ts(0)))
    assert [type(e) for e in out] == [OrderModificationRequest]  # from the callback, before the match
    out = _answer(s, ModificationAccepted(ts_event_ns=ts(0), ts_broker_ns=ts(0), associated_order_id="s1-1", strategy_id="s1"))
    assert [(type(e), e.ts_event_ns) for e in out] == [(SyncRequest, ts(0))]
    assert [type(e) for e in _release(s, ts(1))] == [BarProcessed, SyncRequest]  # still working


def test_an_unanswered_request_keeps_the_strategy_in_step_with_the_broker() -> None:
    s = _Recorder(strategy_id="s1")
    s.plan[0] = lambda st: st.submit_order(OrderType.MARKET, BUY, 1)
    deliver(s, bar(i=0))
    out = _answer(s, OrderRejected(ts_event_ns=ts(0), ts_broker_ns=ts(0), associated_order_id="s1-1", strategy_id="s1",
                                   rejection_reason=OrderRejectionReason.INVALID_QUANTITY, rejection_message="no"))
    assert out == [] and s.open_orders == {} and not s.waiting_for_broker  # nothing left for the broker
    s.plan[1] = lambda st: st.submit_cancellation("s1-1")  # closed already: the broker will say so
    out = deliver(s, bar(i=1))
    assert [type(e) for e in out] == [BarProcessed, OrderCancellationRequest]
    assert deliver(s, bar(i=2)) == []  # held until the answer
    out = _answer(s, CancellationRejected(ts_event_ns=ts(1), ts_broker_ns=ts(1), associated_order_id="s1-1", strategy_id="s1",
                                          rejection_reason=CancellationRejectionReason.ORDER_ALREADY_CLOSED,
                                          rejection_message="closed"))
    assert [type(e) for e in out] == [BarProcessed]  # nothing works: no match owed, bar 2 handled
    assert not s.waiting_for_broker


def test_orders_placed_at_start_are_matched_at_the_first_bar_seen() -> None:
    class _Early(_Quiet):
        def on_start(self) -> None:
            self.submit_order(OrderType.MARKET, BUY, 1, symbol="AAA")

    s = _Early(strategy_id="s1")
    s.start()
    assert [type(e) for e in s.drain()] == [SyncClock, OrderSubmissionRequest]
    out = deliver(s, bar(i=7))
    assert [(type(e), e.ts_event_ns) for e in out] == [(SyncRequest, ts(7) - 1)] and s.calls == []
    _answer(s, _accepted("s1-1"))
    assert [type(e) for e in _release(s, ts(7))] == [BarProcessed, SyncRequest]  # still working


def test_bars_of_other_symbols_are_no_tick_of_the_strategys_clock() -> None:
    s = type("_OnlyBBB", (_Quiet,), {"symbols": ["BBB"]})(strategy_id="s1")
    s.plan[0] = lambda st: st.submit_order(OrderType.LIMIT, BUY, 1, limit_price=1.0)
    assert [type(e) for e in deliver(s, bar("BBB", 0))] == [BarProcessed, OrderSubmissionRequest, SyncRequest]
    _answer(s, _accepted("s1-1", ts(0)))
    assert deliver(s, bar("AAA", 1)) == [] and deliver(s, bar("BBB", 2)) == []  # held
    # the broker matched it at its next timestamp, ts(2): the bar of ts(1) is handled (not its own:
    # no request) and so is ts(2), after which it asks again
    assert [(type(e), e.ts_event_ns) for e in _release(s, ts(2))] == [(BarProcessed, ts(2)), (SyncRequest, ts(2))]


def test_a_message_of_several_timestamps_is_handled_one_timestamp_at_a_time() -> None:
    s = _Quiet(strategy_id="s1")
    s.plan[1] = lambda st: st.submit_order(OrderType.MARKET, BUY, 1)  # on the 2nd bar: ts(0), BBB
    out = deliver(s, bar("AAA", 0), bar("BBB", 0), bar("AAA", 1), bar("BBB", 1), bar("AAA", 2))
    # ts(0) handled, then the request; ts(1) and ts(2) held until the broker released them
    assert [type(e) for e in out] == [BarProcessed, BarProcessed, OrderSubmissionRequest, SyncRequest]
    assert out[-1].ts_event_ns == ts(0)  # type: ignore[attr-defined]
    _answer(s, OrderAccepted(ts_event_ns=ts(0), ts_broker_ns=ts(0), associated_order_id="s1-1", strategy_id="s1"))
    out = _release(s, ts(1))
    assert [(type(e), e.ts_event_ns) for e in out] == [(BarProcessed, ts(1)), (BarProcessed, ts(1)), (SyncRequest, ts(1))]
    assert [(type(e), e.ts_event_ns) for e in _release(s, ts(2))] == [(BarProcessed, ts(2)), (SyncRequest, ts(2))]
