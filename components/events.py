"""The 13 event types: onesecondtrader's fields plus `strategy_id` where responses must be routed.

Frozen, slotted, keyword-only dataclasses. `ts_event_ns` is market time; `ts_created_ns` is the
wall clock when the object was built (the only field two identical runs may disagree on).
Order and fill ids are deterministic strings, not UUIDs, so identical runs record identical ids.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from components.models import (
    ActionType,
    BarPeriod,
    CancellationRejectionReason,
    ModificationRejectionReason,
    OrderRejectionReason,
    OrderType,
    TradeSide,
)


@dataclass(kw_only=True, frozen=True, slots=True)
class EventBase:
    ts_event_ns: int
    ts_created_ns: int = field(default_factory=time.time_ns)


# --- market data -------------------------------------------------------------------------------


@dataclass(kw_only=True, frozen=True, slots=True)
class BarReceived(EventBase):
    symbol: str
    bar_period: BarPeriod
    open: float
    high: float
    low: float
    close: float
    volume: int | None = None


@dataclass(kw_only=True, frozen=True, slots=True)
class BarProcessed(BarReceived):
    """A strategy's view of a bar: the bar plus its indicators' latest values (NaN = warming up)."""

    strategy_id: str = ""
    indicators: dict[str, float] = field(default_factory=dict)


# --- requests (strategy -> broker) -------------------------------------------------------------


@dataclass(kw_only=True, frozen=True, slots=True)
class RequestBase(EventBase):
    system_order_id: str
    symbol: str
    strategy_id: str


@dataclass(kw_only=True, frozen=True, slots=True)
class OrderSubmissionRequest(RequestBase):
    order_type: OrderType
    side: TradeSide
    quantity: float
    limit_price: float | None = None
    stop_price: float | None = None
    action: ActionType | None = None
    signal: str | None = None
    expires_at_ns: int | None = None


@dataclass(kw_only=True, frozen=True, slots=True)
class OrderCancellationRequest(RequestBase):
    pass


@dataclass(kw_only=True, frozen=True, slots=True)
class OrderModificationRequest(RequestBase):
    """None in a field means "leave unchanged"."""

    quantity: float | None = None
    limit_price: float | None = None
    stop_price: float | None = None


# --- responses (broker -> strategy) ------------------------------------------------------------


@dataclass(kw_only=True, frozen=True, slots=True)
class ResponseBase(EventBase):
    ts_broker_ns: int
    associated_order_id: str
    strategy_id: str


@dataclass(kw_only=True, frozen=True, slots=True)
class OrderAccepted(ResponseBase):
    broker_order_id: str | None = None


@dataclass(kw_only=True, frozen=True, slots=True)
class OrderRejected(ResponseBase):
    rejection_reason: OrderRejectionReason
    rejection_message: str


@dataclass(kw_only=True, frozen=True, slots=True)
class ModificationAccepted(ResponseBase):
    broker_order_id: str | None = None


@dataclass(kw_only=True, frozen=True, slots=True)
class ModificationRejected(ResponseBase):
    rejection_reason: ModificationRejectionReason
    rejection_message: str


@dataclass(kw_only=True, frozen=True, slots=True)
class CancellationAccepted(ResponseBase):
    broker_order_id: str | None = None


@dataclass(kw_only=True, frozen=True, slots=True)
class CancellationRejected(ResponseBase):
    rejection_reason: CancellationRejectionReason
    rejection_message: str


# --- order outcomes (broker -> strategy) -------------------------------------------------------


@dataclass(kw_only=True, frozen=True, slots=True)
class OrderBase(EventBase):
    ts_broker_ns: int
    associated_order_id: str
    broker_order_id: str | None = None
    symbol: str
    strategy_id: str


@dataclass(kw_only=True, frozen=True, slots=True)
class FillEvent(OrderBase):
    fill_id: str
    broker_fill_id: str | None = None
    side: TradeSide
    quantity_filled: float
    fill_price: float
    commission: float
    exchange: str = "SIMULATED"


@dataclass(kw_only=True, frozen=True, slots=True)
class OrderExpired(OrderBase):
    pass


# --- synchronisation (strategy <-> broker; not recorded) -----------------------------------------


@dataclass(kw_only=True, frozen=True, slots=True)
class SyncClock(EventBase):
    """A strategy's clock, sent once when it starts: its timestamps are those with a bar of one of
    `symbols` (empty: any symbol) of `bar_period` (None: any period). The broker matches the
    strategy's orders at these timestamps only, so what it records does not depend on which other
    strategies' symbols share the run (components/broker_sync.py)."""

    strategy_id: str
    symbols: tuple[str, ...] = ()
    bar_period: BarPeriod | None = None


@dataclass(kw_only=True, frozen=True, slots=True)
class SyncRequest(EventBase):
    """A strategy with working orders or unanswered requests has handled its timestamp
    `ts_event_ns` and everything that follows from it: the broker is to match its orders at the
    strategy's next timestamp and then release it.

    A strategy with neither handles the datafeed's bars as they come, without asking: nothing the
    broker could send it would change what it sees (components/broker_sync.py).
    """

    strategy_id: str


@dataclass(kw_only=True, frozen=True, slots=True)
class SyncReleased(EventBase):
    """The broker matched the strategy's orders at `ts_event_ns` and sent what followed from it;
    the strategy may now handle that timestamp's bars."""

    strategy_id: str


Event = (
    BarReceived
    | BarProcessed
    | OrderSubmissionRequest
    | OrderCancellationRequest
    | OrderModificationRequest
    | OrderAccepted
    | OrderRejected
    | ModificationAccepted
    | ModificationRejected
    | CancellationAccepted
    | CancellationRejected
    | FillEvent
    | OrderExpired
)

EVENT_TYPES: tuple[type[EventBase], ...] = (
    BarReceived,
    BarProcessed,
    OrderSubmissionRequest,
    OrderCancellationRequest,
    OrderModificationRequest,
    OrderAccepted,
    OrderRejected,
    ModificationAccepted,
    ModificationRejected,
    CancellationAccepted,
    CancellationRejected,
    FillEvent,
    OrderExpired,
)

RESPONSE_TYPES: tuple[type[EventBase], ...] = (
    OrderAccepted,
    OrderRejected,
    ModificationAccepted,
    ModificationRejected,
    CancellationAccepted,
    CancellationRejected,
    FillEvent,
    OrderExpired,
)
#: Strategy <-> broker synchronisation: on the wire, never recorded.
SYNC_TYPES: tuple[type[EventBase], ...] = (SyncClock, SyncRequest, SyncReleased)

REQUEST_TYPES: tuple[type[EventBase], ...] = (
    OrderSubmissionRequest,
    OrderCancellationRequest,
    OrderModificationRequest,
)
