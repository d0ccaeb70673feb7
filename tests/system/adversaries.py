"""Strategies that try hard to make a run depend on process timing (loaded by file path into child
processes). Every decision comes from a seeded generator and the strategy's own events; the naps
come from a separate, unseeded one, so they move the timing and nothing else."""

from __future__ import annotations

import random
import time

from components import OrderType, ParamSpec, StrategyBase, TradeSide
from components.events import (
    BarReceived,
    CancellationAccepted,
    CancellationRejected,
    FillEvent,
    ModificationAccepted,
    ModificationRejected,
    OrderAccepted,
    OrderExpired,
    OrderRejected,
)

MINUTE = 60_000_000_000
_TYPES = (OrderType.MARKET, OrderType.LIMIT, OrderType.STOP, OrderType.STOP_LIMIT)


class _Chaotic(StrategyBase):
    """Random, seeded trading through the API from on_start, on_bar, on_fill, on_order_expired
    and on_stop: every order type, modifications, cancellations, expiries, invalid requests,
    bursts of far-away orders, and market orders on every bar from `final_ts` on (the last bars)."""

    parameters = {
        "seed": ParamSpec(default=1, min=0, max=1_000_000),
        "nap_ms": ParamSpec(default=2.0, min=0.0, max=50.0),
        "burst_every": ParamSpec(default=97, min=0, max=1_000_000),
        "burst": ParamSpec(default=120, min=0, max=10_000),
        "final_ts": ParamSpec(default=0, min=0),
    }

    def setup(self) -> None:
        self.rng = random.Random(self.seed)
        self.jitter = random.Random()  # timing only: never decides anything
        self.last: dict[str, float] = {}
        self.bars_handled = 0

    # --- helpers ---------------------------------------------------------------------------------

    def _nap(self) -> None:
        if self.nap_ms and self.jitter.random() < 0.15:
            time.sleep(self.jitter.random() * self.nap_ms / 1000.0)

    def _symbol(self) -> str:
        return self.active_symbol or self.symbols[0]

    def _price(self, symbol: str, spread: float) -> float:
        return round(self.last.get(symbol, 100.0) * (1.0 + self.rng.uniform(-spread, spread)), 2)

    def _order(self, symbol: str) -> None:
        rng = self.rng
        kind = rng.choice(_TYPES)
        side = rng.choice((TradeSide.BUY, TradeSide.SELL))
        quantity = rng.choice((1, 1, 2, 3))
        limit = self._price(symbol, 0.004) if kind in (OrderType.LIMIT, OrderType.STOP_LIMIT) else None
        stop = self._price(symbol, 0.004) if kind in (OrderType.STOP, OrderType.STOP_LIMIT) else None
        expires = self.now_ns + rng.randint(1, 6) * MINUTE if rng.random() < 0.35 else None
        self.submit_order(kind, side, quantity, limit_price=limit, stop_price=stop, symbol=symbol,
                          expires_at_ns=expires, signal=f"chaos-{rng.randint(0, 9)}")

    def act(self, chance: float) -> None:
        """With probability `chance`, one random request about the active symbol."""
        self._nap()
        rng = self.rng
        if rng.random() >= chance:
            return
        symbol = self._symbol()
        working = sorted(self.open_orders)
        r = rng.random()
        if r < 0.4 or not working:
            self._order(symbol)
        elif r < 0.6:
            oid = rng.choice(working)
            self.submit_modification(oid, limit_price=self._price(symbol, 0.003), stop_price=self._price(symbol, 0.003),
                                     quantity=rng.choice((None, 1, 2)))
        elif r < 0.8:
            self.submit_cancellation(rng.choice(working))
        elif r < 0.85:
            self.submit_order(OrderType.MARKET, TradeSide.BUY, 0, symbol=symbol)  # rejected: no quantity
        elif r < 0.9:
            self.submit_cancellation(f"{self.strategy_id}-{rng.randint(1, 5)}")  # likely closed long ago
        elif r < 0.95:
            self.submit_modification(rng.choice(working), limit_price=-1.0)  # rejected: bad price
        elif self.position_of(symbol):
            position = self.position_of(symbol)
            self.submit_order(OrderType.MARKET, TradeSide.SELL if position > 0 else TradeSide.BUY, abs(position),
                              symbol=symbol)

    # --- callbacks -------------------------------------------------------------------------------

    def on_start(self) -> None:
        first = self.symbols[0]
        self.submit_order(OrderType.MARKET, TradeSide.BUY, 1, symbol=first, signal="start")
        self.submit_order(OrderType.LIMIT, TradeSide.BUY, 1, limit_price=1.0, symbol=first, expires_at_ns=1)

    def on_bar(self, bar: BarReceived) -> None:
        self.last[bar.symbol] = bar.close
        self.bars_handled += 1
        if self.burst_every and self.bars_handled % self.burst_every == 0:
            for _ in range(self.burst):
                side = self.rng.choice((TradeSide.BUY, TradeSide.SELL))
                far = bar.close * (0.5 if side is TradeSide.BUY else 1.5)
                self.submit_order(OrderType.LIMIT, side, 1, limit_price=round(far, 2), expires_at_ns=bar.ts_event_ns + 2 * MINUTE)
        if self.final_ts and bar.ts_event_ns >= self.final_ts:
            self.submit_order(OrderType.MARKET, TradeSide.BUY, 1, signal="final")
        self.act(0.3)

    def on_fill(self, fill: FillEvent) -> None:
        self.act(0.4)

    def on_order_expired(self, event: OrderExpired) -> None:
        self.act(0.2)

    def on_stop(self) -> None:
        working = sorted(self.open_orders)
        self.submit_order(OrderType.MARKET, TradeSide.SELL, 1, symbol=self.symbols[0], signal="stop")
        if working:
            self.submit_cancellation(working[0])
            self.submit_modification(working[-1], quantity=5)


class QuietChaos(_Chaotic):
    """Overrides no answer callback: the synchronisation's fast path."""

    name = "QuietChaos"


class Chaos(_Chaotic):
    """Also acts from every answer callback: what those send belongs to the timestamp whose
    requests they answer."""

    name = "Chaos"

    def on_order_accepted(self, event: OrderAccepted) -> None:
        self.act(0.08)

    def on_order_rejected(self, event: OrderRejected) -> None:
        self.act(0.3)

    def on_cancellation_accepted(self, event: CancellationAccepted) -> None:
        self.act(0.3)

    def on_cancellation_rejected(self, event: CancellationRejected) -> None:
        self.act(0.3)

    def on_modification_accepted(self, event: ModificationAccepted) -> None:
        self.act(0.15)

    def on_modification_rejected(self, event: ModificationRejected) -> None:
        self.act(0.3)


class AmendOnAccept(StrategyBase):
    """Every 10th bar a limit buy far below the market; once accepted, its limit is lifted above
    the market, so it fills at the strategy's next timestamp - never later."""

    name = "AmendOnAccept"
    parameters = {"nap_ms": ParamSpec(default=3.0, min=0.0, max=50.0)}

    def setup(self) -> None:
        self.n = 0
        self.close: dict[str, float] = {}
        self.jitter = random.Random()

    def on_bar(self, bar: BarReceived) -> None:
        self.n += 1
        self.close[bar.symbol] = bar.close
        if self.n % 10 == 0:
            self.submit_order(OrderType.LIMIT, TradeSide.BUY, 1, limit_price=round(bar.close * 0.5, 2))

    def on_order_accepted(self, event: OrderAccepted) -> None:
        time.sleep(self.jitter.random() * self.nap_ms / 1000.0)
        symbol = self.active_symbol or ""
        self.submit_modification(event.associated_order_id, limit_price=round(self.close[symbol] * 1.5, 2))


class TradesOnStop(StrategyBase):
    """Keeps a far-away order working; at the end submits, cancels and modifies in on_stop."""

    name = "TradesOnStop"

    def setup(self) -> None:
        self.placed = False

    def on_bar(self, bar: BarReceived) -> None:
        if not self.placed:
            self.placed = True
            self.submit_order(OrderType.LIMIT, TradeSide.BUY, 1, limit_price=round(bar.close * 0.5, 2))
            self.submit_order(OrderType.LIMIT, TradeSide.SELL, 1, limit_price=round(bar.close * 2.0, 2))

    def on_stop(self) -> None:
        first, second = sorted(self.open_orders)
        self.submit_order(OrderType.MARKET, TradeSide.BUY, 1, symbol=self.symbols[0] if self.symbols else None)
        self.submit_cancellation(first)
        self.submit_modification(second, limit_price=123.45)


class ExpiresOften(StrategyBase):
    """Far-away orders that expire one minute after they are placed: each expiry is stamped at the
    strategy's own next timestamp."""

    name = "ExpiresOften"

    def on_bar(self, bar: BarReceived) -> None:
        self.submit_order(OrderType.LIMIT, TradeSide.BUY, 1, limit_price=round(bar.close * 0.5, 2),
                          expires_at_ns=bar.ts_event_ns + MINUTE)
