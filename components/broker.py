"""The simulated broker: onesecondtrader's fill rules, made deterministic and explicit about rejections.

Synchronisation (the strategy's side and the contract it keeps: components/broker_sync.py). The
datafeed's bars arrive on FEED_TOPIC (whole timestamps per message), at the broker and at every
strategy alike; the broker keeps the recent timestamps. A strategy announces its clock once
(`SyncClock`: its symbols and bar period); a strategy that owes a match after its timestamp T
sends `SyncRequest(T)` and holds later bars. The broker answers (after the requests sent before
it, which it handles in order) by matching that strategy's orders at the strategy's next
timestamp T' > T (the first with a bar of its clock) - first expiring those with
`expires_at_ns < T'`, then matching each bar of T' against the strategy's working orders of its
symbol - and then `SyncReleased(T')`. So the strategy sees the fills and expirations stamped T'
before its bars of T', exactly as if every timestamp were matched before anyone saw it; one
strategy's orders never depend on another's, so each is matched on its own clock and schedule
(conservative synchronisation, per strategy). Orders for a symbol outside the strategy's clock
are rejected UNKNOWN_SYMBOL: a strategy trades what it sees.

Fill rules (onesecondtrader's), per bar, for that bar's symbol only:
1. market: at the open;
2. stop: BUY if high >= stop at max(stop, open), SELL if low <= stop at min(stop, open) (gap model);
3. stop-limit: triggers like a stop and becomes a limit order evaluated in step 4 on the same bar;
4. limit: BUY if low <= limit at min(limit, open), SELL if high >= limit at max(limit, open).
Fills are for the whole quantity; commission is max(qty * commission_per_unit, minimum).

Within a step, orders are evaluated by the strategy's submission sequence as seen by the broker,
not by arrival order.
"""

from __future__ import annotations

import bisect
import dataclasses
import heapq
import math
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter

from components.codec import FEED_TOPIC, by_timestamp, type_prefix
from components.component import Component
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

# Book indices, in onesecondtrader's evaluation order.
_MARKET, _STOP, _STOP_LIMIT, _LIMIT = 0, 1, 2, 3
_BOOK_OF_TYPE = {OrderType.MARKET: _MARKET, OrderType.STOP: _STOP, OrderType.STOP_LIMIT: _STOP_LIMIT, OrderType.LIMIT: _LIMIT}

_FILLED, _CANCELLED, _EXPIRED, _REJECTED = "filled", "cancelled", "expired", "rejected"


@dataclasses.dataclass(slots=True)
class WorkingOrder:
    """An order the broker holds. `triggered`: a stop-limit whose stop was hit (now a limit)."""

    order_id: str
    strategy_id: str
    symbol: str
    order_type: OrderType
    side: TradeSide
    quantity: float
    limit_price: float | None
    stop_price: float | None
    expires_at_ns: int | None
    sequence: int  # the strategy's n-th submission seen by the broker (evaluation order)
    ts_submitted_ns: int
    triggered: bool = False
    book: int = _MARKET


_EVAL_KEY = attrgetter("strategy_id", "sequence")


class _SymbolBook:
    """One symbol's working orders: four dicts (market, stop, stop-limit, limit) by order id."""

    __slots__ = ("books", "count")

    def __init__(self) -> None:
        self.books: tuple[dict[str, WorkingOrder], ...] = ({}, {}, {}, {})
        self.count = 0


def _ordered(book: dict[str, WorkingOrder]) -> list[WorkingOrder]:
    orders = list(book.values())
    if len(orders) > 1:
        orders.sort(key=_EVAL_KEY)
    return orders


class _Clock:
    """A strategy's timestamps: those with a bar of `symbols` (None: any) of `period` (None: any)."""

    __slots__ = ("symbols", "period")

    def __init__(self, symbols: frozenset[str] | None, period: BarPeriod | None) -> None:
        self.symbols = symbols
        self.period = period

    def ticks(self, bars: Sequence[BarReceived]) -> bool:
        symbols, period = self.symbols, self.period
        for bar in bars:
            if (symbols is None or bar.symbol in symbols) and (period is None or bar.bar_period is period):
                return True
        return False


_ANY_TIME = _Clock(None, None)


def _bad_number(value: float) -> bool:
    return not (math.isfinite(value) and value > 0)


def _fmt(value: float | None) -> str:
    return "none" if value is None else repr(value)


class SimulatedBroker(Component):
    """Matches orders against bars; configured by class attributes (subclass to change them)."""

    commission_per_unit: float = 0.0
    minimum_commission_per_order: float = 0.0
    #: The run's symbols; orders for others are rejected UNKNOWN_SYMBOL. None (or empty): any.
    symbols: list[str] | None = None
    #: Timestamps of bars kept (between history and twice that) for strategies that ask to be
    #: matched later than the broker saw them: a strategy is at most the datafeed's window
    #: (Orchestrator.window, which raises this when needed) behind the feed.
    history: int = 1024
    component_id = "broker"

    def __init__(self) -> None:
        super().__init__()
        cls = type(self)
        self._symbols: frozenset[str] | None = frozenset(cls.symbols) if cls.symbols else None
        self._cpu = float(cls.commission_per_unit)
        self._min_commission = float(cls.minimum_commission_per_order)
        self._history = max(1, int(cls.history))
        # strategy id -> symbol -> working orders
        self._books: dict[str, dict[str, _SymbolBook]] = {}
        self._working: dict[str, WorkingOrder] = {}
        # order id -> (strategy id, how it closed); lets cancel/modify say why they fail.
        self._closed: dict[str, tuple[str, str]] = {}
        self._sequence: dict[str, int] = {}
        # strategy id -> heap of (expires_at_ns, sequence, order id), lazily pruned
        self._expiries: dict[str, list[tuple[int, int, str]]] = {}
        self._times: list[int] = []  # the kept timestamps, ascending, and their bars
        self._bar_sets: list[Sequence[BarReceived]] = []
        self._forgotten = False  # whether older timestamps were dropped from the history
        self._clocks: dict[str, _Clock] = {}  # strategy id -> its clock (default: every timestamp)
        # strategy id -> its request to be matched, when no kept timestamp is on its clock yet
        self._parked: dict[str, SyncRequest] = {}
        self.refused = 0  # requests naming another strategy than their topic's
        self._handlers: dict[type[EventBase], Callable[[EventBase], None]] = {
            OrderSubmissionRequest: self._on_submit,  # type: ignore[dict-item]
            OrderCancellationRequest: self._on_cancel,  # type: ignore[dict-item]
            OrderModificationRequest: self._on_modify,  # type: ignore[dict-item]
            SyncClock: self._on_clock,  # type: ignore[dict-item]
            SyncRequest: self._on_sync,  # type: ignore[dict-item]
        }

    def subscriptions(self) -> list[str]:
        return [
            FEED_TOPIC,
            type_prefix(OrderSubmissionRequest),
            type_prefix(OrderCancellationRequest),
            type_prefix(OrderModificationRequest),
            type_prefix(SyncClock),
            type_prefix(SyncRequest),
        ]

    # --- delivery ------------------------------------------------------------------------------

    def on_message(self, topic: str, events: Sequence[EventBase]) -> None:
        if not events:
            return
        first = events[0]
        if type(first) is BarReceived:
            self._on_bars(events)  # type: ignore[arg-type]
            return
        handler = self._handlers.get(type(first))
        if handler is None:
            return
        # A request is its topic's strategy's: the bus lets a member publish only on its own
        # topics, so a request naming another strategy is refused here (never acted upon).
        route = topic.split(".", 2)[1] if topic.count(".") >= 2 else ""
        for event in events:
            if route and getattr(event, "strategy_id", route) != route:
                self.refused += 1
                continue
            handler(event)

    def on_event(self, event: EventBase) -> None:
        self.on_message(FEED_TOPIC if type(event) is BarReceived else "", [event])

    def working_orders(self) -> list[WorkingOrder]:
        """Copies of the orders still working (for the end-of-run report), in evaluation order."""
        return [dataclasses.replace(o) for o in sorted(self._working.values(), key=_EVAL_KEY)]

    # --- bars and synchronisation ------------------------------------------------------------

    def _on_bars(self, bars: Sequence[BarReceived]) -> None:
        """Keep the timestamps' bars; match the strategies that were waiting for them."""
        times = self._times
        parked = self._parked
        for group in by_timestamp(bars):
            ts = group[0].ts_event_ns
            if times and ts <= times[-1]:
                raise ValueError(f"bars of {ts} ns arrived after bars of {times[-1]} ns: the feed must go forward in time")
            times.append(ts)
            self._bar_sets.append(group)
            if parked:
                for sid, req in list(parked.items()):
                    if ts > req.ts_event_ns and self._clocks.get(sid, _ANY_TIME).ticks(group):
                        del parked[sid]
                        self._match_strategy(sid, ts, group)
        if len(times) > 2 * self._history:
            del times[: -self._history]
            del self._bar_sets[: -self._history]
            self._forgotten = True

    def _on_clock(self, clock: SyncClock) -> None:
        self._clocks[clock.strategy_id] = _Clock(frozenset(clock.symbols) or None, clock.bar_period)

    def _on_sync(self, req: SyncRequest) -> None:
        times = self._times
        i = bisect.bisect_right(times, req.ts_event_ns)
        if i == 0 and self._forgotten and times:
            raise RuntimeError(
                f"strategy {req.strategy_id!r} asked to be matched after {req.ts_event_ns} ns, older than the "
                f"{self._history} timestamps the broker keeps (SimulatedBroker.history)"
            )
        clock = self._clocks.get(req.strategy_id, _ANY_TIME)
        bar_sets = self._bar_sets
        for j in range(i, len(times)):
            if clock.ticks(bar_sets[j]):
                self._match_strategy(req.strategy_id, times[j], bar_sets[j])
                return
        self._parked[req.strategy_id] = req  # its next timestamp has not arrived yet (or the data ended)

    def _match_strategy(self, sid: str, ts: int, bars: Sequence[BarReceived]) -> None:
        expiries = self._expiries.get(sid)
        if expiries and expiries[0][0] < ts:
            self._expire(sid, expiries, ts)
        books = self._books.get(sid)
        if books:
            for bar in bars:
                book = books.get(bar.symbol)
                if book is not None and book.count:
                    self._match(book, bar)
        self.emit(SyncReleased(ts_event_ns=ts, strategy_id=sid))

    def _expire(self, sid: str, expiries: list[tuple[int, int, str]], ts: int) -> None:
        working = self._working
        while expiries and expiries[0][0] < ts:
            order = working.get(heapq.heappop(expiries)[2])
            if order is None:  # filled or cancelled since
                continue
            self._close(order, _EXPIRED)
            self.emit(
                OrderExpired(
                    ts_event_ns=ts,
                    ts_broker_ns=ts,
                    associated_order_id=order.order_id,
                    symbol=order.symbol,
                    strategy_id=sid,
                )
            )

    def _match(self, book: _SymbolBook, bar: BarReceived) -> None:
        market, stop, stop_limit, limit = book.books
        open_, high, low = bar.open, bar.high, bar.low
        ts = bar.ts_event_ns
        if market:
            for order in _ordered(market):
                self._fill(order, open_, ts)
        if stop:
            for order in _ordered(stop):
                price = order.stop_price
                assert price is not None
                if order.side is TradeSide.BUY:
                    if high >= price:
                        self._fill(order, max(price, open_), ts)
                elif low <= price:
                    self._fill(order, min(price, open_), ts)
        if stop_limit:
            for order in _ordered(stop_limit):
                price = order.stop_price
                assert price is not None
                if high >= price if order.side is TradeSide.BUY else low <= price:
                    del stop_limit[order.order_id]
                    limit[order.order_id] = order
                    order.book = _LIMIT
                    order.triggered = True
        if limit:
            for order in _ordered(limit):
                price = order.limit_price
                assert price is not None
                if order.side is TradeSide.BUY:
                    if low <= price:
                        self._fill(order, min(price, open_), ts)
                elif high >= price:
                    self._fill(order, max(price, open_), ts)

    def _fill(self, order: WorkingOrder, price: float, ts: int) -> None:
        self._close(order, _FILLED)
        quantity = order.quantity
        self.emit(
            FillEvent(
                ts_event_ns=ts,
                ts_broker_ns=ts,
                associated_order_id=order.order_id,
                symbol=order.symbol,
                strategy_id=order.strategy_id,
                fill_id=f"{order.order_id}-F",
                side=order.side,
                quantity_filled=quantity,
                fill_price=price,
                commission=max(quantity * self._cpu, self._min_commission),
            )
        )

    def _close(self, order: WorkingOrder, how: str) -> None:
        book = self._books[order.strategy_id][order.symbol]
        del book.books[order.book][order.order_id]
        book.count -= 1
        del self._working[order.order_id]
        self._closed[order.order_id] = (order.strategy_id, how)

    # --- requests ----------------------------------------------------------------------------

    def _on_submit(self, req: OrderSubmissionRequest) -> None:
        ts = req.ts_event_ns
        oid = req.system_order_id
        problem = self._check_submission(req)
        if problem is not None:
            reason, message = problem
            if oid not in self._working and oid not in self._closed:
                self._closed[oid] = (req.strategy_id, _REJECTED)
            self.emit(
                OrderRejected(
                    ts_event_ns=ts,
                    ts_broker_ns=ts,
                    associated_order_id=oid,
                    strategy_id=req.strategy_id,
                    rejection_reason=reason,
                    rejection_message=message,
                )
            )
            return
        sequence = self._sequence.get(req.strategy_id, 0) + 1
        self._sequence[req.strategy_id] = sequence
        book_index = _BOOK_OF_TYPE[req.order_type]
        order = WorkingOrder(
            order_id=oid,
            strategy_id=req.strategy_id,
            symbol=req.symbol,
            order_type=req.order_type,
            side=req.side,
            quantity=req.quantity,
            limit_price=req.limit_price,
            stop_price=req.stop_price,
            expires_at_ns=req.expires_at_ns,
            sequence=sequence,
            ts_submitted_ns=ts,
            book=book_index,
        )
        books = self._books.get(req.strategy_id)
        if books is None:
            books = self._books[req.strategy_id] = {}
        book = books.get(req.symbol)
        if book is None:
            book = books[req.symbol] = _SymbolBook()
        book.books[book_index][oid] = order
        book.count += 1
        self._working[oid] = order
        if req.expires_at_ns is not None:
            self._push_expiry(order)
        self.emit(OrderAccepted(ts_event_ns=ts, ts_broker_ns=ts, associated_order_id=oid, strategy_id=req.strategy_id))

    def _check_submission(self, req: OrderSubmissionRequest) -> tuple[OrderRejectionReason, str] | None:
        quantity = req.quantity
        if _bad_number(quantity):
            return OrderRejectionReason.INVALID_QUANTITY, f"Quantity must be a positive finite number, got {quantity!r}."
        kind = req.order_type
        needs_limit = kind is OrderType.LIMIT or kind is OrderType.STOP_LIMIT
        needs_stop = kind is OrderType.STOP or kind is OrderType.STOP_LIMIT
        for field, value, needed in (
            ("limit_price", req.limit_price, needs_limit),
            ("stop_price", req.stop_price, needs_stop),
        ):
            if (needed and value is None) or (value is not None and _bad_number(value)):
                return (
                    OrderRejectionReason.INVALID_PRICE,
                    f"A {kind.name} order needs a positive finite {field}, got {_fmt(value)}."
                    if needed
                    else f"{field} must be a positive finite number when given, got {value!r}.",
                )
        own = self._clocks.get(req.strategy_id, _ANY_TIME).symbols
        if own is not None and req.symbol not in own:
            return (OrderRejectionReason.UNKNOWN_SYMBOL,
                    f"Symbol {req.symbol!r} is not among the symbols of strategy {req.strategy_id!r} ({_list(own)}).")
        if self._symbols is not None and req.symbol not in self._symbols:
            return OrderRejectionReason.UNKNOWN_SYMBOL, f"Symbol {req.symbol!r} is not traded in this run ({_list(self._symbols)})."
        expires = req.expires_at_ns
        if expires is not None and expires <= req.ts_event_ns:
            return (
                OrderRejectionReason.INVALID_EXPIRY,
                f"The order expires at {expires} ns, not after it was placed ({req.ts_event_ns} ns).",
            )
        oid = req.system_order_id
        if oid in self._working or oid in self._closed:
            return OrderRejectionReason.UNKNOWN, f"Order id {oid!r} was already used."
        return None

    def _push_expiry(self, order: WorkingOrder) -> None:
        expiries = self._expiries.setdefault(order.strategy_id, [])
        assert order.expires_at_ns is not None
        if len(expiries) > 64 and len(expiries) > 4 * len(self._working):  # drop entries of closed orders
            expiries[:] = [e for e in expiries if e[2] in self._working]
            heapq.heapify(expiries)
        heapq.heappush(expiries, (order.expires_at_ns, order.sequence, order.order_id))

    def _find(self, order_id: str, strategy_id: str) -> tuple[WorkingOrder | None, bool, str]:
        """(working order, False, "") or (None, whether it existed and is closed, why not)."""
        order = self._working.get(order_id)
        if order is not None and order.strategy_id == strategy_id:
            return order, False, ""
        closed = self._closed.get(order_id)
        if closed is not None and closed[0] == strategy_id:  # another strategy's ids stay unknown
            if closed[1] == _REJECTED:
                return None, False, f"Order {order_id!r} was rejected on submission and never worked."
            return None, True, f"Order {order_id!r} is already {closed[1]}."
        return None, False, f"No order {order_id!r} of strategy {strategy_id!r} is known."

    def _on_cancel(self, req: OrderCancellationRequest) -> None:
        ts = req.ts_event_ns
        oid = req.system_order_id
        order, already, why = self._find(oid, req.strategy_id)
        if order is None:
            self.emit(
                CancellationRejected(
                    ts_event_ns=ts,
                    ts_broker_ns=ts,
                    associated_order_id=oid,
                    strategy_id=req.strategy_id,
                    rejection_reason=CancellationRejectionReason.ORDER_ALREADY_CLOSED
                    if already
                    else CancellationRejectionReason.UNKNOWN_ORDER,
                    rejection_message=why,
                )
            )
            return
        self._close(order, _CANCELLED)
        self.emit(CancellationAccepted(ts_event_ns=ts, ts_broker_ns=ts, associated_order_id=oid, strategy_id=req.strategy_id))

    def _on_modify(self, req: OrderModificationRequest) -> None:
        ts = req.ts_event_ns
        oid = req.system_order_id
        order, already, why = self._find(oid, req.strategy_id)
        reason: ModificationRejectionReason | None = None
        if order is None:
            reason = ModificationRejectionReason.ORDER_ALREADY_CLOSED if already else ModificationRejectionReason.UNKNOWN_ORDER
        elif req.quantity is not None and _bad_number(req.quantity):
            reason = ModificationRejectionReason.INVALID_QUANTITY
            why = f"Quantity must be a positive finite number, got {req.quantity!r}."
        else:
            for field, value in (("limit_price", req.limit_price), ("stop_price", req.stop_price)):
                if value is not None and _bad_number(value):
                    reason = ModificationRejectionReason.INVALID_PRICE
                    why = f"{field} must be a positive finite number, got {value!r}."
                    break
        if reason is not None or order is None:
            self.emit(
                ModificationRejected(
                    ts_event_ns=ts,
                    ts_broker_ns=ts,
                    associated_order_id=oid,
                    strategy_id=req.strategy_id,
                    rejection_reason=reason or ModificationRejectionReason.UNKNOWN,
                    rejection_message=why,
                )
            )
            return
        # Type and side are fixed; a field the order type does not use is stored and has no
        # effect (as in onesecondtrader).
        if req.quantity is not None:
            order.quantity = req.quantity
        if req.limit_price is not None:
            order.limit_price = req.limit_price
        if req.stop_price is not None:
            order.stop_price = req.stop_price
        self.emit(ModificationAccepted(ts_event_ns=ts, ts_broker_ns=ts, associated_order_id=oid, strategy_id=req.strategy_id))


def _list(symbols: Iterable[str], limit: int = 10) -> str:
    names = sorted(symbols)
    shown = ", ".join(names[:limit])
    return f"symbols: {shown}" + (f", ... ({len(names)} in all)" if len(names) > limit else "")
