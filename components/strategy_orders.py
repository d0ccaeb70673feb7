"""A strategy's mirror of its own orders: what it sent, what the broker answered, what filled.

`OrderBook` keeps one `OrderRecord` per order the strategy issued, from submission to its end
(filled, cancelled, rejected, expired) and after it, so a callback about an order, or any later
bar, can still read its fields, status and fills (`self.orders[order_id]`). It also holds what a
broker answer is matched against: modifications and cancellations awaiting their answer, and the
orders that expire after a number of bars.

Plain bookkeeping: it sends nothing and calls no user code; `StrategyBase` wires it to the events
and the callbacks.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator, Mapping
from datetime import timedelta

from components.events import (
    CancellationAccepted,
    CancellationRejected,
    FillEvent,
    ModificationAccepted,
    ModificationRejected,
    OrderAccepted,
    OrderExpired,
    OrderRejected,
)
from components.models import ActionType, OrderType, TradeSide
from components.positions import FLAT_EPSILON


class OrderStatus(enum.Enum):
    """Where an order is in its life, as the strategy knows it."""

    SUBMITTED = enum.auto()  # sent, not yet answered
    ACCEPTED = enum.auto()  # working at the broker
    FILLED = enum.auto()
    CANCELLED = enum.auto()
    REJECTED = enum.auto()
    EXPIRED = enum.auto()

    @property
    def is_open(self) -> bool:
        """Submitted or accepted: the order may still fill."""
        return self is OrderStatus.SUBMITTED or self is OrderStatus.ACCEPTED


@dataclasses.dataclass(frozen=True, slots=True)
class OrderRecord:
    """An order as the strategy last knows it: its fields after accepted modifications, its status
    and its fills. A new record replaces the old one at every change; records are never mutated."""

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
    status: OrderStatus = OrderStatus.SUBMITTED
    fills: tuple[FillEvent, ...] = ()
    #: The order ends after this many of the strategy's bars of its symbol (None: no such limit).
    expires_after_bars: int | None = None

    @property
    def is_open(self) -> bool:
        return self.status.is_open


def expiry_ns(now_ns: int, at_ns: int | None, in_: timedelta | None, after_bars: int | None) -> int | None:
    """An order's `expires_at_ns` from the one expiry option given (None for a bar limit);
    ValueError for more than one or a bad value."""
    given = [name for name, value in (("expires_at_ns", at_ns), ("expires_in", in_),
                                      ("expires_after_bars", after_bars)) if value is not None]
    if len(given) > 1:
        raise ValueError(f"an order takes one expiry, not {' and '.join(given)}")
    if in_ is not None:
        if not isinstance(in_, timedelta) or in_ <= timedelta(0):
            raise ValueError(f"expires_in must be a positive timedelta, not {in_!r}")
        if now_ns == 0:
            raise ValueError("expires_in counts from the current market time; before the first bar give expires_at_ns")
        return now_ns + (in_ // timedelta(microseconds=1)) * 1000
    if after_bars is not None and (isinstance(after_bars, bool) or not isinstance(after_bars, int) or after_bars < 1):
        raise ValueError(f"expires_after_bars must be a whole number of bars >= 1, not {after_bars!r}")
    return None if at_ns is None else int(at_ns)


class _BarLimit:
    """An open order that ends after `bars_left` more bars of its symbol."""

    __slots__ = ("order_id", "placed_ns", "bars_left")

    def __init__(self, order_id: str, placed_ns: int, bars_left: int) -> None:
        self.order_id = order_id
        self.placed_ns = placed_ns
        self.bars_left = bars_left


_Change = tuple[float | None, float | None, float | None]  # quantity, limit, stop (None: unchanged)


class OrderBook(Mapping[str, OrderRecord]):
    """Every order the strategy issued, by order id (a read-only mapping), plus what answers are
    matched against."""

    __slots__ = ("_records", "_open", "_modifications", "_cancellations", "bar_limits")

    def __init__(self) -> None:
        self._records: dict[str, OrderRecord] = {}
        self._open: dict[str, OrderRecord] = {}
        self._modifications: dict[str, list[_Change]] = {}  # sent, awaiting their answers, in order
        self._cancellations: dict[str, list[bool]] = {}  # sent, awaiting answers: True = the bar limit's
        #: By symbol, the open orders that end after a number of bars (read it, do not change it).
        self.bar_limits: dict[str, list[_BarLimit]] = {}

    # --- the mapping: every order ever issued ----------------------------------------------------

    def __getitem__(self, order_id: str) -> OrderRecord:
        return self._records[order_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)

    @property
    def open(self) -> dict[str, OrderRecord]:
        """The working orders (submitted or accepted), by order id; the book's own dict."""
        return self._open

    def open_of(self, symbol: str) -> list[OrderRecord]:
        """The working orders of one symbol, oldest first."""
        return [record for record in self._open.values() if record.symbol == symbol]

    # --- what the strategy sends -----------------------------------------------------------------

    def submitted(self, record: OrderRecord, placed_ns: int) -> None:
        self._records[record.order_id] = self._open[record.order_id] = record
        if record.expires_after_bars is not None:
            limit = _BarLimit(record.order_id, placed_ns, record.expires_after_bars)
            self.bar_limits.setdefault(record.symbol, []).append(limit)

    def modification_sent(self, order_id: str, change: _Change) -> None:
        self._modifications.setdefault(order_id, []).append(change)

    def cancellation_sent(self, order_id: str, *, bar_limit: bool = False) -> None:
        self._cancellations.setdefault(order_id, []).append(bar_limit)

    def bar_limit_reached(self, symbol: str, ts_event_ns: int) -> list[str]:
        """A bar of `symbol` at `ts_event_ns` was handled: the open orders whose bar limit it
        reaches (each to be cancelled now). Bars at the time an order was placed do not count: its
        first chance to fill is the strategy's next bar of its symbol."""
        limits = self.bar_limits.get(symbol)
        if not limits:
            return []
        due: list[str] = []
        kept: list[_BarLimit] = []
        for limit in limits:
            if limit.order_id not in self._open:
                continue
            if limit.placed_ns < ts_event_ns:
                limit.bars_left -= 1
            if limit.bars_left <= 0:
                due.append(limit.order_id)
            else:
                kept.append(limit)
        if kept:
            self.bar_limits[symbol] = kept
        else:
            del self.bar_limits[symbol]
        return due

    # --- the broker's answers and outcomes -------------------------------------------------------

    def _update(self, order_id: str, **changes: object) -> OrderRecord | None:
        record = self._records.get(order_id)
        if record is None:
            return None
        record = dataclasses.replace(record, **changes)  # type: ignore[arg-type]
        self._records[order_id] = record
        if record.status.is_open:
            self._open[order_id] = record
        else:
            self._open.pop(order_id, None)
        return record

    def accepted(self, event: OrderAccepted) -> None:
        record = self._records.get(event.associated_order_id)
        if record is not None and record.status is OrderStatus.SUBMITTED:
            self._update(record.order_id, accepted=True, status=OrderStatus.ACCEPTED)

    def rejected(self, event: OrderRejected) -> None:
        self._update(event.associated_order_id, status=OrderStatus.REJECTED)

    def filled(self, fill: FillEvent) -> None:
        record = self._records.get(fill.associated_order_id)
        if record is None:
            return
        filled = record.filled_quantity + fill.quantity_filled
        status = OrderStatus.FILLED if filled >= record.quantity - FLAT_EPSILON else record.status
        self._update(record.order_id, filled_quantity=filled, fills=record.fills + (fill,), status=status)

    def expired(self, event: OrderExpired) -> None:
        self._update(event.associated_order_id, status=OrderStatus.EXPIRED)

    def cancellation_answered(self, event: CancellationAccepted | CancellationRejected) -> bool:
        """Books the answer; True when it answers a cancellation sent for the order's bar limit.
        An accepted one ends the order: EXPIRED for the bar limit's, else CANCELLED."""
        oid = event.associated_order_id
        pending = self._cancellations.get(oid)
        bar_limit = pending.pop(0) if pending else False
        if pending is not None and not pending:
            del self._cancellations[oid]
        if isinstance(event, CancellationAccepted):
            self._update(oid, status=OrderStatus.EXPIRED if bar_limit else OrderStatus.CANCELLED)
        return bar_limit

    def modification_answered(self, event: ModificationAccepted | ModificationRejected) -> None:
        """Books the answer to the oldest modification of the order awaiting one."""
        oid = event.associated_order_id
        pending = self._modifications.get(oid)
        if not pending:
            return
        quantity, limit_price, stop_price = pending.pop(0)
        if not pending:
            del self._modifications[oid]
        record = self._records.get(oid)
        if isinstance(event, ModificationAccepted) and record is not None and record.status.is_open:
            self._update(
                oid,
                quantity=record.quantity if quantity is None else quantity,
                limit_price=record.limit_price if limit_price is None else limit_price,
                stop_price=record.stop_price if stop_price is None else stop_price,
            )
