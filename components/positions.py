"""Per-symbol position and PnL accounting for one strategy (its own fills only).

onesecondtrader kept only position and average price, and reset the average on a flip without booking
what the closed part earned; realized PnL did not exist. Here one fill can close part of a
position, all of it, or close it and open the other side (long 2, sell 5 -> short 3 at the fill
price), and the closed quantity books `(fill - avg) * closed` (sign-adjusted) as realized PnL.

Realized and unrealized PnL are gross; commissions are tracked separately (net = realized +
unrealized - commissions, see `net_pnl`).
"""

from __future__ import annotations

from components.models import TradeSide

#: Quantities closer to zero than this count as flat (float dust from e.g. 0.1 + 0.2 - 0.3).
FLAT_EPSILON = 1e-9


class Position:
    """One symbol's book. Plain mutable record; `PositionBook` does the arithmetic."""

    __slots__ = ("quantity", "avg_price", "realized", "commissions", "last_price")

    def __init__(self) -> None:
        self.quantity: float = 0.0  # signed: > 0 long, < 0 short
        self.avg_price: float = 0.0  # average entry price of the open quantity; 0 when flat
        self.realized: float = 0.0
        self.commissions: float = 0.0
        self.last_price: float | None = None  # the mark for unrealized PnL

    def unrealized(self) -> float:
        if self.quantity == 0.0 or self.last_price is None:
            return 0.0
        return self.quantity * (self.last_price - self.avg_price)

    def __repr__(self) -> str:
        return (
            f"Position(quantity={self.quantity}, avg_price={self.avg_price}, realized={self.realized}, "
            f"commissions={self.commissions}, last_price={self.last_price})"
        )


class PositionBook:
    """Positions of every symbol a strategy traded, with per-symbol and total PnL."""

    __slots__ = ("_positions",)

    def __init__(self) -> None:
        self._positions: dict[str, Position] = {}

    def _get(self, symbol: str) -> Position:
        pos = self._positions.get(symbol)
        if pos is None:
            pos = self._positions[symbol] = Position()
        return pos

    def apply_fill(self, symbol: str, side: TradeSide, quantity: float, price: float, commission: float = 0.0) -> None:
        """Book one fill: open, add (weighted average), reduce (average kept), close or reverse."""
        pos = self._get(symbol)
        if pos.last_price is None:
            pos.last_price = price
        pos.commissions += commission
        old = pos.quantity
        delta = quantity if side is TradeSide.BUY else -quantity
        new = old + delta
        if old == 0.0 or (old > 0.0) == (delta > 0.0):  # open or add
            pos.avg_price = (pos.avg_price * abs(old) + price * quantity) / abs(new)
            pos.quantity = new
            return
        closed = min(quantity, abs(old))
        pos.realized += closed * (price - pos.avg_price) * (1.0 if old > 0.0 else -1.0)
        if abs(new) <= FLAT_EPSILON:
            pos.quantity = 0.0
            pos.avg_price = 0.0
        elif (new > 0.0) != (old > 0.0):  # reversed: the remainder opens at the fill price
            pos.quantity = new
            pos.avg_price = price
        else:  # partial reduction: average unchanged
            pos.quantity = new

    def mark(self, symbol: str, price: float) -> None:
        """Set the price unrealized PnL is measured at (the strategy's last close)."""
        self._get(symbol).last_price = price

    def get(self, symbol: str) -> Position | None:
        return self._positions.get(symbol)

    def symbols(self) -> list[str]:
        return list(self._positions)

    def position(self, symbol: str) -> float:
        pos = self._positions.get(symbol)
        return pos.quantity if pos is not None else 0.0

    def avg_price(self, symbol: str) -> float:
        pos = self._positions.get(symbol)
        return pos.avg_price if pos is not None else 0.0

    def realized_pnl(self, symbol: str | None = None) -> float:
        if symbol is not None:
            pos = self._positions.get(symbol)
            return pos.realized if pos is not None else 0.0
        return sum(p.realized for p in self._positions.values())

    def unrealized_pnl(self, symbol: str | None = None, price: float | None = None) -> float:
        """At `price` if given (one symbol only), else at each symbol's last mark."""
        if symbol is None:
            if price is not None:
                raise ValueError("a price applies to one symbol; pass the symbol too")
            return sum(p.unrealized() for p in self._positions.values())
        pos = self._positions.get(symbol)
        if pos is None:
            return 0.0
        if price is None:
            return pos.unrealized()
        return pos.quantity * (price - pos.avg_price) if pos.quantity else 0.0

    def commissions(self, symbol: str | None = None) -> float:
        if symbol is not None:
            pos = self._positions.get(symbol)
            return pos.commissions if pos is not None else 0.0
        return sum(p.commissions for p in self._positions.values())

    def net_pnl(self, symbol: str | None = None) -> float:
        """Realized + unrealized - commissions."""
        return self.realized_pnl(symbol) + self.unrealized_pnl(symbol) - self.commissions(symbol)
