"""Identical events in every mode, every repeat, alone or in company (components/broker_sync.py).

Adversarial strategies (tests/system/adversaries.py) on data with gaps, a late starter and an
early ender, run in one process, across processes (repeatedly, over ipc and tcp) and with the
broker in its own process; every recorded table compared row for row, wall-clock columns aside.
Then one test per way this promise was found broken.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from systemkit import ADVERSARIES, make_orchestrator, recorded_events, strategy_events

from orchestrator.orchestrator import RunResult
from orchestrator.strategies import resolve, with_parameters
from components.spec import configured

MINUTE = 60_000_000_000


def adversary(name: str, sid: str, symbols: list[str], **params: Any) -> type:
    cls = with_parameters(resolve(f"{ADVERSARIES}:{name}"), params, symbols)
    return configured(cls, f"_{sid}", strategy_id=sid)


def last_ts(secmaster: Path) -> int:
    conn = sqlite3.connect(secmaster)
    try:
        return int(conn.execute("SELECT MAX(ts_event) FROM ohlcv").fetchone()[0])
    finally:
        conn.close()


def company(secmaster: Path) -> list[type]:
    final = last_ts(secmaster) - 3 * MINUTE
    return [
        adversary("Chaos", "ChaosA", ["SYM000", "SYM001"], seed=1, final_ts=final),
        adversary("Chaos", "ChaosB", ["SYM002", "SYM003"], seed=2, burst_every=61, final_ts=final),
        adversary("QuietChaos", "Quiet", ["SYM000", "SYM003"], seed=3, final_ts=final),
        adversary("AmendOnAccept", "Amend", ["SYM001", "SYM002"]),
    ]


MODES: dict[str, dict[str, Any]] = {
    "in-process": {"in_process": True},
    "multi-process 1": {},
    "multi-process 2": {},
    "multi-process tcp": {"transport": "tcp"},
    "broker process": {"broker_in_bus": False},
}


def run(secmaster: Path, runs_db: Path, strategies: list[type], **mode: Any) -> RunResult:
    result = make_orchestrator(secmaster, runs_db, strategies, **mode).run()
    assert result.status == "completed", result.error
    return result


@pytest.fixture(scope="module")
def company_runs(gappy_secmaster: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, RunResult]]:
    runs_db = tmp_path_factory.mktemp("determinism") / "runs.db"
    strategies = company(gappy_secmaster)
    return runs_db, {mode: run(gappy_secmaster, runs_db, strategies, **attrs) for mode, attrs in MODES.items()}


def test_adversaries_record_identical_events_in_every_mode(company_runs: tuple[Path, dict[str, RunResult]]) -> None:
    runs_db, results = company_runs
    reference = recorded_events(runs_db, results["in-process"].run_id)
    assert len(reference["fills"]) > 100 and len(reference["expirations"]) > 100
    assert len(reference["modifications_rejected"]) > 0 and len(reference["cancellations_rejected"]) > 0
    for mode, result in results.items():
        events = recorded_events(runs_db, result.run_id)
        for table, rows in reference.items():
            assert events[table] == rows, f"{mode}: {table} differs from the in-process run"


def test_each_strategy_alone_records_what_it_records_in_company(
    company_runs: tuple[Path, dict[str, RunResult]], gappy_secmaster: Path, tmp_path: Path
) -> None:
    runs_db, results = company_runs
    group = results["in-process"].run_id
    for cls in company(gappy_secmaster):
        solo = run(gappy_secmaster, tmp_path / "solo.db", [cls], in_process=True)
        sid = cls.strategy_id  # type: ignore[attr-defined]
        assert strategy_events(tmp_path / "solo.db", solo.run_id, sid) == strategy_events(runs_db, group, sid), sid
    alone_mp = run(gappy_secmaster, tmp_path / "solo.db", [company(gappy_secmaster)[0]])
    assert strategy_events(tmp_path / "solo.db", alone_mp.run_id, "ChaosA") == strategy_events(runs_db, group, "ChaosA")


def _own_timestamps(secmaster: Path, symbols: list[str]) -> list[int]:
    conn = sqlite3.connect(secmaster)
    try:
        marks = ",".join("?" * len(symbols))
        return [r[0] for r in conn.execute(
            f"SELECT DISTINCT o.ts_event FROM ohlcv o JOIN instruments i ON i.instrument_id = o.instrument_id"
            f" WHERE i.symbol IN ({marks}) ORDER BY 1", symbols)]
    finally:
        conn.close()


def test_a_request_sent_from_an_answer_callback_is_matched_at_the_next_timestamp(
    gappy_secmaster: Path, tmp_path: Path
) -> None:
    """A limit buy far below the market, lifted above it from on_order_accepted: it fills at the
    strategy's next timestamp in every mode and every repeat (it used to fill a timestamp later
    whenever the broker already had the next bars)."""
    runs_db = tmp_path / "runs.db"
    strategy = adversary("AmendOnAccept", "Amend", ["SYM000"])
    results = [run(gappy_secmaster, runs_db, [strategy], in_process=True)]
    results += [run(gappy_secmaster, runs_db, [strategy]) for _ in range(3)]
    own = _own_timestamps(gappy_secmaster, ["SYM000"])
    conn = sqlite3.connect(runs_db)
    for result in results:
        rows = conn.execute(
            "SELECT s.ts_event_ns, f.ts_event_ns FROM order_submissions s JOIN fills f"
            " ON f.run_id = s.run_id AND f.associated_order_id = s.system_order_id WHERE s.run_id = ?",
            (result.run_id,)).fetchall()
        assert len(rows) >= 25
        for placed, filled in rows:
            assert filled == own[own.index(placed) + 1], (result.run_id, placed, filled)
    reference = recorded_events(runs_db, results[0].run_id)
    assert all(recorded_events(runs_db, r.run_id) == reference for r in results[1:])


@pytest.mark.parametrize("mode", ["in-process", "multi-process 1", "broker process"])
def test_requests_from_on_stop_are_recorded_and_answered_in_every_mode(gappy_secmaster: Path, tmp_path: Path,
                                                                       mode: str) -> None:
    runs_db = tmp_path / "runs.db"
    result = run(gappy_secmaster, runs_db, [adversary("TradesOnStop", "Stopper", ["SYM002"])], **MODES[mode])
    conn = sqlite3.connect(runs_db)
    count = lambda table: conn.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = ?", (result.run_id,)).fetchone()[0]  # noqa: E731
    # two orders at the first bar, then from on_stop: an order, a cancellation, a modification
    assert (count("order_submissions"), count("orders_accepted")) == (3, 3)
    assert (count("order_cancellations"), count("cancellations_accepted")) == (1, 1)
    assert (count("order_modifications"), count("modifications_accepted")) == (1, 1)
    last = _own_timestamps(gappy_secmaster, ["SYM002"])[-1]
    stamps = conn.execute("SELECT DISTINCT ts_event_ns FROM order_cancellations WHERE run_id = ?", (result.run_id,)).fetchall()
    assert stamps == [(last,)]  # sent at the end: market time is the strategy's last bar


def test_expiry_stamps_come_from_the_strategys_own_timestamps(gappy_secmaster: Path, tmp_path: Path) -> None:
    """A strategy on two gappy symbols records the same expirations whether or not another
    strategy's symbols add timestamps to the run."""
    runs_db = tmp_path / "runs.db"
    expires = adversary("ExpiresOften", "Expires", ["SYM000", "SYM003"])
    other = adversary("ExpiresOften", "Other", ["SYM001", "SYM002"])
    alone = run(gappy_secmaster, runs_db, [expires], in_process=True)
    together = run(gappy_secmaster, runs_db, [expires, other])
    own = _own_timestamps(gappy_secmaster, ["SYM000", "SYM003"])
    conn = sqlite3.connect(runs_db)
    rows = conn.execute(
        "SELECT s.ts_event_ns, e.ts_event_ns FROM order_submissions s JOIN expirations e"
        " ON e.run_id = s.run_id AND e.associated_order_id = s.system_order_id WHERE s.run_id = ? AND s.strategy_id = ?",
        (together.run_id, "Expires")).fetchall()
    assert len(rows) > 300
    for placed, expired in rows:
        assert expired == next(t for t in own if t > placed + MINUTE)  # its first own timestamp past the expiry
    assert strategy_events(runs_db, together.run_id, "Expires") == strategy_events(runs_db, alone.run_id, "Expires")
