"""`StrategyBase`: the strategy API, as a plain-logic component.

Declare a strategy with class attributes: `name`, `symbols` (empty: every symbol replayed) and its
parameters (`ParamSpec`s); build indicators in `setup()` and trade in `on_bar(bar)`:

    class Dip(StrategyBase):
        name = "Dip"
        period = ParamSpec(default=20, min=2, max=200)

        def setup(self) -> None:
            self.sma = self.add_indicator(SimpleMovingAverage(period=self.period))

        def on_bar(self, bar: BarReceived) -> None:
            if bar.close < self.sma.latest(bar.symbol) and self.position == 0:
                self.buy(1, limit_price=bar.close * 0.99, expires_after_bars=5, signal="dip")

        def on_fill(self, fill: FillEvent) -> None:
            print(self.orders[fill.associated_order_id].signal)  # "dip"

Orders: `buy(qty, ...)` / `sell(qty, ...)` (keyword-only options; the order type follows from the
prices given) or `submit_order(order_type, side, qty, ...)`; `submit_cancellation(id)` and
`submit_modification(id, ...)`. `self.orders[order_id]` is the order as the strategy knows it
(fields, status, fills), kept after it ends; `open_orders` / `open_orders_of(symbol)` the working
ones. Order ids are `"{strategy_id}-{n}"`, so identical runs record identical ids.

Expiry, at most one of:
* `expires_at_ns`: good till that market time; the broker expires the order at the first of the
  strategy's timestamps after it (components/broker_sync.py: each strategy is matched on its own
  clock).
* `expires_in` (a timedelta): the same, counted from the current market time (`now_ns`).
* `expires_after_bars=n`: the order has `n` chances to fill, the strategy's next `n` bars of its
  symbol (bars at the market time it was placed at do not count: its orders are matched from its
  next timestamp on). While handling the n-th, before `on_bar`, the strategy cancels it if it is
  still working; the broker answers before the next bar, the order's status becomes EXPIRED and
  `on_order_expired` is called (with an `OrderExpired` built from the broker's answer). runs.db
  records that cancellation and its answer. Bars and their order are the same in every mode, so
  this is as deterministic as the rest.

Every callback about an order (fill, expiry, answer) runs with that order's symbol active and market
time at least the event's, after `self.orders` has been updated; a strategy applies only its own
fills; exceptions raised by user code propagate (the driver fails the run).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, TypeVar, Unpack

from components.broker_sync import BrokerSync
from components.codec import FEED_TOPIC, by_timestamp, check_route, type_prefix
from components.component import Component
from components.events import (
    RESPONSE_TYPES,
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
from components.indicators import IndicatorBase
from components.models import PERIOD_NS, ActionType, BarPeriod, OrderType, TradeSide
from components.params import ParamSpec
from components.positions import PositionBook
from components.spec import own_class
from components.strategy_bars import BarFields, BarRecording
from components.strategy_classes import gather_parameters, get_registered_strategies, register
from components.strategy_orders import OrderBook, OrderRecord, OrderStatus, expiry_ns

__all__ = [
    "PERIOD_NS", "BarFields", "OrderBook", "OrderOptions", "OrderRecord", "OrderStatus", "StrategyBase",
    "get_registered_strategies",
]

I = TypeVar("I", bound=IndicatorBase)

#: The callbacks that run on the broker's answers to requests (an auto-expiry's answer calls
#: `on_order_expired`): a strategy overriding none of them can send nothing in reaction to an answer,
#: so it asks the broker to match it without waiting for them.
_ANSWER_CALLBACKS = (
    "on_order_accepted", "on_order_rejected", "on_cancellation_accepted", "on_cancellation_rejected",
    "on_modification_accepted", "on_modification_rejected", "on_order_expired",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class OrderOptions(TypedDict, total=False):
    """The keyword options of `buy` and `sell`."""

    limit_price: float | None
    stop_price: float | None
    symbol: str | None
    action: ActionType | None
    signal: str | None
    expires_at_ns: int | None
    expires_in: timedelta | None
    expires_after_bars: int | None


class _State:
    """The strategy's private state, one object (the user's subclass owns every other name)."""

    __slots__ = ("symbol", "now_ns", "positions", "orders", "sync", "recording", "bar_period", "symbol_filter",
                 "reports_bars", "order_count", "handlers")

    def __init__(self, orders: OrderBook, sync: BrokerSync, recording: BarRecording, bar_period: BarPeriod | None,
                 symbol_filter: frozenset[str] | None) -> None:
        self.symbol: str | None = None  # the active symbol
        self.now_ns = 0  # current market time
        self.positions = PositionBook()
        self.orders = orders
        self.sync = sync
        self.recording = recording
        self.bar_period = bar_period
        self.symbol_filter = symbol_filter
        self.order_count = 0
        self.reports_bars = True  # publishes a BarProcessed per handled bar
        self.handlers: dict[type[EventBase], Callable[[Any], None]] = {}


class StrategyBase(Component):
    """Base of every strategy. Subclasses set the class attributes and implement `on_bar`."""

    #: Display name (run ids and reports use it).
    name: str = ""
    #: Symbols traded; empty means every symbol the run replays.
    symbols: list[str] = []
    #: Tunables by name (class-attribute ParamSpecs join it); each becomes an instance attribute
    #: (`self.fast_period`). A `bar_period` parameter restricts the strategy to bars of that period.
    parameters: dict[str, ParamSpec[Any]] = {}
    #: Default strategy id (else the name of the strategy's own class); the constructor argument wins.
    strategy_id: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        gather_parameters(cls)
        register(cls)

    def __init__(self, strategy_id: str | None = None, *, bars_processed: bool = True, **param_overrides: Any) -> None:
        """`bars_processed=False`: publish no BarProcessed (the run does not record them; its
        indicators are updated all the same)."""
        super().__init__()
        cls = type(self)
        if cls.on_bar is StrategyBase.on_bar:
            raise TypeError(f"{cls.__name__} must implement on_bar(bar)")
        sid = check_route(strategy_id or cls.strategy_id or own_class(cls).__name__)
        self.strategy_id = sid
        self.component_id = sid
        self.__init_parameters(param_overrides)
        bar_period: BarPeriod | None = self.__dict__.get("bar_period") if "bar_period" in cls.parameters else None
        orders = OrderBook()
        sync = BrokerSync(self.__on_bars, lambda: bool(orders.open), self.__request_sync,
                          answers_may_request=any(self.__overrides(name) for name in _ANSWER_CALLBACKS))
        state = self.__state = _State(orders, sync, BarRecording(sid), bar_period,
                                      frozenset(cls.symbols) if cls.symbols else None)
        self.bar: BarFields = state.recording.fields
        state.reports_bars = bool(bars_processed)
        state.handlers = {
            OrderAccepted: self.__on_order_accepted,
            OrderRejected: self.__on_order_rejected,
            ModificationAccepted: self.__on_modification_answer,
            ModificationRejected: self.__on_modification_answer,
            CancellationAccepted: self.__on_cancellation_answer,
            CancellationRejected: self.__on_cancellation_answer,
            FillEvent: self.__on_fill,
            OrderExpired: self.__on_order_expired,
        }
        self.setup()

    def __init_parameters(self, overrides: dict[str, Any]) -> None:
        specs = type(self).parameters
        unknown = sorted(set(overrides) - set(specs))
        if unknown:
            known = ", ".join(sorted(specs)) or "none"
            raise ValueError(f"{type(self).__name__} has no parameter {unknown[0]!r} (parameters: {known})")
        for pname, spec in specs.items():
            if hasattr(StrategyBase, pname) or pname.startswith("_"):
                raise ValueError(f"{type(self).__name__}: parameter name {pname!r} clashes with StrategyBase")
            value = spec.validate(pname, overrides[pname]) if pname in overrides else spec.default
            setattr(self, pname, value)

    def __overrides(self, callback: str) -> bool:
        return callback in self.__dict__ or getattr(type(self), callback) is not getattr(StrategyBase, callback)

    # --- hooks for subclasses ----------------------------------------------------------------

    def setup(self) -> None:
        """Build indicators here (parameters are already attributes)."""

    def on_bar(self, bar: BarReceived) -> None:
        """Trading logic for one bar; indicators already include it. Must be overridden."""
        raise NotImplementedError

    def on_start(self) -> None: ...

    def on_stop(self) -> None: ...

    def on_fill(self, fill: FillEvent) -> None: ...

    def on_order_accepted(self, event: OrderAccepted) -> None: ...

    def on_order_rejected(self, event: OrderRejected) -> None: ...

    def on_cancellation_accepted(self, event: CancellationAccepted) -> None: ...

    def on_cancellation_rejected(self, event: CancellationRejected) -> None: ...

    def on_modification_accepted(self, event: ModificationAccepted) -> None: ...

    def on_modification_rejected(self, event: ModificationRejected) -> None: ...

    def on_order_expired(self, event: OrderExpired) -> None: ...

    # --- component -----------------------------------------------------------------------------

    def subscriptions(self) -> list[str]:
        sid = self.strategy_id
        return [FEED_TOPIC] + [type_prefix(cls, sid) for cls in RESPONSE_TYPES] + [type_prefix(SyncReleased, sid)]

    def start(self) -> None:
        # The broker learns this strategy's clock before anything else it sends.
        state = self.__state
        symbols = tuple(type(self).symbols) if state.symbol_filter is not None else ()
        self.emit(SyncClock(ts_event_ns=0, strategy_id=self.strategy_id, symbols=symbols, bar_period=state.bar_period))
        self.on_start()

    def stop(self) -> None:
        """Runs `on_stop`. What it sends is recorded and answered by the broker like any request
        (an order then stays working: no bar is left to fill it); no callback follows it."""
        self.on_stop()

    def on_message(self, topic: str, events: Sequence[EventBase]) -> None:
        if not events:
            return
        kind = type(events[0])
        sync = self.__state.sync
        if kind is BarReceived:
            for bars in by_timestamp(events):  # type: ignore[arg-type]
                sync.bars(bars)
            return
        if kind is SyncReleased:
            for event in events:
                if event.strategy_id == self.strategy_id:  # type: ignore[attr-defined]
                    sync.released(event.ts_event_ns)
            return
        handler = self.__state.handlers.get(kind)
        if handler is None:
            return
        sid = self.strategy_id
        for event in events:
            if getattr(event, "strategy_id", None) == sid:  # only ever our own orders
                handler(event)

    def on_event(self, event: EventBase) -> None:
        self.on_message("", [event])

    # --- handling bars, in step with the broker (components/broker_sync.py) ------------------------

    def __request_sync(self, after_ns: int) -> None:
        self.emit(SyncRequest(ts_event_ns=after_ns, strategy_id=self.strategy_id))

    def __on_bars(self, bars: Sequence[BarReceived]) -> bool:
        """One timestamp's bars; True when any of them was this strategy's (a tick of its clock)."""
        state = self.__state
        bar_period, symbol_filter = state.bar_period, state.symbol_filter
        mark, emit, on_bar = state.positions.mark, self.emit, self.on_bar
        reports, record, update = state.reports_bars, state.recording.record, state.recording.update
        bar_limits = state.orders.bar_limits
        own = False
        for bar in bars:
            if bar_period is not None and bar.bar_period is not bar_period:
                continue
            symbol = bar.symbol
            if symbol_filter is not None and symbol not in symbol_filter:
                continue
            own = True
            state.symbol = symbol
            state.now_ns = bar.ts_event_ns
            mark(symbol, bar.close)
            if reports:
                emit(record(bar))
            else:
                update(bar)
            if bar_limits:
                self.__end_bar_limits(symbol, bar.ts_event_ns)
            on_bar(bar)
        return own

    @property
    def waiting_for_broker(self) -> bool:
        """True while bars are held until the broker has matched this strategy's orders."""
        return self.__state.sync.holding

    # --- indicators ------------------------------------------------------------------------------

    def add_indicator(self, ind: I) -> I:
        """Register an indicator: updated on every bar (in registration order) and reported."""
        self.__state.recording.add(ind)
        return ind

    @property
    def indicators(self) -> list[IndicatorBase]:
        return list(self.__state.recording.indicators)

    # --- time and state --------------------------------------------------------------------------

    @property
    def active_symbol(self) -> str | None:
        return self.__state.symbol

    @property
    def now_ns(self) -> int:
        """Current market time (the bar being handled, or a later fill/expiry), ns since epoch."""
        return self.__state.now_ns

    @property
    def now(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.__state.now_ns // 1000)

    @property
    def position(self) -> float:
        """Signed position in the active symbol."""
        state = self.__state
        return state.positions.position(state.symbol) if state.symbol is not None else 0.0

    @property
    def avg_price(self) -> float:
        state = self.__state
        return state.positions.avg_price(state.symbol) if state.symbol is not None else 0.0

    def position_of(self, symbol: str) -> float:
        return self.__state.positions.position(symbol)

    def avg_price_of(self, symbol: str) -> float:
        return self.__state.positions.avg_price(symbol)

    def realized_pnl(self, symbol: str | None = None) -> float:
        """Gross realized PnL of one symbol, or of all (commissions are separate)."""
        return self.__state.positions.realized_pnl(symbol)

    def unrealized_pnl(self, symbol: str | None = None) -> float:
        """Open positions valued at the last close this strategy saw."""
        return self.__state.positions.unrealized_pnl(symbol)

    def commissions(self, symbol: str | None = None) -> float:
        return self.__state.positions.commissions(symbol)

    @property
    def positions(self) -> PositionBook:
        return self.__state.positions

    @property
    def orders(self) -> Mapping[str, OrderRecord]:
        """Every order this strategy issued, by order id, as it last knows it (fields after accepted
        modifications, status, fills), also after the order ended. Read-only."""
        return self.__state.orders

    @property
    def open_orders(self) -> dict[str, OrderRecord]:
        """Submitted or accepted orders still working, by order id (a copy)."""
        return dict(self.__state.orders.open)

    def open_orders_of(self, symbol: str) -> list[OrderRecord]:
        """The working orders of one symbol, oldest first."""
        return self.__state.orders.open_of(symbol)

    # --- orders --------------------------------------------------------------------------------

    def buy(self, quantity: float, **options: Unpack[OrderOptions]) -> str:
        """Buy `quantity`: at market, or LIMIT / STOP / STOP_LIMIT when `limit_price` and / or
        `stop_price` are given. The options (keyword-only, see OrderOptions) are those of
        `submit_order`; expiry is at most one of `expires_at_ns`, `expires_in`, `expires_after_bars`
        (see the module docstring). Returns the order id."""
        return self.__place(TradeSide.BUY, quantity, options)

    def sell(self, quantity: float, **options: Unpack[OrderOptions]) -> str:
        """Sell `quantity`; the options are those of `buy`."""
        return self.__place(TradeSide.SELL, quantity, options)

    def __place(self, side: TradeSide, quantity: float, options: OrderOptions) -> str:
        unknown = sorted(options.keys() - OrderOptions.__annotations__.keys())
        if unknown:
            raise TypeError(f"{side.name.lower()}() got an unexpected keyword argument {unknown[0]!r}")
        order_type = _order_type(options.get("limit_price"), options.get("stop_price"))
        return self.submit_order(order_type, side, quantity, **options)

    def submit_order(
        self,
        order_type: OrderType,
        side: TradeSide,
        quantity: float,
        limit_price: float | None = None,
        stop_price: float | None = None,
        action: ActionType | None = None,
        signal: str | None = None,
        symbol: str | None = None,
        expires_at_ns: int | None = None,
        *,
        expires_in: timedelta | None = None,
        expires_after_bars: int | None = None,
    ) -> str:
        """Publish an order (symbol: the active one by default); returns its id. The broker
        validates it and answers at once (`on_order_accepted` / `on_order_rejected`)."""
        if not isinstance(order_type, OrderType) or not isinstance(side, TradeSide):
            raise TypeError("submit_order needs an OrderType and a TradeSide")
        state = self.__state
        sym = symbol if symbol is not None else state.symbol
        if sym is None:
            raise RuntimeError("submit_order: no active symbol yet; pass symbol=")
        expires_at_ns = expiry_ns(state.now_ns, expires_at_ns, expires_in, expires_after_bars)
        state.order_count += 1
        oid = f"{self.strategy_id}-{state.order_count}"
        quantity = float(quantity)
        limit_price = None if limit_price is None else float(limit_price)
        stop_price = None if stop_price is None else float(stop_price)
        state.orders.submitted(
            OrderRecord(oid, sym, order_type, side, quantity, limit_price, stop_price, action, signal, expires_at_ns,
                        expires_after_bars=expires_after_bars),
            state.now_ns,
        )
        self.__state.sync.sent()
        self.emit(
            OrderSubmissionRequest(
                ts_event_ns=state.now_ns,
                system_order_id=oid,
                symbol=sym,
                strategy_id=self.strategy_id,
                order_type=order_type,
                side=side,
                quantity=quantity,
                limit_price=limit_price,
                stop_price=stop_price,
                action=action,
                signal=signal,
                expires_at_ns=expires_at_ns,
            )
        )
        return oid

    def submit_cancellation(self, order_id: str) -> bool:
        """Ask to cancel an order this strategy issued (even a closed one: the broker says why
        not). False, and nothing published, for an id this strategy never issued."""
        return self.__cancel(order_id, bar_limit=False)

    def __cancel(self, order_id: str, *, bar_limit: bool) -> bool:
        record = self.__state.orders.get(order_id)
        if record is None:
            return False
        self.__state.orders.cancellation_sent(order_id, bar_limit=bar_limit)
        self.__state.sync.sent()
        self.emit(
            OrderCancellationRequest(
                ts_event_ns=self.__state.now_ns, system_order_id=order_id, symbol=record.symbol,
                strategy_id=self.strategy_id,
            )
        )
        return True

    def __end_bar_limits(self, symbol: str, ts_event_ns: int) -> None:
        for order_id in self.__state.orders.bar_limit_reached(symbol, ts_event_ns):
            self.__cancel(order_id, bar_limit=True)

    def submit_modification(
        self,
        order_id: str,
        quantity: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> bool:
        """Ask to change quantity / prices (None: unchanged) of an order this strategy issued."""
        state = self.__state
        record = state.orders.get(order_id)
        if record is None:
            return False
        quantity = None if quantity is None else float(quantity)
        limit_price = None if limit_price is None else float(limit_price)
        stop_price = None if stop_price is None else float(stop_price)
        state.orders.modification_sent(order_id, (quantity, limit_price, stop_price))
        self.__state.sync.sent()
        self.emit(
            OrderModificationRequest(
                ts_event_ns=state.now_ns,
                system_order_id=order_id,
                symbol=record.symbol,
                strategy_id=self.strategy_id,
                quantity=quantity,
                limit_price=limit_price,
                stop_price=stop_price,
            )
        )
        return True

    # --- broker answers: book it, make the order's symbol active, call back --------------------------

    def __enter(self, order_id: str, ts: int | None = None) -> None:
        """Make the order's symbol active (and advance market time) for a callback."""
        state = self.__state
        record = state.orders.get(order_id)
        if record is not None:
            state.symbol = record.symbol
        if ts is not None and ts > state.now_ns:
            state.now_ns = ts

    def __on_order_accepted(self, event: OrderAccepted) -> None:
        self.__state.orders.accepted(event)
        self.__enter(event.associated_order_id)
        self.on_order_accepted(event)
        self.__state.sync.answered()

    def __on_order_rejected(self, event: OrderRejected) -> None:
        self.__state.orders.rejected(event)
        self.__enter(event.associated_order_id)
        self.on_order_rejected(event)
        self.__state.sync.answered()

    def __on_fill(self, fill: FillEvent) -> None:
        state = self.__state
        state.positions.apply_fill(fill.symbol, fill.side, fill.quantity_filled, fill.fill_price, fill.commission)
        state.orders.filled(fill)
        self.__enter(fill.associated_order_id, fill.ts_event_ns)
        state.symbol = fill.symbol
        self.on_fill(fill)

    def __on_order_expired(self, event: OrderExpired) -> None:
        self.__state.orders.expired(event)
        self.__enter(event.associated_order_id, event.ts_event_ns)
        self.on_order_expired(event)

    def __on_cancellation_answer(self, event: CancellationAccepted | CancellationRejected) -> None:
        bar_limit = self.__state.orders.cancellation_answered(event)
        self.__enter(event.associated_order_id)
        if not bar_limit:
            if isinstance(event, CancellationAccepted):
                self.on_cancellation_accepted(event)
            else:
                self.on_cancellation_rejected(event)
        elif isinstance(event, CancellationAccepted):  # the order's bar limit ended it
            record = self.__state.orders[event.associated_order_id]
            self.on_order_expired(
                OrderExpired(ts_event_ns=event.ts_event_ns, ts_broker_ns=event.ts_broker_ns,
                             associated_order_id=event.associated_order_id, broker_order_id=event.broker_order_id,
                             symbol=record.symbol, strategy_id=event.strategy_id)
            )
        self.__state.sync.answered()

    def __on_modification_answer(self, event: ModificationAccepted | ModificationRejected) -> None:
        self.__state.orders.modification_answered(event)
        self.__enter(event.associated_order_id)
        if isinstance(event, ModificationAccepted):
            self.on_modification_accepted(event)
        else:
            self.on_modification_rejected(event)
        self.__state.sync.answered()


def _order_type(limit_price: float | None, stop_price: float | None) -> OrderType:
    if limit_price is None:
        return OrderType.MARKET if stop_price is None else OrderType.STOP
    return OrderType.LIMIT if stop_price is None else OrderType.STOP_LIMIT
