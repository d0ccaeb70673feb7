"""SimulatedBroker: the seed's fill rules, validation with reasons, cancel/modify, expiry, order."""

from __future__ import annotations

import math

import pytest
from test_strategy_support import bar, ts

from components.broker import SimulatedBroker
from components.codec import FEED_TOPIC, type_prefix
from components.events import (
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
from components.models import (
    BarPeriod,
    CancellationRejectionReason,
    ModificationRejectionReason,
    OrderRejectionReason,
    OrderType,
    TradeSide,
)

BUY, SELL = TradeSide.BUY, TradeSide.SELL
MKT, LMT, STP, STL = OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT


class _Counter:
    n = 0


def submit(
    broker: SimulatedBroker,
    order_type: OrderType,
    side: TradeSide,
    quantity: float = 1.0,
    *,
    limit: float | None = None,
    stop: float | None = None,
    symbol: str = "AAA",
    sid: str = "s1",
    oid: str | None = None,
    at: int = ts(0),
    expires: int | None = None,
) -> EventBase:
    """Send one submission; return the broker's answer."""
    _Counter.n += 1
    req = OrderSubmissionRequest(
        ts_event_ns=at,
        system_order_id=oid or f"{sid}-x{_Counter.n}",
        symbol=symbol,
        strategy_id=sid,
        order_type=order_type,
        side=side,
        quantity=quantity,
        limit_price=limit,
        stop_price=stop,
        expires_at_ns=expires,
    )
    broker.on_message(type_prefix(OrderSubmissionRequest, sid), [req])
    (answer,) = broker.drain()
    return answer


def cancel(broker: SimulatedBroker, oid: str, sid: str = "s1", at: int = ts(0)) -> EventBase:
    broker.on_message("OrderCancellationRequest.", [OrderCancellationRequest(ts_event_ns=at, system_order_id=oid, symbol="AAA", strategy_id=sid)])
    (answer,) = broker.drain()
    return answer


def modify(broker: SimulatedBroker, oid: str, sid: str = "s1", at: int = ts(0), **fields: float | None) -> EventBase:
    req = OrderModificationRequest(ts_event_ns=at, system_order_id=oid, symbol="AAA", strategy_id=sid, **fields)  # type: ignore[arg-type]
    broker.on_message("OrderModificationRequest.", [req])
    (answer,) = broker.drain()
    return answer


def sync(broker: SimulatedBroker, sid: str, after: int) -> list[EventBase]:
    broker.on_message(type_prefix(SyncRequest, sid), [SyncRequest(ts_event_ns=after, strategy_id=sid)])
    return broker.drain()


def feed(broker: SimulatedBroker, *bars: BarReceived) -> list[EventBase]:
    """Deliver one timestamp's bars, and have every strategy with working orders ask to be
    matched at it (as a strategy does); return what the broker emitted except the releases."""
    at = bars[0].ts_event_ns
    broker.on_message(FEED_TOPIC, list(bars))
    assert broker.drain() == [], "bars alone match nothing and are not re-emitted"
    sids = sorted({o.strategy_id for o in broker.working_orders()})
    out = []
    for sid in sids:
        answer = sync(broker, sid, at - 1)
        assert answer[-1] == SyncReleased(ts_event_ns=at, strategy_id=sid, ts_created_ns=answer[-1].ts_created_ns)
        assert all(getattr(e, "strategy_id", sid) == sid for e in answer)
        out += answer[:-1]
    return out


def fills(events: list[EventBase]) -> list[FillEvent]:
    assert all(type(e) is FillEvent for e in events), events
    return events  # type: ignore[return-value]


@pytest.fixture
def broker() -> SimulatedBroker:
    return SimulatedBroker()


def oid_of(answer: EventBase) -> str:
    assert type(answer) is OrderAccepted, answer
    return answer.associated_order_id


# --- plumbing ------------------------------------------------------------------------------------


def test_subscriptions_are_feed_requests_and_sync(broker: SimulatedBroker) -> None:
    subs = broker.subscriptions()
    assert FEED_TOPIC in subs
    for cls in (OrderSubmissionRequest, OrderCancellationRequest, OrderModificationRequest, SyncClock, SyncRequest):
        assert type_prefix(cls) in subs
    assert SimulatedBroker.component_id == "broker"


def test_bars_alone_match_nothing(broker: SimulatedBroker) -> None:
    submit(broker, MKT, BUY)
    broker.on_message(FEED_TOPIC, [bar(i=1)])
    assert broker.drain() == []
    assert len(broker.working_orders()) == 1


# --- synchronisation -------------------------------------------------------------------------


def test_a_sync_is_matched_at_the_first_timestamp_after_it_even_when_the_feed_is_ahead(broker: SimulatedBroker) -> None:
    for i in range(1, 6):
        broker.on_message(FEED_TOPIC, [bar(i=i, open=100.0 + i)])
    submit(broker, MKT, BUY, at=ts(2))
    out = sync(broker, "s1", ts(2))
    assert [type(e) for e in out] == [FillEvent, SyncReleased]
    assert out[0].ts_event_ns == out[1].ts_event_ns == ts(3) and out[0].fill_price == 103.0


def test_a_sync_before_the_next_bars_waits_for_them(broker: SimulatedBroker) -> None:
    broker.on_message(FEED_TOPIC, [bar(i=1)])
    submit(broker, MKT, BUY, at=ts(1))
    assert sync(broker, "s1", ts(1)) == []
    broker.on_message(FEED_TOPIC, [bar(i=2, open=42.0)])
    out = broker.drain()
    assert [type(e) for e in out] == [FillEvent, SyncReleased] and out[0].fill_price == 42.0


def test_strategies_are_matched_on_their_own_schedules(broker: SimulatedBroker) -> None:
    for i in range(1, 4):
        broker.on_message(FEED_TOPIC, [bar(i=i, open=10.0 * i)])
    submit(broker, MKT, BUY, sid="a", at=ts(2))
    submit(broker, MKT, SELL, sid="b", at=ts(1))
    out_a = sync(broker, "a", ts(2))
    out_b = sync(broker, "b", ts(1))
    assert [(e.strategy_id, e.ts_event_ns, e.fill_price) for e in (out_a[0], out_b[0])] == [("a", ts(3), 30.0), ("b", ts(2), 20.0)]
    out_c = sync(broker, "c", ts(1))  # nothing working: released at once
    assert [(type(e), e.ts_event_ns) for e in out_c] == [(SyncReleased, ts(2))]


def clock(broker: SimulatedBroker, sid: str, symbols: tuple[str, ...] = (), period: BarPeriod | None = None) -> None:
    broker.on_message(type_prefix(SyncClock, sid), [SyncClock(ts_event_ns=0, strategy_id=sid, symbols=symbols, bar_period=period)])
    assert broker.drain() == []


def test_a_strategy_is_matched_on_its_own_clock_whatever_else_the_run_replays(broker: SimulatedBroker) -> None:
    """The same strategy, alone or beside one that adds BBB's timestamps: expiry and fill stamps
    come from AAA's bars only."""
    clock(broker, "s1", ("AAA",))
    broker.on_message(FEED_TOPIC, [bar("AAA", 0)])
    submit(broker, LMT, BUY, limit=50.0, at=ts(0), expires=ts(0) + 1)
    submit(broker, MKT, BUY, at=ts(0))
    assert sync(broker, "s1", ts(0)) == []  # parked: no timestamp of AAA after ts(0) yet
    broker.on_message(FEED_TOPIC, [bar("BBB", 1), bar("CCC", 1)])  # another strategy's symbols
    broker.on_message(FEED_TOPIC, [bar("BBB", 2)])
    assert broker.drain() == []
    broker.on_message(FEED_TOPIC, [bar("AAA", 3, open=77.0), bar("BBB", 3)])
    out = broker.drain()
    assert [(type(e), e.ts_event_ns) for e in out] == [(OrderExpired, ts(3)), (FillEvent, ts(3)), (SyncReleased, ts(3))]
    assert out[1].fill_price == 77.0  # type: ignore[attr-defined]
    # a request after a timestamp the broker already has is matched at the next one of its clock
    broker.on_message(FEED_TOPIC, [bar("BBB", 4)])
    broker.on_message(FEED_TOPIC, [bar("AAA", 5, open=55.0)])
    submit(broker, MKT, SELL, at=ts(3))
    out = sync(broker, "s1", ts(3))
    assert [(type(e), e.ts_event_ns) for e in out] == [(FillEvent, ts(5)), (SyncReleased, ts(5))]


def test_a_clock_with_a_bar_period_ticks_on_that_period_only(broker: SimulatedBroker) -> None:
    clock(broker, "s1", (), BarPeriod.HOUR)
    broker.on_message(FEED_TOPIC, [bar("AAA", 1, period=BarPeriod.MINUTE)])
    submit(broker, MKT, BUY, at=ts(0))
    assert sync(broker, "s1", ts(0)) == []
    broker.on_message(FEED_TOPIC, [bar("AAA", 2, open=12.0, period=BarPeriod.HOUR)])
    out = broker.drain()
    assert [(type(e), e.ts_event_ns) for e in out] == [(FillEvent, ts(2)), (SyncReleased, ts(2))]


def test_orders_outside_the_strategys_symbols_are_refused(broker: SimulatedBroker) -> None:
    clock(broker, "s1", ("AAA", "BBB"))
    answer = submit(broker, MKT, BUY, symbol="CCC")
    assert type(answer) is OrderRejected and answer.rejection_reason is OrderRejectionReason.UNKNOWN_SYMBOL
    assert "strategy 's1'" in answer.rejection_message and "AAA, BBB" in answer.rejection_message
    assert type(submit(broker, MKT, BUY, symbol="BBB")) is OrderAccepted
    assert type(submit(broker, MKT, BUY, symbol="CCC", sid="s2")) is OrderAccepted  # s2 named no symbols


def test_a_sync_older_than_the_history_fails_clearly() -> None:
    small = type("_Small", (SimulatedBroker,), {"history": 2})()
    for i in range(1, 8):
        small.on_message(FEED_TOPIC, [bar(i=i)])
    with pytest.raises(RuntimeError, match="older than the 2 timestamps"):
        sync(small, "s1", ts(1))


def test_bars_must_go_forward_in_time(broker: SimulatedBroker) -> None:
    broker.on_message(FEED_TOPIC, [bar(i=2)])
    with pytest.raises(ValueError, match="must go forward in time"):
        broker.on_message(FEED_TOPIC, [bar(i=2)])


def test_answers_copy_request_timestamps_and_strategy(broker: SimulatedBroker) -> None:
    answer = submit(broker, MKT, BUY, at=ts(3), sid="alpha")
    assert isinstance(answer, OrderAccepted)
    assert answer.ts_event_ns == answer.ts_broker_ns == ts(3)
    assert answer.strategy_id == "alpha"
    rejected = submit(broker, MKT, BUY, quantity=0, at=ts(4), sid="beta")
    assert isinstance(rejected, OrderRejected)
    assert rejected.ts_event_ns == rejected.ts_broker_ns == ts(4) and rejected.strategy_id == "beta"


# --- fill rules ----------------------------------------------------------------------------------


def test_market_fills_at_next_open_of_same_symbol_only(broker: SimulatedBroker) -> None:
    oid = oid_of(submit(broker, MKT, BUY, 2.0, sid="s1"))
    assert feed(broker, bar("BBB", 1, open=50.0)) == []
    (fill,) = fills(feed(broker, bar("BBB", 2, open=51.0), bar("AAA", 2, open=101.5, high=103, low=99)))
    assert fill.associated_order_id == oid and fill.fill_id == f"{oid}-F"
    assert fill.fill_price == 101.5 and fill.quantity_filled == 2.0 and fill.side is BUY
    assert fill.ts_event_ns == fill.ts_broker_ns == ts(2)
    assert fill.symbol == "AAA" and fill.strategy_id == "s1" and fill.commission == 0.0
    assert feed(broker, bar("AAA", 3)) == []  # filled once
    assert broker.working_orders() == []


@pytest.mark.parametrize(
    ("side", "stop", "o", "h", "l", "expected"),
    [
        (BUY, 105.0, 100.0, 106.0, 99.0, 105.0),  # touched: at the stop
        (BUY, 105.0, 107.0, 108.0, 106.0, 107.0),  # gapped through: at the open
        (BUY, 105.0, 100.0, 104.9, 99.0, None),  # not reached
        (BUY, 105.0, 100.0, 105.0, 99.0, 105.0),  # high == stop triggers
        (SELL, 95.0, 100.0, 101.0, 94.0, 95.0),
        (SELL, 95.0, 93.0, 94.0, 92.0, 93.0),
        (SELL, 95.0, 100.0, 101.0, 95.1, None),
        (SELL, 95.0, 100.0, 101.0, 95.0, 95.0),
    ],
)
def test_stop_gap_model(broker: SimulatedBroker, side: TradeSide, stop: float, o: float, h: float, l: float, expected: float | None) -> None:
    submit(broker, STP, side, stop=stop)
    out = fills(feed(broker, bar(i=1, open=o, high=h, low=l, close=o)))
    assert [f.fill_price for f in out] == ([] if expected is None else [expected])


@pytest.mark.parametrize(
    ("side", "limit", "o", "h", "l", "expected"),
    [
        (BUY, 99.0, 100.0, 101.0, 98.0, 99.0),  # touched: at the limit
        (BUY, 99.0, 97.0, 98.0, 96.0, 97.0),  # opened below: price improvement
        (BUY, 99.0, 100.0, 101.0, 99.5, None),
        (BUY, 99.0, 100.0, 101.0, 99.0, 99.0),
        (SELL, 101.0, 100.0, 102.0, 99.0, 101.0),
        (SELL, 101.0, 103.0, 104.0, 102.0, 103.0),
        (SELL, 101.0, 100.0, 100.5, 99.0, None),
        (SELL, 101.0, 100.0, 101.0, 99.0, 101.0),
    ],
)
def test_limit_with_price_improvement(broker: SimulatedBroker, side: TradeSide, limit: float, o: float, h: float, l: float, expected: float | None) -> None:
    submit(broker, LMT, side, limit=limit)
    out = fills(feed(broker, bar(i=1, open=o, high=h, low=l, close=o)))
    assert [f.fill_price for f in out] == ([] if expected is None else [expected])


def test_stop_limit_converts_and_fills_on_the_same_bar(broker: SimulatedBroker) -> None:
    submit(broker, STL, BUY, stop=105.0, limit=106.0)
    # Stop reached (high 107), limit reached (low 99): fills at min(limit, open) = the open; the
    # model has no intrabar path (as in the seed).
    (fill,) = fills(feed(broker, bar(i=1, open=100.0, high=107.0, low=99.0)))
    assert fill.fill_price == 100.0


def test_stop_limit_triggered_but_limit_not_reached_waits_as_limit(broker: SimulatedBroker) -> None:
    oid = oid_of(submit(broker, STL, BUY, stop=105.0, limit=101.0))
    assert feed(broker, bar(i=1, open=104.0, high=106.0, low=103.0)) == []
    (order,) = broker.working_orders()
    assert order.triggered and order.order_type is STL
    # Triggered: the stop no longer matters, only the limit.
    assert feed(broker, bar(i=2, open=104.0, high=104.5, low=102.0)) == []
    (fill,) = fills(feed(broker, bar(i=3, open=102.0, high=102.5, low=100.5)))
    assert fill.associated_order_id == oid and fill.fill_price == 101.0


def test_sell_stop_limit_gap(broker: SimulatedBroker) -> None:
    submit(broker, STL, SELL, stop=95.0, limit=94.0)
    (fill,) = fills(feed(broker, bar(i=1, open=93.0, high=94.5, low=92.0)))
    assert fill.fill_price == 94.0  # converted; SELL limit 94 fills at max(94, open 93)


def test_untriggered_stop_limit_does_not_fill_even_if_limit_is_crossed(broker: SimulatedBroker) -> None:
    submit(broker, STL, BUY, stop=105.0, limit=106.0)
    assert feed(broker, bar(i=1, open=100.0, high=104.0, low=99.0)) == []
    assert not broker.working_orders()[0].triggered


def test_whole_quantity_fills(broker: SimulatedBroker) -> None:
    submit(broker, LMT, BUY, 1234.5, limit=99.0)
    (fill,) = fills(feed(broker, bar(i=1, open=100.0, low=98.0)))
    assert fill.quantity_filled == 1234.5


@pytest.mark.parametrize(
    ("per_unit", "minimum", "qty", "expected"),
    [(0.0, 0.0, 5.0, 0.0), (0.01, 0.0, 3.0, 0.03), (0.01, 1.0, 3.0, 1.0), (0.5, 1.0, 3.0, 1.5)],
)
def test_commission(per_unit: float, minimum: float, qty: float, expected: float) -> None:
    cls = type("_Configured", (SimulatedBroker,), {"commission_per_unit": per_unit, "minimum_commission_per_order": minimum})
    broker = cls()
    submit(broker, MKT, SELL, qty)
    (fill,) = fills(feed(broker, bar(i=1)))
    assert fill.commission == pytest.approx(expected)


# --- validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"order_type": MKT, "quantity": 0.0}, OrderRejectionReason.INVALID_QUANTITY),
        ({"order_type": MKT, "quantity": -1.0}, OrderRejectionReason.INVALID_QUANTITY),
        ({"order_type": MKT, "quantity": math.nan}, OrderRejectionReason.INVALID_QUANTITY),
        ({"order_type": MKT, "quantity": math.inf}, OrderRejectionReason.INVALID_QUANTITY),
        ({"order_type": LMT}, OrderRejectionReason.INVALID_PRICE),
        ({"order_type": LMT, "limit": 0.0}, OrderRejectionReason.INVALID_PRICE),
        ({"order_type": LMT, "limit": math.nan}, OrderRejectionReason.INVALID_PRICE),
        ({"order_type": STP}, OrderRejectionReason.INVALID_PRICE),
        ({"order_type": STP, "stop": -5.0}, OrderRejectionReason.INVALID_PRICE),
        ({"order_type": STL, "stop": 5.0}, OrderRejectionReason.INVALID_PRICE),
        ({"order_type": STL, "limit": 5.0}, OrderRejectionReason.INVALID_PRICE),
        ({"order_type": MKT, "limit": math.inf}, OrderRejectionReason.INVALID_PRICE),
        ({"order_type": MKT, "expires": ts(0)}, OrderRejectionReason.INVALID_EXPIRY),
        ({"order_type": MKT, "expires": ts(0) - 1}, OrderRejectionReason.INVALID_EXPIRY),
    ],
)
def test_submission_rejections(broker: SimulatedBroker, kwargs: dict, reason: OrderRejectionReason) -> None:
    kwargs = dict(kwargs)
    order_type = kwargs.pop("order_type")
    answer = submit(broker, order_type, BUY, **kwargs)
    assert isinstance(answer, OrderRejected)
    assert answer.rejection_reason is reason
    assert answer.rejection_message.endswith(".") and len(answer.rejection_message) > 20
    assert broker.working_orders() == []


def test_valid_expiry_and_valid_stop_limit_accepted(broker: SimulatedBroker) -> None:
    assert isinstance(submit(broker, MKT, BUY, expires=ts(0) + 1), OrderAccepted)
    assert isinstance(submit(broker, STL, BUY, stop=1.0, limit=2.0), OrderAccepted)


def test_unknown_symbol_rejected_only_when_symbols_configured() -> None:
    configured = type("_Configured", (SimulatedBroker,), {"symbols": ["AAA", "BBB"]})()
    answer = submit(configured, MKT, BUY, symbol="ZZZ")
    assert isinstance(answer, OrderRejected) and answer.rejection_reason is OrderRejectionReason.UNKNOWN_SYMBOL
    assert "ZZZ" in answer.rejection_message and "AAA" in answer.rejection_message
    assert isinstance(submit(configured, MKT, BUY, symbol="BBB"), OrderAccepted)
    assert isinstance(submit(SimulatedBroker(), MKT, BUY, symbol="ZZZ"), OrderAccepted)


def test_reused_order_id_rejected(broker: SimulatedBroker) -> None:
    oid_of(submit(broker, MKT, BUY, oid="s1-1"))
    answer = submit(broker, MKT, BUY, oid="s1-1")
    assert isinstance(answer, OrderRejected) and answer.rejection_reason is OrderRejectionReason.UNKNOWN
    assert len(broker.working_orders()) == 1


# --- cancellation --------------------------------------------------------------------------------


def test_cancel_working_order(broker: SimulatedBroker) -> None:
    oid = oid_of(submit(broker, LMT, BUY, limit=90.0))
    answer = cancel(broker, oid, at=ts(2))
    assert isinstance(answer, CancellationAccepted) and answer.ts_event_ns == ts(2) and answer.strategy_id == "s1"
    assert feed(broker, bar(i=3, low=80.0)) == []


def test_cancel_rejections_say_why(broker: SimulatedBroker) -> None:
    filled = oid_of(submit(broker, MKT, BUY))
    feed(broker, bar(i=1))
    answer = cancel(broker, filled)
    assert isinstance(answer, CancellationRejected)
    assert answer.rejection_reason is CancellationRejectionReason.ORDER_ALREADY_CLOSED
    assert "filled" in answer.rejection_message

    cancelled = oid_of(submit(broker, LMT, BUY, limit=1.0))
    assert isinstance(cancel(broker, cancelled), CancellationAccepted)
    again = cancel(broker, cancelled)
    assert isinstance(again, CancellationRejected) and again.rejection_reason is CancellationRejectionReason.ORDER_ALREADY_CLOSED

    never = cancel(broker, "s1-999")
    assert isinstance(never, CancellationRejected) and never.rejection_reason is CancellationRejectionReason.UNKNOWN_ORDER

    rejected = submit(broker, MKT, BUY, quantity=-1)
    assert isinstance(rejected, OrderRejected)
    answer = cancel(broker, rejected.associated_order_id)
    assert isinstance(answer, CancellationRejected) and answer.rejection_reason is CancellationRejectionReason.UNKNOWN_ORDER


def test_cannot_cancel_or_modify_another_strategys_order(broker: SimulatedBroker) -> None:
    theirs = oid_of(submit(broker, LMT, BUY, limit=90.0, sid="other"))
    answer = cancel(broker, theirs, sid="s1")
    assert isinstance(answer, CancellationRejected) and answer.rejection_reason is CancellationRejectionReason.UNKNOWN_ORDER
    assert answer.strategy_id == "s1"
    mod = modify(broker, theirs, sid="s1", quantity=5.0)
    assert isinstance(mod, ModificationRejected) and mod.rejection_reason is ModificationRejectionReason.UNKNOWN_ORDER
    (order,) = broker.working_orders()
    assert order.quantity == 1.0 and order.strategy_id == "other"
    # ... and their closed orders stay unknown to us too
    assert isinstance(cancel(broker, theirs, sid="other"), CancellationAccepted)
    answer = cancel(broker, theirs, sid="s1")
    assert isinstance(answer, CancellationRejected) and answer.rejection_reason is CancellationRejectionReason.UNKNOWN_ORDER


# --- modification --------------------------------------------------------------------------------


def test_modify_quantity_only_is_used_by_the_fill(broker: SimulatedBroker) -> None:
    oid = oid_of(submit(broker, LMT, BUY, 1.0, limit=99.0))
    answer = modify(broker, oid, quantity=3.0, at=ts(1))
    assert isinstance(answer, ModificationAccepted) and answer.ts_event_ns == ts(1)
    (fill,) = fills(feed(broker, bar(i=2, open=100.0, low=98.0)))
    assert fill.quantity_filled == 3.0 and fill.fill_price == 99.0


def test_modify_price_only_is_used_by_the_fill(broker: SimulatedBroker) -> None:
    oid = oid_of(submit(broker, LMT, BUY, 2.0, limit=99.0))
    assert isinstance(modify(broker, oid, limit_price=97.5), ModificationAccepted)
    assert feed(broker, bar(i=1, open=100.0, low=98.0)) == []  # the old limit would have filled
    (fill,) = fills(feed(broker, bar(i=2, open=100.0, low=97.0)))
    assert fill.quantity_filled == 2.0 and fill.fill_price == 97.5


def test_modify_stop_price_trails(broker: SimulatedBroker) -> None:
    oid = oid_of(submit(broker, STP, SELL, stop=95.0))
    assert isinstance(modify(broker, oid, stop_price=98.0), ModificationAccepted)
    (fill,) = fills(feed(broker, bar(i=1, open=100.0, low=97.0)))
    assert fill.fill_price == 98.0


def test_modify_triggered_stop_limit_in_limit_book(broker: SimulatedBroker) -> None:
    oid = oid_of(submit(broker, STL, BUY, stop=105.0, limit=101.0))
    feed(broker, bar(i=1, open=104.0, high=106.0, low=103.0))  # triggered, not filled
    assert isinstance(modify(broker, oid, limit_price=103.5), ModificationAccepted)
    (fill,) = fills(feed(broker, bar(i=2, open=104.0, high=104.5, low=103.0)))
    assert fill.fill_price == 103.5


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"quantity": 0.0}, ModificationRejectionReason.INVALID_QUANTITY),
        ({"quantity": math.nan}, ModificationRejectionReason.INVALID_QUANTITY),
        ({"limit_price": -1.0}, ModificationRejectionReason.INVALID_PRICE),
        ({"stop_price": math.inf}, ModificationRejectionReason.INVALID_PRICE),
    ],
)
def test_modify_invalid_values(broker: SimulatedBroker, fields: dict, reason: ModificationRejectionReason) -> None:
    oid = oid_of(submit(broker, LMT, BUY, limit=99.0))
    answer = modify(broker, oid, **fields)
    assert isinstance(answer, ModificationRejected) and answer.rejection_reason is reason
    (order,) = broker.working_orders()
    assert (order.quantity, order.limit_price, order.stop_price) == (1.0, 99.0, None)


def test_modify_closed_and_unknown(broker: SimulatedBroker) -> None:
    oid = oid_of(submit(broker, MKT, BUY))
    feed(broker, bar(i=1))
    answer = modify(broker, oid, quantity=2.0)
    assert isinstance(answer, ModificationRejected) and answer.rejection_reason is ModificationRejectionReason.ORDER_ALREADY_CLOSED
    answer = modify(broker, "nope", quantity=2.0)
    assert isinstance(answer, ModificationRejected) and answer.rejection_reason is ModificationRejectionReason.UNKNOWN_ORDER


def test_modify_cannot_change_type_or_side(broker: SimulatedBroker) -> None:
    oid = oid_of(submit(broker, STP, SELL, stop=95.0))
    assert isinstance(modify(broker, oid, limit_price=120.0), ModificationAccepted)  # unused: no effect
    (order,) = broker.working_orders()
    assert order.order_type is STP and order.side is SELL
    assert feed(broker, bar(i=1, open=100.0, high=121.0, low=96.0)) == []


# --- expiry --------------------------------------------------------------------------------------


def test_expiry_at_the_first_timestamp_after_it_exactly_once(broker: SimulatedBroker) -> None:
    oid = oid_of(submit(broker, LMT, BUY, limit=90.0, at=ts(0), expires=ts(2)))
    assert feed(broker, bar(i=1)) == []
    assert feed(broker, bar(i=2)) == []  # expires_at == T: still working on T
    (expired,) = feed(broker, bar("BBB", 3))  # any timestamp past it, whatever the symbol
    assert isinstance(expired, OrderExpired)
    assert expired.associated_order_id == oid and expired.symbol == "AAA" and expired.strategy_id == "s1"
    assert expired.ts_event_ns == expired.ts_broker_ns == ts(3)
    assert feed(broker, bar(i=4, low=80.0)) == []  # gone: no fill, no second expiry
    answer = cancel(broker, oid)
    assert isinstance(answer, CancellationRejected) and answer.rejection_reason is CancellationRejectionReason.ORDER_ALREADY_CLOSED
    assert "expired" in answer.rejection_message


def test_order_can_fill_on_its_expiry_timestamp(broker: SimulatedBroker) -> None:
    submit(broker, LMT, BUY, limit=99.0, expires=ts(1))
    (fill,) = fills(feed(broker, bar(i=1, open=100.0, low=98.0)))
    assert fill.fill_price == 99.0
    assert feed(broker, bar(i=2)) == []


def test_expiry_happens_before_matching(broker: SimulatedBroker) -> None:
    submit(broker, LMT, BUY, limit=99.0, expires=ts(1))
    out = feed(broker, bar(i=2, open=100.0, low=98.0))
    assert [type(e) for e in out] == [OrderExpired]


def test_expiries_are_ordered_and_cancelled_orders_do_not_expire(broker: SimulatedBroker) -> None:
    late = oid_of(submit(broker, LMT, BUY, limit=1.0, expires=ts(2)))
    early = oid_of(submit(broker, LMT, BUY, limit=1.0, expires=ts(1)))
    gone = oid_of(submit(broker, LMT, BUY, limit=1.0, expires=ts(1)))
    cancel(broker, gone)
    out = feed(broker, bar(i=5))
    assert [e.associated_order_id for e in out] == [early, late]  # type: ignore[attr-defined]


def test_triggered_stop_limit_expires(broker: SimulatedBroker) -> None:
    oid = oid_of(submit(broker, STL, BUY, stop=105.0, limit=101.0, expires=ts(1)))
    feed(broker, bar(i=1, open=104.0, high=106.0, low=103.0))
    (expired,) = feed(broker, bar(i=2, open=104.0, high=104.5, low=103.0))
    assert isinstance(expired, OrderExpired) and expired.associated_order_id == oid


# --- deterministic order -------------------------------------------------------------------------


def _run_two_strategies(first: str) -> list[tuple[str, float]]:
    broker = SimulatedBroker()
    orders = {
        "alpha": [("alpha-1", LMT, 99.0), ("alpha-2", MKT, None), ("alpha-3", STP, 101.0)],
        "beta": [("beta-1", MKT, None), ("beta-2", LMT, 99.5)],
    }
    sequence = ["alpha", "beta"] if first == "alpha" else ["beta", "alpha"]
    for sid in sequence:
        for oid, kind, price in orders[sid]:
            limit = price if kind is LMT else None
            stop = price if kind is STP else None
            oid_of(submit(broker, kind, BUY, sid=sid, oid=oid, limit=limit, stop=stop))
    out = fills(feed(broker, bar(i=1, open=100.0, high=102.0, low=98.0)))
    return [(f.associated_order_id, f.fill_price) for f in out]


def test_evaluation_order_independent_of_arrival_across_strategies() -> None:
    a_first = _run_two_strategies("alpha")
    assert a_first == _run_two_strategies("beta")
    # each strategy on its own (here in the order they ask); market, then stop, then limit;
    # within a type by submission sequence
    assert [oid for oid, _ in a_first] == ["alpha-2", "alpha-3", "alpha-1", "beta-1", "beta-2"]


def test_sequence_not_lexical_order_id(broker: SimulatedBroker) -> None:
    for n in range(1, 12):
        oid_of(submit(broker, MKT, BUY, sid="s", oid=f"s-{n}"))
    out = fills(feed(broker, bar(i=1)))
    assert [f.associated_order_id for f in out] == [f"s-{n}" for n in range(1, 12)]


def test_working_orders_report(broker: SimulatedBroker) -> None:
    oid_of(submit(broker, LMT, SELL, 2.0, limit=150.0, sid="b", oid="b-1", expires=ts(100)))
    oid_of(submit(broker, MKT, BUY, sid="a", oid="a-1", symbol="BBB"))
    report = broker.working_orders()
    assert [o.order_id for o in report] == ["a-1", "b-1"]
    assert report[1].limit_price == 150.0 and report[1].expires_at_ns == ts(100) and report[1].side is SELL
    report[1].quantity = 99.0  # a copy
    assert broker.working_orders()[1].quantity == 2.0


def test_many_symbols_without_orders_cost_nothing(broker: SimulatedBroker) -> None:
    oid_of(submit(broker, LMT, BUY, limit=1.0, symbol="S0"))
    bars = [bar(f"S{k}", 1) for k in range(200)]
    assert feed(broker, *bars) == []


def test_a_feed_message_may_hold_several_timestamps(broker: SimulatedBroker) -> None:
    submit(broker, MKT, BUY, at=ts(0))
    broker.on_message(FEED_TOPIC, [bar("AAA", 1, open=11.0), bar("BBB", 1), bar("AAA", 2, open=12.0)])
    out = sync(broker, "s1", ts(1))  # matched at the second timestamp of the message
    assert [(type(e), e.ts_event_ns) for e in out] == [(FillEvent, ts(2)), (SyncReleased, ts(2))]
    assert out[0].fill_price == 12.0  # type: ignore[attr-defined]


def test_a_request_naming_another_strategy_than_its_topic_is_refused(broker: SimulatedBroker) -> None:
    """A member may publish only on its own topics (the bus's rights); the payload may not claim
    another strategy either: such a request is never acted upon."""
    victim = oid_of(submit(broker, LMT, BUY, limit=50.0, sid="victim"))
    spoof = OrderCancellationRequest(ts_event_ns=ts(0), system_order_id=victim, symbol="AAA", strategy_id="victim")
    broker.on_message(type_prefix(OrderCancellationRequest, "intruder"), [spoof])
    assert broker.drain() == [] and broker.refused == 1
    assert [o.order_id for o in broker.working_orders()] == [victim]
