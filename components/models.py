"""Enums of the trading domain (stored and sent by member name) and the bar periods' lengths."""

from __future__ import annotations

import enum
from datetime import timedelta


class OrderType(enum.Enum):
    LIMIT = enum.auto()
    MARKET = enum.auto()
    STOP = enum.auto()
    STOP_LIMIT = enum.auto()


class TradeSide(enum.Enum):
    BUY = enum.auto()
    SELL = enum.auto()

    @property
    def sign(self) -> int:
        """+1 for BUY (raises the signed position), -1 for SELL."""
        return 1 if self is TradeSide.BUY else -1


class BarPeriod(enum.Enum):
    SECOND = enum.auto()
    MINUTE = enum.auto()
    HOUR = enum.auto()
    DAY = enum.auto()

    @property
    def duration(self) -> timedelta:
        """The length of one bar (`expires_in=5 * bar.bar_period.duration`: five bar lengths)."""
        return timedelta(microseconds=PERIOD_NS[self] // 1000)

    @property
    def rtype(self) -> int:
        """The Databento record type the secmaster stores bars of this period under."""
        return _RTYPES[self]

    @classmethod
    def from_rtype(cls, rtype: int) -> "BarPeriod":
        for period, value in _RTYPES.items():
            if value == rtype:
                return period
        raise ValueError(f"no bar period for rtype {rtype} (known: 32, 33, 34, 35)")


_RTYPES = {BarPeriod.SECOND: 32, BarPeriod.MINUTE: 33, BarPeriod.HOUR: 34, BarPeriod.DAY: 35}


#: Nanoseconds per bar period (`self.now_ns + 5 * PERIOD_NS[bar.bar_period]` is five bar lengths on).
PERIOD_NS: dict[BarPeriod, int] = {
    BarPeriod.SECOND: 1_000_000_000,
    BarPeriod.MINUTE: 60_000_000_000,
    BarPeriod.HOUR: 3_600_000_000_000,
    BarPeriod.DAY: 86_400_000_000_000,
}


class BarField(enum.Enum):
    OPEN = enum.auto()
    HIGH = enum.auto()
    LOW = enum.auto()
    CLOSE = enum.auto()
    VOLUME = enum.auto()


class ExtremeType(enum.Enum):
    MIN = enum.auto()
    MAX = enum.auto()


class ActionType(enum.Enum):
    """What an order is for: metadata only, recorded with the order; the broker ignores it."""

    ENTRY_LONG = enum.auto()
    ENTRY_SHORT = enum.auto()
    EXIT_LONG = enum.auto()
    EXIT_SHORT = enum.auto()
    ADD_LONG = enum.auto()
    ADD_SHORT = enum.auto()
    REDUCE_LONG = enum.auto()
    REDUCE_SHORT = enum.auto()
    FLATTEN = enum.auto()
    STOP_LOSS_LONG = enum.auto()
    STOP_LOSS_SHORT = enum.auto()
    TAKE_PROFIT_LONG = enum.auto()
    TAKE_PROFIT_SHORT = enum.auto()
    PARTIAL_TAKE_PROFIT_LONG = enum.auto()
    PARTIAL_TAKE_PROFIT_SHORT = enum.auto()
    ENTRY = enum.auto()
    EXIT = enum.auto()
    ADD = enum.auto()
    REDUCE = enum.auto()
    REVERSE = enum.auto()


class OrderRejectionReason(enum.Enum):
    UNKNOWN = enum.auto()
    INVALID_QUANTITY = enum.auto()
    INVALID_PRICE = enum.auto()
    UNKNOWN_SYMBOL = enum.auto()
    INVALID_EXPIRY = enum.auto()


class ModificationRejectionReason(enum.Enum):
    UNKNOWN = enum.auto()
    INVALID_QUANTITY = enum.auto()
    INVALID_PRICE = enum.auto()
    UNKNOWN_ORDER = enum.auto()
    ORDER_ALREADY_CLOSED = enum.auto()


class CancellationRejectionReason(enum.Enum):
    UNKNOWN = enum.auto()
    UNKNOWN_ORDER = enum.auto()
    ORDER_ALREADY_CLOSED = enum.auto()
