"""tickbus trading components: the public API for writing and running strategies.

    from components import StrategyBase, ParamSpec, OrderType, TradeSide, BarPeriod, SimulatedBroker

`OrderRecord` / `OrderStatus`: a strategy's view of one of its orders (`self.orders[order_id]`);
`PERIOD_NS`: nanoseconds per `BarPeriod`.

Every process imports this package, so it stays light: enums and events (already needed by the
wire codec) load at once; the strategy base, broker, parameters and positions (and, through the
strategy, the indicators) load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from components.events import (
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
)
from components.models import (
    PERIOD_NS,
    ActionType,
    BarField,
    BarPeriod,
    CancellationRejectionReason,
    ExtremeType,
    ModificationRejectionReason,
    OrderRejectionReason,
    OrderType,
    TradeSide,
)

if TYPE_CHECKING:
    from components.broker import SimulatedBroker
    from components.params import ParamSpec
    from components.positions import PositionBook
    from components.strategy import StrategyBase, get_registered_strategies
    from components.strategy_orders import OrderRecord, OrderStatus

_LAZY = {
    "StrategyBase": "components.strategy",
    "get_registered_strategies": "components.strategy",
    "SimulatedBroker": "components.broker",
    "ParamSpec": "components.params",
    "PositionBook": "components.positions",
    "OrderRecord": "components.strategy_orders",
    "OrderStatus": "components.strategy_orders",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'components' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "StrategyBase",
    "get_registered_strategies",
    "SimulatedBroker",
    "ParamSpec",
    "PositionBook",
    "OrderRecord",
    "OrderStatus",
    "PERIOD_NS",
    "ActionType",
    "BarField",
    "BarPeriod",
    "CancellationRejectionReason",
    "ExtremeType",
    "ModificationRejectionReason",
    "OrderRejectionReason",
    "OrderType",
    "TradeSide",
    "EventBase",
    "BarReceived",
    "BarProcessed",
    "OrderSubmissionRequest",
    "OrderCancellationRequest",
    "OrderModificationRequest",
    "OrderAccepted",
    "OrderRejected",
    "ModificationAccepted",
    "ModificationRejected",
    "CancellationAccepted",
    "CancellationRejected",
    "FillEvent",
    "OrderExpired",
]
