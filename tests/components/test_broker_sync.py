"""BrokerSync: the strategy's side of its synchronisation with the broker, as a state machine."""

from __future__ import annotations

from collections.abc import Callable

from test_strategy_support import bar, ts

from components.broker_sync import Bars, BrokerSync


class _Strategy:
    """Drives a BrokerSync the way StrategyBase does; `on_ts[i]` runs while handling ts(i)."""

    def __init__(self, *, answers_may_request: bool, own: Callable[[int], bool] = lambda t: True) -> None:
        self.working = 0
        self.handled: list[int] = []
        self.requests: list[int] = []
        self.on_ts: dict[int, Callable[[], None]] = {}
        self.own = own
        self.sync = BrokerSync(self.handle, lambda: self.working > 0, self.requests.append,
                               answers_may_request=answers_may_request)

    def handle(self, bars: Bars) -> bool:
        t = bars[0].ts_event_ns
        if not self.own(t):
            return False
        self.handled.append(t)
        action = self.on_ts.get(t)
        if action is not None:
            action()
        return True

    def order(self) -> None:
        self.sync.sent()
        self.working += 1

    def feed(self, *indices: int) -> None:
        for i in indices:
            self.sync.bars([bar(i=i)])


def test_nothing_working_nothing_unanswered_bars_flow_without_requests() -> None:
    s = _Strategy(answers_may_request=True)
    s.feed(0, 1, 2)
    assert s.handled == [ts(0), ts(1), ts(2)] and s.requests == [] and not s.sync.holding


def test_fast_path_asks_at_once_and_holds_until_released() -> None:
    s = _Strategy(answers_may_request=False)
    s.on_ts[ts(0)] = s.order
    s.feed(0)
    assert s.requests == [ts(0)] and s.sync.holding  # with the order, not after its answer
    s.feed(1, 2)
    assert s.handled == [ts(0)]
    s.sync.answered()  # accepted: still working, nothing changes
    assert s.requests == [ts(0)] and s.handled == [ts(0)]
    s.sync.released(ts(1))
    assert s.handled == [ts(0), ts(1)] and s.requests == [ts(0), ts(1)]  # still working: asks again
    s.working = 0  # filled at ts(2)
    s.sync.released(ts(2))
    assert s.handled == [ts(0), ts(1), ts(2)] and not s.sync.holding


def test_slow_path_asks_once_every_answer_and_what_its_callback_sent_is_answered() -> None:
    s = _Strategy(answers_may_request=True)
    s.on_ts[ts(0)] = s.order
    s.feed(0, 1)
    assert s.requests == [] and s.sync.holding and s.handled == [ts(0)]
    s.order()  # the accepted order's callback sends a modification, before its answer is counted
    s.sync.answered()
    assert s.requests == []  # the modification is unanswered
    s.sync.answered()
    assert s.requests == [ts(0)]
    s.sync.released(ts(1))
    assert s.handled == [ts(0), ts(1)] and s.requests == [ts(0), ts(1)]


def test_slow_path_drops_the_debt_when_the_answers_left_nothing_working() -> None:
    s = _Strategy(answers_may_request=True)
    s.on_ts[ts(0)] = s.order
    s.feed(0, 1, 2)
    s.working = 0  # rejected
    s.sync.answered()
    assert s.requests == [] and s.handled == [ts(0), ts(1), ts(2)] and not s.sync.holding


def test_requests_from_on_start_are_matched_at_the_first_timestamp() -> None:
    s = _Strategy(answers_may_request=True)
    s.order()
    s.sync.answered()  # answered before any bar arrived: nothing owed yet
    assert s.requests == []
    s.feed(5)
    assert s.requests == [ts(5) - 1] and s.handled == []
    s.sync.released(ts(5))
    assert s.handled == [ts(5)]


def test_timestamps_that_are_not_the_strategys_own_neither_ask_nor_wait() -> None:
    s = _Strategy(answers_may_request=False, own=lambda t: t != ts(1))
    s.on_ts[ts(0)] = s.order
    s.feed(0, 1, 2)
    assert s.requests == [ts(0)] and s.handled == [ts(0)]
    s.sync.released(ts(2))  # the broker skipped ts(1): not on this strategy's clock
    assert s.handled == [ts(0), ts(2)] and s.requests == [ts(0), ts(2)]


def test_a_release_for_an_older_timestamp_changes_nothing() -> None:
    s = _Strategy(answers_may_request=False)
    s.on_ts[ts(3)] = s.order
    s.feed(3, 4)
    s.sync.released(ts(3))
    assert s.handled == [ts(3)] and s.sync.holding
    s.sync.released(ts(4))
    assert s.handled == [ts(3), ts(4)]
