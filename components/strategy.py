"""`StrategyBase`: the seed's strategy API (§7) as a plain-logic component.

Declare a strategy with class attributes `name`, `symbols` (empty: every symbol replayed) and
`parameters` (`dict[str, ParamSpec]`), build indicators in `setup()` and trade in `on_bar(bar)`:

    class MyStrategy(StrategyBase):
        name = "My strategy"
        parameters = {"period": ParamSpec(default=20, min=2, max=200)}

        def setup(self) -> None:
            self.sma = self.add_indicator(SimpleMovingAverage(period=self.period))

        def on_bar(self, bar: BarReceived) -> None:
            if bar.close > self.sma.latest(bar.symbol) and self.position <= 0:
                self.submit_order(OrderType.MARKET, TradeSide.BUY, 1)

Differences from the seed, each fixing one of its defects: a strategy applies only its own fills
(each event carries `strategy_id`); order ids are `"{strategy_id}-{n}"`, so identical runs record
identical ids; user callbacks for every broker answer; realized/unrealized PnL and commissions
per symbol (see components.positions); exceptions raised by user code propagate (the driver fails
the run) instead of being swallowed; `submit_order` can target another symbol and carry a
good-till-date `expires_at_ns`. During a callback about an order (fill, expiry, answer) the active
symbol is that order's symbol and market time is at least the event's.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from components.broker_sync import BrokerSync
from components.codec import FEED_TOPIC, by_timestamp, check_route, type_prefix
from components.component import Component
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
from components.indicators import Close, High, IndicatorBase, Low, Open, Volume
from components.indicators.market_fields import BarHistory, bar_field_views
from components.models import ActionType, BarPeriod, OrderType, TradeSide
from components.params import ParamSpec
from components.positions import FLAT_EPSILON, PositionBook

I = TypeVar("I", bound=IndicatorBase)

#: Nanoseconds per bar period (handy for good-till-date: `self.now_ns + 5 * PERIOD_NS[p]`).
PERIOD_NS: dict[BarPeriod, int] = {
    BarPeriod.SECOND: 1_000_000_000,
    BarPeriod.MINUTE: 60_000_000_000,
    BarPeriod.HOUR: 3_600_000_000_000,
    BarPeriod.DAY: 86_400_000_000_000,
}

_OHLCV_NAMES = frozenset({"OPEN", "HIGH", "LOW", "CLOSE", "VOLUME"})
#: The callbacks of the broker's answers to requests: a strategy overriding none of them can send
#: nothing in reaction to an answer, so it asks the broker to match it without waiting for them.
_ANSWER_CALLBACKS = (
    "on_order_accepted", "on_order_rejected", "on_cancellation_accepted", "on_cancellation_rejected",
    "on_modification_accepted", "on_modification_rejected",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_strategy_registry: dict[str, type[StrategyBase]] = {}


def get_registered_strategies() -> dict[str, type[StrategyBase]]:
    """A copy of the registry: class name -> class, for every public subclass defined so far."""
    return dict(_strategy_registry)


@dataclasses.dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order as the strategy last knows it (fields after accepted modifications)."""

    order_id: str
    symbol: str
    order_type: OrderType
    side: TradeSide
    quantity: float
    limit_price: float | None
    stop_price: float | None
    action: ActionType | None
    signal: str | None
    expires_at_ns: int | None
    accepted: bool = False
    filled_quantity: float = 0.0


class BarFields:
    """The built-in OHLCV indicators: `self.bar.close[sym, -2]` is the previous close.

    The five are views of one per-symbol `history` of the last 100 bars: most strategies never
    read them, so a bar costs one append (`history[symbol].append(bar)`), not five updates.
    """

    __slots__ = ("open", "high", "low", "close", "volume", "history")
    open: Open
    high: High
    low: Low
    close: Close
    volume: Volume

    def __init__(self) -> None:
        self.history = BarHistory()
        self.open, self.high, self.low, self.close, self.volume = bar_field_views(self.history)


_BAR_PROCESSED_FIELDS = (
    "ts_event_ns", "ts_created_ns", "symbol", "bar_period", "open", "high", "low", "close", "volume",
    "strategy_id", "indicators",
)


def _bar_processed_builder() -> Callable[..., BarProcessed]:
    """`build(ts_event_ns, symbol, bar_period, open, high, low, close, volume, strategy_id,
    indicators)`: a BarProcessed equal to the keyword constructor's (ts_created_ns = now).

    Every handled bar builds one; the frozen dataclass's __init__ sets each of its 11 fields through
    object.__setattr__, direct slot stores halve the cost (as the datafeed and codec do). Falls back
    to the constructor if BarProcessed no longer has exactly these plain slot fields.
    """
    args = [name for name in _BAR_PROCESSED_FIELDS if name != "ts_created_ns"]
    descriptors: list[Any] = [getattr(BarProcessed, name, None) for name in _BAR_PROCESSED_FIELDS]
    if (
        sorted(f.name for f in dataclasses.fields(BarProcessed)) != sorted(_BAR_PROCESSED_FIELDS)
        or hasattr(BarProcessed, "__post_init__")
        or any(type(d).__name__ != "member_descriptor" for d in descriptors)
    ):  # pragma: no cover - only if events.py changes shape
        return lambda *values: BarProcessed(**dict(zip(args, values)))
    env: dict[str, Any] = {"new": object.__new__, "cls": BarProcessed, "now": time.time_ns}
    lines = [f"def build({', '.join(args)}):", "    o = new(cls)"]
    for i, (name, desc) in enumerate(zip(_BAR_PROCESSED_FIELDS, descriptors)):
        env[f"set{i}"] = desc.__set__
        lines.append(f"    set{i}(o, {'now()' if name == 'ts_created_ns' else name})")
    lines.append("    return o")
    exec(compile("\n".join(lines), "<build BarProcessed>", "exec"), env)
    build: Callable[..., BarProcessed] = env["build"]
    return build


_build_bar_processed = _bar_processed_builder()


class StrategyBase(Component):
    """Base of every strategy. Subclasses set the class attributes and implement `on_bar`."""

    #: Display name (run ids and reports use it).
    name: str = ""
    #: Symbols traded; empty means every symbol the run replays.
    symbols: list[str] = []
    #: Tunables; each becomes an instance attribute (`self.fast_period`). A `bar_period`
    #: parameter restricts the strategy to bars of that period.
    parameters: dict[str, ParamSpec] = {}
    #: Default strategy id (else the class name); the constructor argument wins.
    strategy_id: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _strategy_registry[cls.__name__] = cls

    def __init__(self, strategy_id: str | None = None, **param_overrides: Any) -> None:
        super().__init__()
        cls = type(self)
        if cls.on_bar is StrategyBase.on_bar:
            raise TypeError(f"{cls.__name__} must implement on_bar(bar)")
        sid = check_route(strategy_id or cls.strategy_id or cls.__name__)
        self.strategy_id = sid
        self.component_id = sid
        self.__init_parameters(param_overrides)
        self.__bar_period: BarPeriod | None = self.__dict__.get("bar_period") if "bar_period" in cls.parameters else None
        self.__symbol_filter: frozenset[str] | None = frozenset(cls.symbols) if cls.symbols else None

        self.__symbol: str | None = None  # the active symbol
        self.__now_ns = 0  # current market time
        self.__positions = PositionBook()
        self.__order_count = 0
        self.__issued: dict[str, str] = {}  # every order id this strategy issued -> symbol
        self.__open: dict[str, OrderRecord] = {}
        self.__pending_mods: dict[str, list[tuple[float | None, float | None, float | None]]] = {}
        self.__sync = BrokerSync(self.__on_bars, lambda: bool(self.__open), self.__request_sync,
                                 answers_may_request=any(self.__overrides(name) for name in _ANSWER_CALLBACKS))

        self.__indicators: list[IndicatorBase] = []
        self.__updates: list[Callable[[BarReceived], None]] = []
        self.__reported: list[tuple[str, Callable[[str], float]]] = []  # (name, bound latest)
        self.bar = BarFields()
        # Listed first, as before, but not in __updates: __on_bar_event appends each bar once to
        # their shared history, before updating any other indicator (as their updates were).
        self.__bar_history = self.bar.history
        self.__indicators.extend((self.bar.open, self.bar.high, self.bar.low, self.bar.close, self.bar.volume))

        self.__handlers: dict[type[EventBase], Callable[[Any], None]] = {
            OrderAccepted: self.__on_order_accepted,
            OrderRejected: self.__on_order_rejected,
            ModificationAccepted: self.__on_modification_accepted,
            ModificationRejected: self.__on_modification_rejected,
            CancellationAccepted: self.__on_cancellation_accepted,
            CancellationRejected: self.__on_cancellation_rejected,
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

    def __getattr__(self, attr: str) -> Any:
        # Only reached for missing attributes; declared so type checkers accept `self.<parameter>`.
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")

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
        symbols = tuple(type(self).symbols) if self.__symbol_filter is not None else ()
        self.emit(SyncClock(ts_event_ns=0, strategy_id=self.strategy_id, symbols=symbols, bar_period=self.__bar_period))
        self.on_start()

    def stop(self) -> None:
        """Runs `on_stop`. What it sends is recorded and answered by the broker like any request
        (an order then stays working: no bar is left to fill it); no callback follows it."""
        self.on_stop()

    def on_message(self, topic: str, events: Sequence[EventBase]) -> None:
        if not events:
            return
        kind = type(events[0])
        if kind is BarReceived:
            sync_bars = self.__sync.bars
            for bars in by_timestamp(events):  # type: ignore[arg-type]
                sync_bars(bars)
            return
        if kind is SyncReleased:
            for event in events:
                if event.strategy_id == self.strategy_id:  # type: ignore[attr-defined]
                    self.__sync.released(event.ts_event_ns)
            return
        handler = self.__handlers.get(kind)
        if handler is None:
            return
        sid = self.strategy_id
        for event in events:
            if getattr(event, "strategy_id", None) == sid:  # only ever our own orders
                handler(event)

    def on_event(self, event: EventBase) -> None:
        self.on_message("", [event])

    # --- synchronisation with the broker (components/broker_sync.py) ---------------------------

    def __request_sync(self, after_ns: int) -> None:
        self.emit(SyncRequest(ts_event_ns=after_ns, strategy_id=self.strategy_id))

    def __on_bars(self, bars: Sequence[BarReceived]) -> bool:
        """One timestamp's bars; True when any of them was this strategy's (a tick of its clock)."""
        on_bar_event = self.__on_bar_event
        own = False
        for bar in bars:
            if on_bar_event(bar):
                own = True
        return own

    @property
    def waiting_for_broker(self) -> bool:
        """True while bars are held until the broker has matched this strategy's orders."""
        return self.__sync.holding

    def __on_bar_event(self, bar: BarReceived) -> bool:
        if self.__bar_period is not None and bar.bar_period is not self.__bar_period:
            return False
        symbol = bar.symbol
        if self.__symbol_filter is not None and symbol not in self.__symbol_filter:
            return False
        self.__symbol = symbol
        ts = self.__now_ns = bar.ts_event_ns
        close = bar.close
        self.__positions.mark(symbol, close)
        self.__bar_history[symbol].append(bar)  # self.bar.open ... volume (see BarFields)
        for update in self.__updates:
            update(bar)
        indicators: dict[str, float] = {}
        for name, latest in self.__reported:
            indicators[name] = latest(symbol)
        self.emit(
            _build_bar_processed(
                ts, symbol, bar.bar_period, bar.open, bar.high, bar.low, close, bar.volume, self.strategy_id, indicators
            )
        )
        self.on_bar(bar)
        return True

    # --- indicators ------------------------------------------------------------------------------

    def add_indicator(self, ind: I) -> I:
        """Register an indicator: updated on every bar (in registration order) and reported."""
        self.__indicators.append(ind)
        self.__updates.append(ind.update)
        if ind.name not in _OHLCV_NAMES:
            self.__reported.append((ind.name, ind.latest))
        return ind

    @property
    def indicators(self) -> list[IndicatorBase]:
        return list(self.__indicators)

    # --- time and state --------------------------------------------------------------------------

    @property
    def active_symbol(self) -> str | None:
        return self.__symbol

    @property
    def now_ns(self) -> int:
        """Current market time (the bar being handled, or a later fill/expiry), ns since epoch."""
        return self.__now_ns

    @property
    def now(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self.__now_ns // 1000)

    @property
    def position(self) -> float:
        """Signed position in the active symbol."""
        return self.__positions.position(self.__symbol) if self.__symbol is not None else 0.0

    @property
    def avg_price(self) -> float:
        return self.__positions.avg_price(self.__symbol) if self.__symbol is not None else 0.0

    def position_of(self, symbol: str) -> float:
        return self.__positions.position(symbol)

    def avg_price_of(self, symbol: str) -> float:
        return self.__positions.avg_price(symbol)

    def realized_pnl(self, symbol: str | None = None) -> float:
        """Gross realized PnL of one symbol, or of all (commissions are separate)."""
        return self.__positions.realized_pnl(symbol)

    def unrealized_pnl(self, symbol: str | None = None) -> float:
        """Open positions valued at the last close this strategy saw."""
        return self.__positions.unrealized_pnl(symbol)

    def commissions(self, symbol: str | None = None) -> float:
        return self.__positions.commissions(symbol)

    @property
    def positions(self) -> PositionBook:
        return self.__positions

    @property
    def open_orders(self) -> dict[str, OrderRecord]:
        """Submitted or accepted orders still working, by order id, with their current fields."""
        return dict(self.__open)

    # --- orders --------------------------------------------------------------------------------

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
    ) -> str:
        """Publish an order (symbol: the active one by default); returns its id. The broker
        validates it and answers at once (`on_order_accepted` / `on_order_rejected`)."""
        if not isinstance(order_type, OrderType) or not isinstance(side, TradeSide):
            raise TypeError("submit_order needs an OrderType and a TradeSide")
        sym = symbol if symbol is not None else self.__symbol
        if sym is None:
            raise RuntimeError("submit_order: no active symbol yet; pass symbol=")
        self.__order_count += 1
        oid = f"{self.strategy_id}-{self.__order_count}"
        quantity = float(quantity)
        limit_price = None if limit_price is None else float(limit_price)
        stop_price = None if stop_price is None else float(stop_price)
        expires_at_ns = None if expires_at_ns is None else int(expires_at_ns)
        self.__issued[oid] = sym
        self.__sync.sent()
        self.__open[oid] = OrderRecord(
            oid, sym, order_type, side, quantity, limit_price, stop_price, action, signal, expires_at_ns
        )
        self.emit(
            OrderSubmissionRequest(
                ts_event_ns=self.__now_ns,
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
        symbol = self.__issued.get(order_id)
        if symbol is None:
            return False
        self.__sync.sent()
        self.emit(
            OrderCancellationRequest(
                ts_event_ns=self.__now_ns, system_order_id=order_id, symbol=symbol, strategy_id=self.strategy_id
            )
        )
        return True

    def submit_modification(
        self,
        order_id: str,
        quantity: float | None = None,
        limit_price: float | None = None,
        stop_price: float | None = None,
    ) -> bool:
        """Ask to change quantity / prices (None: unchanged) of an order this strategy issued."""
        symbol = self.__issued.get(order_id)
        if symbol is None:
            return False
        quantity = None if quantity is None else float(quantity)
        limit_price = None if limit_price is None else float(limit_price)
        stop_price = None if stop_price is None else float(stop_price)
        self.__pending_mods.setdefault(order_id, []).append((quantity, limit_price, stop_price))
        self.__sync.sent()
        self.emit(
            OrderModificationRequest(
                ts_event_ns=self.__now_ns,
                system_order_id=order_id,
                symbol=symbol,
                strategy_id=self.strategy_id,
                quantity=quantity,
                limit_price=limit_price,
                stop_price=stop_price,
            )
        )
        return True

    # --- broker answers --------------------------------------------------------------------------

    def __enter(self, order_id: str, ts: int | None = None) -> None:
        """Make the order's symbol active (and advance market time) for a callback."""
        symbol = self.__issued.get(order_id)
        if symbol is not None:
            self.__symbol = symbol
        if ts is not None and ts > self.__now_ns:
            self.__now_ns = ts

    def __close(self, order_id: str) -> None:
        self.__open.pop(order_id, None)

    def __on_order_accepted(self, event: OrderAccepted) -> None:
        oid = event.associated_order_id
        record = self.__open.get(oid)
        if record is not None and not record.accepted:
            self.__open[oid] = dataclasses.replace(record, accepted=True)
        self.__enter(oid)
        self.on_order_accepted(event)
        self.__sync.answered()

    def __on_order_rejected(self, event: OrderRejected) -> None:
        self.__close(event.associated_order_id)
        self.__enter(event.associated_order_id)
        self.on_order_rejected(event)
        self.__sync.answered()

    def __on_fill(self, fill: FillEvent) -> None:
        oid = fill.associated_order_id
        self.__positions.apply_fill(fill.symbol, fill.side, fill.quantity_filled, fill.fill_price, fill.commission)
        record = self.__open.get(oid)
        if record is not None:
            filled = record.filled_quantity + fill.quantity_filled
            if filled >= record.quantity - FLAT_EPSILON:
                self.__close(oid)
            else:
                self.__open[oid] = dataclasses.replace(record, filled_quantity=filled)
        self.__enter(oid, fill.ts_event_ns)
        self.__symbol = fill.symbol
        self.on_fill(fill)

    def __on_order_expired(self, event: OrderExpired) -> None:
        self.__close(event.associated_order_id)
        self.__enter(event.associated_order_id, event.ts_event_ns)
        self.on_order_expired(event)

    def __on_cancellation_accepted(self, event: CancellationAccepted) -> None:
        self.__close(event.associated_order_id)
        self.__enter(event.associated_order_id)
        self.on_cancellation_accepted(event)
        self.__sync.answered()

    def __on_cancellation_rejected(self, event: CancellationRejected) -> None:
        self.__enter(event.associated_order_id)
        self.on_cancellation_rejected(event)
        self.__sync.answered()

    def __pop_modification(self, order_id: str) -> tuple[float | None, float | None, float | None] | None:
        pending = self.__pending_mods.get(order_id)
        if not pending:
            return None
        change = pending.pop(0)
        if not pending:
            del self.__pending_mods[order_id]
        return change

    def __on_modification_accepted(self, event: ModificationAccepted) -> None:
        oid = event.associated_order_id
        change = self.__pop_modification(oid)
        record = self.__open.get(oid)
        if change is not None and record is not None:
            quantity, limit_price, stop_price = change
            self.__open[oid] = dataclasses.replace(
                record,
                quantity=record.quantity if quantity is None else quantity,
                limit_price=record.limit_price if limit_price is None else limit_price,
                stop_price=record.stop_price if stop_price is None else stop_price,
            )
        self.__enter(oid)
        self.on_modification_accepted(event)
        self.__sync.answered()

    def __on_modification_rejected(self, event: ModificationRejected) -> None:
        self.__pop_modification(event.associated_order_id)
        self.__enter(event.associated_order_id)
        self.on_modification_rejected(event)
        self.__sync.answered()
