"""Test strategies loaded by file path (`tests/system/exerciser.py:Exerciser`) into child processes."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence

from datetime import timedelta

from components import BarPeriod, OrderStatus, OrderType, ParamSpec, SimulatedBroker, StrategyBase, TradeSide
from components.events import BarReceived, EventBase, OrderExpired
from components.indicators import SimpleMovingAverage


class Exerciser(StrategyBase):
    """On its first symbol, one scripted action per bar: every order type, a modification, a
    cancellation, a rejection, a rejected cancellation, an expiry and a reversal; then, through
    buy / sell, an order that ends after two bars and one that expires after two minutes."""

    name = "Exerciser"
    parameters = {"offset": ParamSpec(default=0, min=0, max=100)}

    def setup(self) -> None:
        self.k = 0
        self.ids: dict[str, str] = {}
        self.add_indicator(SimpleMovingAverage(period=3))

    def on_bar(self, bar: BarReceived) -> None:
        first = self.symbols[0] if self.symbols else None
        if first is not None and bar.symbol != first:
            return
        self.k += 1
        k = self.k - self.offset
        c = bar.close
        minute = 60_000_000_000
        if k == 1:
            self.ids["mkt"] = self.submit_order(OrderType.MARKET, TradeSide.BUY, 1)
        elif k == 3:
            self.submit_order(OrderType.LIMIT, TradeSide.BUY, 1, limit_price=round(c * 0.5, 2),
                              expires_at_ns=bar.ts_event_ns + 2 * minute)
        elif k == 4:
            self.ids["stop"] = self.submit_order(OrderType.STOP, TradeSide.SELL, 1, stop_price=round(c * 0.5, 2))
        elif k == 5:
            self.submit_modification(self.ids["stop"], stop_price=round(c * 0.6, 2))
        elif k == 6:
            self.submit_cancellation(self.ids["stop"])
        elif k == 7:
            self.submit_order(OrderType.MARKET, TradeSide.BUY, 0)
        elif k == 8:
            self.submit_cancellation(self.ids["mkt"])
        elif k == 9:
            self.submit_order(OrderType.STOP, TradeSide.BUY, 1, stop_price=round(c * 0.99, 2))
        elif k == 10:
            self.submit_order(OrderType.LIMIT, TradeSide.SELL, 3, limit_price=round(c * 0.9, 2))
        elif k == 12:
            self.submit_order(OrderType.STOP_LIMIT, TradeSide.BUY, 1, stop_price=round(c * 0.99, 2),
                              limit_price=round(c * 1.05, 2))
        elif k == 14:
            self.ids["bars"] = self.buy(1, limit_price=round(c * 0.5, 2), expires_after_bars=2, signal="two bars")
        elif k == 15:
            self.ids["timed"] = self.sell(1, limit_price=round(c * 2.0, 2), expires_in=timedelta(minutes=2))

    def on_order_expired(self, event: OrderExpired) -> None:
        order = self.orders[event.associated_order_id]
        assert order.status is OrderStatus.EXPIRED and order not in self.open_orders_of(order.symbol), order
        if order.order_id == self.ids.get("bars"):
            assert order.signal == "two bars" and order.expires_after_bars == 2, order


class _FaultOnBar(StrategyBase):
    """Runs normally until its FAULT_AT-th bar, where it calls `fault()`."""

    FAULT_AT = 0

    def setup(self) -> None:
        self.n = 0

    def on_bar(self, bar: BarReceived) -> None:
        self.n += 1
        if self.n == self.FAULT_AT:
            self.fault()

    def fault(self) -> None:
        raise NotImplementedError


class RaisesOnBar(_FaultOnBar):
    """Raises on its 20th bar."""

    name = "RaisesOnBar"
    parameters = {"bar_period": ParamSpec(default=BarPeriod.MINUTE)}
    FAULT_AT = 20

    def fault(self) -> None:
        raise RuntimeError("strategy blew up on purpose")


class Slow(StrategyBase):
    """Sleeps a little per bar so a run lasts long enough to be interrupted."""

    name = "Slow"
    parameters = {"sleep_ms": ParamSpec(default=2.0, min=0.0, max=1000.0)}

    def on_bar(self, bar: BarReceived) -> None:
        time.sleep(self.sleep_ms / 1000.0)


KILL_AT = 900


class KillsItself(_FaultOnBar):
    """SIGKILLs its own process on its KILL_AT-th bar (a crash no Python code can report)."""

    name = "KillsItself"
    FAULT_AT = KILL_AT

    def fault(self) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


class HangsOnBar(_FaultOnBar):
    """Hangs (heartbeats still flowing: a sleep, not a crash) on its 100th bar."""

    name = "HangsOnBar"
    FAULT_AT = 100

    def fault(self) -> None:
        time.sleep(600)


class HangsAtSetup(StrategyBase):
    """Never gets as far as joining the bus (a start-up that hangs)."""

    name = "HangsAtSetup"

    def setup(self) -> None:
        time.sleep(60)

    def on_bar(self, bar: BarReceived) -> None: ...


class FailsAtSetup(StrategyBase):
    name = "FailsAtSetup"

    def setup(self) -> None:
        raise RuntimeError("setup failed on purpose")

    def on_bar(self, bar: BarReceived) -> None: ...


class _FaultInBroker(SimulatedBroker):
    """A broker that calls `fault()` in the 40th message it handles (hosted by the bus or in its
    own process)."""

    def __init__(self) -> None:
        super().__init__()
        self._messages = 0

    def on_message(self, topic: str, events: Sequence[EventBase]) -> None:
        self._messages += 1
        if self._messages == 40:
            self.fault()
        super().on_message(topic, events)

    def fault(self) -> None:
        raise NotImplementedError


class RaisesInBroker(_FaultInBroker):
    def fault(self) -> None:
        raise RuntimeError("broker blew up on purpose")


class HangsInBroker(_FaultInBroker):
    def fault(self) -> None:
        time.sleep(600)
