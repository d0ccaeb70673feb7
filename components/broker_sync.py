"""A strategy's side of its synchronisation with the broker: when it may handle the next bars.

The contract (what makes a strategy record the same events in one process, across processes, in
every repeat, alone or in company):

1. A strategy's clock is its own data: its timestamps are those with a bar of its symbols (all
   the run's when it names none) and of its bar period. It announces them once, at start
   (`SyncClock`); the broker matches its orders and stamps its expirations at these timestamps
   only, and refuses orders for a symbol outside them.
2. Everything a strategy does while handling its timestamp T is matched at its next timestamp
   T': what it sends from `on_bar`, from `on_fill` / `on_order_expired` of T, and, transitively,
   from the callbacks of the broker's answers to any of those. Orders sent from `on_start` are
   matched at its first timestamp.
3. The broker's fills and expirations stamped T' reach the strategy before its bars of T'.

How: after handling T (or before its first bar), a strategy that has working orders or
unanswered requests owes the broker a `SyncRequest(T)` and holds later bars until the broker
answers `SyncReleased(T')`. The request leaves once nothing more can belong to T: at once when
the strategy overrides no answer callback (then no answer can make it send anything: the fast
path, no extra round trip), otherwise once every request has been answered and its callback has
run. The broker handles a strategy's messages in the order sent, so everything sent before the
request is in its book when it matches T'. A strategy with nothing working and nothing
unanswered owes nothing and handles bars as they come.

This class is that state machine, free of events' routing: the strategy feeds it its timestamps'
bars, its requests and answers, and the broker's releases; it calls back to handle bars and to
send the request.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence

from components.events import BarReceived

Bars = Sequence[BarReceived]


class BrokerSync:
    """When the strategy may handle bars, and when it must ask the broker to match it.

    `handle(bars)` handles one timestamp's bars and says whether any of them was the strategy's
    own (a tick of its clock); `has_working()` says whether it has working orders; `request(t)`
    sends `SyncRequest(t)`. `answers_may_request`: the strategy overrides an answer callback.
    """

    __slots__ = ("_handle", "_has_working", "_request", "_answers_may_request", "unanswered", "_owed_after",
                 "_requested", "_released_to", "_held", "_seen_bars")

    def __init__(self, handle: Callable[[Bars], bool], has_working: Callable[[], bool],
                 request: Callable[[int], None], *, answers_may_request: bool) -> None:
        self._handle = handle
        self._has_working = has_working
        self._request = request
        self._answers_may_request = answers_may_request
        self.unanswered = 0  # requests sent and not yet answered
        self._owed_after: int | None = None  # a match after this timestamp is owed (None: nothing owed)
        self._requested = False  # the SyncRequest for it has been sent
        self._released_to: int | None = None  # the newest timestamp the broker released
        self._held: deque[Bars] = deque()
        self._seen_bars = False

    @property
    def holding(self) -> bool:
        """True while bars wait for the broker (answers to come, or its release)."""
        return self._owed_after is not None

    def needs_broker(self) -> bool:
        """Whether the broker could still send something (a fill, an expiry, an answer)."""
        return self.unanswered > 0 or self._has_working()

    # --- what the strategy reports ------------------------------------------------------------

    def bars(self, bars: Bars) -> None:
        """One timestamp's bars from the datafeed: handled now, or held until the broker is done."""
        ts = bars[0].ts_event_ns
        if not self._seen_bars:
            self._seen_bars = True
            if self.needs_broker():  # sent from on_start: matched at the first timestamp
                self._owe(ts - 1)
        released = self._released_to
        if self._owed_after is not None and (released is None or ts > released):
            self._held.append(bars)
        else:
            self._take(bars)

    def sent(self) -> None:
        """The strategy sent a request (an order, a cancellation, a modification)."""
        self.unanswered += 1

    def answered(self) -> None:
        """An answer to a request was handled, its callback included."""
        self.unanswered -= 1
        self._settle()

    def released(self, ts: int) -> None:
        """The broker matched the strategy at `ts` and sent everything that followed from it."""
        if self._released_to is None or ts > self._released_to:
            self._released_to = ts
        owed = self._owed_after
        if self._requested and owed is not None and ts > owed:
            self._owed_after = None
            self._requested = False
        self._drain()

    # --- the state machine ----------------------------------------------------------------------

    def _take(self, bars: Bars) -> None:
        if self._handle(bars) and self.needs_broker():
            self._owe(bars[0].ts_event_ns)

    def _owe(self, after: int) -> None:
        self._owed_after = after
        self._requested = False
        self._settle()

    def _settle(self) -> None:
        """Send the owed request once nothing more can belong to it; or drop the debt when no
        answer left anything for the broker to match."""
        if self._owed_after is None or self._requested:
            return
        if self.unanswered and self._answers_may_request:
            return  # an answer's callback may still send something that belongs to this timestamp
        if self.needs_broker():
            self._requested = True
            self._request(self._owed_after)
        else:
            self._owed_after = None
            self._drain()

    def _drain(self) -> None:
        held = self._held
        while held and (self._owed_after is None or self._is_released(held[0])):
            self._take(held.popleft())

    def _is_released(self, bars: Bars) -> bool:
        released = self._released_to
        return released is not None and bars[0].ts_event_ns <= released
