"""The ledger agrees with the engine's own position accounting (components/positions.py) fill by
fill, and its round trips account for every unit of realized PnL and commission."""

from __future__ import annotations

import numpy as np
import pytest

from components.models import TradeSide
from components.positions import PositionBook
from recorder.analysis.ledger import build_ledger
from recorder.analysis.load import Fills


def fills_of(rows: list[tuple[int, int, int, float, float, float]]) -> Fills:
    """rows: (ts, strategy, symbol, signed qty, price, commission)."""
    ts, strat, sym, qty, px, fee = (np.array(c) for c in zip(*rows))
    return Fills(ts.astype(np.int64), sym.astype(np.int32), strat.astype(np.int32), qty.astype(float),
                 px.astype(float), fee.astype(float))


@pytest.mark.parametrize("seed", range(5))
def test_matches_position_book_and_trips_add_up(seed: int) -> None:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(400):
        qty = float(rng.choice([-5, -3, -2, -1, 1, 2, 3, 5]))
        rows.append((i // 3, int(rng.integers(2)), int(rng.integers(3)), qty,
                     round(float(rng.uniform(90, 110)), 2), round(float(rng.uniform(0, 1)), 2)))
    fills = fills_of(rows)
    ledger = build_ledger(fills)
    books = [PositionBook(), PositionBook()]
    for i, (_, st, sy, q, p, c) in enumerate(rows):
        book = books[st]
        book.apply_fill(str(sy), TradeSide.BUY if q > 0 else TradeSide.SELL, abs(q), p, c)
        assert ledger.position[i] == pytest.approx(book.position(str(sy)))
        assert ledger.avg_price[i] == pytest.approx(book.avg_price(str(sy)))
        assert ledger.realized[i] == pytest.approx(book.realized_pnl(str(sy)))
        assert ledger.commission[i] == pytest.approx(book.commissions(str(sy)))
    rt = ledger.round_trips
    assert len(rt) > 100
    assert rt.gross_pnl.sum() == pytest.approx(sum(b.realized_pnl() for b in books))
    open_fees = 0.0
    for st in range(2):
        for sy in range(3):
            last = max(i for i, r in enumerate(rows) if r[1] == st and r[2] == sy)
            open_fees += ledger.open_commission[last]
    assert rt.commission.sum() + open_fees == pytest.approx(fills.commission.sum())
    assert (rt.quantity > 0).all() and (rt.exit_ts >= rt.entry_ts).all()


def test_float_dust_counts_as_flat() -> None:
    ledger = build_ledger(fills_of([(0, 0, 0, 0.1, 10, 0), (1, 0, 0, 0.2, 10, 0), (2, 0, 0, -0.3, 11, 0)]))
    assert ledger.position[-1] == 0.0 and ledger.avg_price[-1] == 0.0
    assert len(ledger.round_trips) == 1 and ledger.round_trips.gross_pnl[0] == pytest.approx(0.3)


def test_no_fills() -> None:
    ledger = build_ledger(Fills(*(np.zeros(0, d) for d in ("i8", "i4", "i4", "f8", "f8", "f8"))))
    assert len(ledger.round_trips) == 0 and len(ledger.position) == 0
