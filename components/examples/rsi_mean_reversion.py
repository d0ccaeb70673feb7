"""A mean-reversion example that exercises every order feature the broker offers.

Per symbol: when RSI is oversold (overbought) and the strategy is flat, it bids (offers) with a
LIMIT order some ATRs away from the close that is good for `entry_bars` bar lengths (it EXPIRES
if not filled). Once filled it protects the position with a STOP `stop_atr` ATRs away, which it TRAILS
(modifies) as price moves its way. When RSI has reverted to `exit_level` it CANCELS the stop and
leaves with a MARKET order; if the stop is hit first, the stop is the exit.
"""

from __future__ import annotations

from components.events import BarReceived, CancellationAccepted, FillEvent, OrderExpired, OrderRejected
from components.indicators import ATR, RSI
from components.models import ActionType, BarPeriod
from components.params import ParamSpec
from components.strategy import StrategyBase


class _SymbolState:
    __slots__ = ("entry_id", "stop_id", "exit_id", "stop_price")

    def __init__(self) -> None:
        self.entry_id: str | None = None
        self.stop_id: str | None = None
        self.exit_id: str | None = None
        self.stop_price = 0.0


class RSIMeanReversion(StrategyBase):
    name = "RSI Mean Reversion"
    bar_period = ParamSpec(default=BarPeriod.MINUTE)
    rsi_period = ParamSpec(default=14, min=2, max=100, step=1)
    oversold = ParamSpec(default=30.0, min=1.0, max=50.0, step=1.0)
    overbought = ParamSpec(default=70.0, min=50.0, max=99.0, step=1.0)
    exit_level = ParamSpec(default=50.0, min=1.0, max=99.0, step=1.0)
    atr_period = ParamSpec(default=14, min=2, max=100, step=1)
    entry_offset_atr = ParamSpec(default=0.5, min=0.0, max=5.0, step=0.1)
    entry_bars = ParamSpec(default=5, min=1, max=100, step=1)
    stop_atr = ParamSpec(default=2.0, min=0.5, max=10.0, step=0.5)
    quantity = ParamSpec(default=1.0, min=0.1, max=100.0, step=0.1)

    def setup(self) -> None:
        self.rsi = self.add_indicator(RSI(period=self.rsi_period))
        self.atr = self.add_indicator(ATR(period=self.atr_period))
        self._state: dict[str, _SymbolState] = {}

    def _st(self, symbol: str) -> _SymbolState:
        st = self._state.get(symbol)
        if st is None:
            st = self._state[symbol] = _SymbolState()
        return st

    def on_bar(self, bar: BarReceived) -> None:
        sym = bar.symbol
        rsi, atr = self.rsi.latest(sym), self.atr.latest(sym)
        if not (rsi == rsi and atr == atr and atr > 0.0):  # warming up (NaN) or a flat market
            return
        st = self._st(sym)
        position = self.position
        if position == 0.0:
            if st.entry_id is None and st.exit_id is None:
                self._place_entry(bar, st, rsi, atr)
            return
        if st.exit_id is not None:  # leaving at the next open
            return
        long = position > 0.0
        if rsi >= self.exit_level if long else rsi <= self.exit_level:
            if st.stop_id is not None:
                self.submit_cancellation(st.stop_id)
            leave = self.sell if long else self.buy
            st.exit_id = leave(
                abs(position), action=ActionType.EXIT_LONG if long else ActionType.EXIT_SHORT, signal="rsi_reverted"
            )
            return
        if st.stop_id is not None:  # trail the stop
            stop = bar.close - self.stop_atr * atr if long else bar.close + self.stop_atr * atr
            if stop > 0.0 and (stop > st.stop_price if long else stop < st.stop_price):
                self.submit_modification(st.stop_id, stop_price=stop)
                st.stop_price = stop

    def _place_entry(self, bar: BarReceived, st: _SymbolState, rsi: float, atr: float) -> None:
        good_for = self.entry_bars * bar.bar_period.duration  # bar lengths, gaps in the data included
        offset = self.entry_offset_atr * atr
        if rsi < self.oversold and bar.close - offset > 0.0:
            st.entry_id = self.buy(self.quantity, limit_price=bar.close - offset, expires_in=good_for,
                                   action=ActionType.ENTRY_LONG, signal="rsi_oversold")
        elif rsi > self.overbought:
            st.entry_id = self.sell(self.quantity, limit_price=bar.close + offset, expires_in=good_for,
                                    action=ActionType.ENTRY_SHORT, signal="rsi_overbought")

    def on_fill(self, fill: FillEvent) -> None:
        st = self._st(fill.symbol)
        oid = fill.associated_order_id
        if oid == st.entry_id:
            st.entry_id = None
            position = self.position_of(fill.symbol)
            long = position > 0.0
            distance = self.stop_atr * self.atr.latest(fill.symbol)
            stop = fill.fill_price - distance if long else fill.fill_price + distance
            if stop > 0.0:
                st.stop_price = stop
                protect = self.sell if long else self.buy
                st.stop_id = protect(
                    abs(position), stop_price=stop, symbol=fill.symbol,
                    action=ActionType.STOP_LOSS_LONG if long else ActionType.STOP_LOSS_SHORT, signal="protective_stop",
                )
        elif oid == st.stop_id:
            st.stop_id = None
        elif oid == st.exit_id:
            st.exit_id = None

    def _forget(self, symbol_state: _SymbolState, order_id: str) -> None:
        for slot in ("entry_id", "stop_id", "exit_id"):
            if getattr(symbol_state, slot) == order_id:
                setattr(symbol_state, slot, None)

    def on_order_expired(self, event: OrderExpired) -> None:
        self._forget(self._st(event.symbol), event.associated_order_id)

    def on_cancellation_accepted(self, event: CancellationAccepted) -> None:
        self._forget(self._st(self.active_symbol or ""), event.associated_order_id)

    def on_order_rejected(self, event: OrderRejected) -> None:
        self._forget(self._st(self.active_symbol or ""), event.associated_order_id)
