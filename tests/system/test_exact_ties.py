"""SMA-X on cent prices that often put the two SMAs exactly level: tickbus, in-process and across
processes, trades exactly what the rule gives in exact decimal arithmetic (scripts/smax.py)."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from components import SimulatedBroker
from components.datafeed import SimulatedDatafeed
from components.secmaster import import_csv
from components.spec import configured
from orchestrator.orchestrator import Orchestrator
from orchestrator.strategies import resolve, with_parameters

SMAX = str(Path(__file__).resolve().parents[2] / "scripts" / "smax.py") + ":SMAX"
PERIODS = [(10, 30), (5, 20)]
START, MINUTE = 1_704_196_800_000_000_000, 60_000_000_000
SYMBOLS, BARS = ("AAA", "BBB", "CCC"), 1500

Fill = tuple[int, str, int, str, float, float]  # strategy index, symbol, ts, side, qty, price


def _cents() -> dict[str, list[int]]:
    """Closes in cents around 112.01, mostly unchanged, a cent at a time: many exact SMA ties."""
    rng = random.Random(19)
    out = {}
    for sym in SYMBOLS:
        c, closes = 11_201, []
        for _ in range(BARS):
            c += rng.choice((-1, 0, 0, 0, 1))
            closes.append(c)
        out[sym] = closes
    return out


def _text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _rule(closes: list[int], opens: list[int], level: Callable[[int], int | None]) -> list[tuple[int, str, float, float]]:
    """The SMA-X rule given the sign of fast - slow at each bar (None: not both defined)."""
    fills, pos, prev = [], 0, None
    for t in range(len(closes)):
        cur = level(t)
        if cur is not None and prev is not None:
            target = 1 if cur > 0 and prev <= 0 else -1 if cur < 0 and prev >= 0 else pos
            if target != pos and t + 1 < len(closes):
                qty = target - pos
                fills.append((START + (t + 1) * MINUTE, "BUY" if qty > 0 else "SELL", float(abs(qty)), opens[t + 1] / 100))
                pos = target
        prev = cur
    return fills


def _exact_fills(data: dict[str, list[int]]) -> set[Fill]:
    out = set()
    for k, (fast, slow) in enumerate(PERIODS):
        for sym, c in data.items():
            def level(t: int, c: list[int] = c, fast: int = fast, slow: int = slow) -> int | None:
                if t < max(fast, slow) - 1:
                    return None
                return sum(c[t - fast + 1 : t + 1]) * slow - sum(c[t - slow + 1 : t + 1]) * fast

            out |= {(k, sym, *f) for f in _rule(c, [c[0], *c[:-1]], level)}
    return out


def _float_sum_fills(data: dict[str, list[int]]) -> set[Fill]:
    """The same rule on SMAs computed as sum(window) / period over the floats (the seed's formula)."""
    out = set()
    for k, (fast, slow) in enumerate(PERIODS):
        for sym, c in data.items():
            x = [v / 100 for v in c]

            def level(t: int, x: list[float] = x, fast: int = fast, slow: int = slow) -> int | None:
                if t < max(fast, slow) - 1:
                    return None
                a, b = sum(x[t - fast + 1 : t + 1]) / fast, sum(x[t - slow + 1 : t + 1]) / slow
                return (a > b) - (a < b)

            out |= {(k, sym, *f) for f in _rule(c, [c[0], *c[:-1]], level)}
    return out


@pytest.fixture(scope="module")
def cents_secmaster(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[int]]]:
    data = _cents()
    csv = tmp_path_factory.mktemp("cents") / "bars.csv"
    lines = ["ts_event_ns,symbol,open,high,low,close,volume"]
    for t in range(BARS):
        for sym in SYMBOLS:
            c = data[sym]
            o = c[t - 1] if t else c[0]
            lines.append(f"{START + t * MINUTE},{sym},{_text(o)},{_text(max(o, c[t]))},{_text(min(o, c[t]))},{_text(c[t])},100")
    csv.write_text("\n".join(lines) + "\n")
    db = csv.with_name("secmaster.db")
    import_csv(csv, db, "cents", "TIES", progress=False)
    return db, data


def _run(secmaster: Path, runs_db: Path, in_process: bool) -> set[Fill]:
    smax = resolve(SMAX)
    strategies = [with_parameters(smax, {"fast": str(f), "slow": str(s)}) for f, s in PERIODS]
    feed = configured(SimulatedDatafeed, db_path=str(secmaster), publisher_name="cents", dataset="TIES")
    result = configured(Orchestrator, db_path=str(runs_db))(strategies, SimulatedBroker, feed, in_process=in_process).run()
    assert result.status == "completed", result.error
    index = {sid: k for k, sid in enumerate(result.strategy_ids)}
    with sqlite3.connect(runs_db) as conn:
        rows = conn.execute("SELECT strategy_id, symbol, ts_event_ns, side, quantity_filled, fill_price FROM fills"
                            " WHERE run_id = ?", (result.run_id,)).fetchall()
    fills = {(index[sid], sym, ts, side, qty, round(price, 9)) for sid, sym, ts, side, qty, price in rows}
    assert len(fills) == len(rows)
    return fills


def test_the_data_has_ties_that_float_sums_get_wrong(cents_secmaster: tuple[Path, dict[str, list[int]]]) -> None:
    _, data = cents_secmaster
    ties = sum(
        sum(c[t - f + 1 : t + 1]) * s == sum(c[t - s + 1 : t + 1]) * f
        for f, s in PERIODS for c in data.values() for t in range(s - 1, BARS)
    )
    assert ties > 50
    assert len(_exact_fills(data) ^ _float_sum_fills(data)) > 10  # what this test would catch


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "multi-process"])
def test_smax_fills_equal_the_exact_decimal_rule(cents_secmaster: tuple[Path, dict[str, list[int]]], tmp_path: Path,
                                                 in_process: bool) -> None:
    secmaster, data = cents_secmaster
    expected = _exact_fills(data)
    assert len(expected) > 200
    assert _run(secmaster, tmp_path / "runs.db", in_process) == expected
