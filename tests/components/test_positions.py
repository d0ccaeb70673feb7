"""Position accounting: adds, partial reductions, flat, reversals in one fill, commissions."""

from __future__ import annotations

import pytest

from components.models import TradeSide
from components.positions import PositionBook

BUY, SELL = TradeSide.BUY, TradeSide.SELL


def test_open_add_reduce_flat_long() -> None:
    book = PositionBook()
    book.apply_fill("A", BUY, 2.0, 100.0)
    assert book.position("A") == 2.0 and book.avg_price("A") == 100.0
    book.apply_fill("A", BUY, 1.0, 103.0)  # add: weighted average
    assert book.position("A") == 3.0 and book.avg_price("A") == pytest.approx(101.0)
    book.apply_fill("A", SELL, 1.0, 105.0)  # partial reduction: average kept
    assert book.position("A") == 2.0 and book.avg_price("A") == pytest.approx(101.0)
    assert book.realized_pnl("A") == pytest.approx(4.0)
    book.apply_fill("A", SELL, 2.0, 99.0)  # flat
    assert book.position("A") == 0.0 and book.avg_price("A") == 0.0
    assert book.realized_pnl("A") == pytest.approx(4.0 - 4.0)


def test_short_side_pnl_signs() -> None:
    book = PositionBook()
    book.apply_fill("A", SELL, 3.0, 50.0)
    assert book.position("A") == -3.0 and book.avg_price("A") == 50.0
    book.apply_fill("A", SELL, 1.0, 54.0)
    assert book.avg_price("A") == pytest.approx(51.0)
    assert book.unrealized_pnl("A", price=49.0) == pytest.approx(-4.0 * (49.0 - 51.0))
    book.apply_fill("A", BUY, 2.0, 48.0)  # cover part at a profit
    assert book.position("A") == -2.0 and book.avg_price("A") == pytest.approx(51.0)
    assert book.realized_pnl("A") == pytest.approx(6.0)


def test_long_to_short_reversal_in_one_fill() -> None:
    book = PositionBook()
    book.apply_fill("A", BUY, 2.0, 100.0, commission=1.0)
    book.apply_fill("A", SELL, 5.0, 110.0, commission=2.5)
    assert book.position("A") == -3.0
    assert book.avg_price("A") == 110.0  # the new side opens at the fill price
    assert book.realized_pnl("A") == pytest.approx(20.0)  # only the 2 closed
    assert book.commissions("A") == pytest.approx(3.5)
    book.mark("A", 112.0)
    assert book.unrealized_pnl("A") == pytest.approx(-6.0)
    assert book.net_pnl("A") == pytest.approx(20.0 - 6.0 - 3.5)
    # and back: short 3 -> buy 4 -> long 1 at 105
    book.apply_fill("A", BUY, 4.0, 105.0)
    assert book.position("A") == 1.0 and book.avg_price("A") == 105.0
    assert book.realized_pnl("A") == pytest.approx(20.0 + 15.0)


def test_float_dust_counts_as_flat() -> None:
    book = PositionBook()
    book.apply_fill("A", BUY, 0.1, 10.0)
    book.apply_fill("A", BUY, 0.2, 10.0)
    book.apply_fill("A", SELL, 0.3, 11.0)
    assert book.position("A") == 0.0 and book.avg_price("A") == 0.0
    assert book.realized_pnl("A") == pytest.approx(0.3)


def test_totals_across_symbols_and_unknown_symbols() -> None:
    book = PositionBook()
    book.apply_fill("A", BUY, 1.0, 10.0, commission=0.1)
    book.apply_fill("A", SELL, 1.0, 12.0, commission=0.1)
    book.apply_fill("B", SELL, 2.0, 20.0, commission=0.2)
    book.mark("B", 19.0)
    assert book.realized_pnl() == pytest.approx(2.0)
    assert book.unrealized_pnl() == pytest.approx(2.0)
    assert book.commissions() == pytest.approx(0.4)
    assert book.net_pnl() == pytest.approx(3.6)
    assert book.position("Z") == 0.0 and book.avg_price("Z") == 0.0 and book.realized_pnl("Z") == 0.0
    assert book.unrealized_pnl("Z") == 0.0 and book.commissions("Z") == 0.0


def test_unrealized_before_any_mark_is_at_the_fill_price() -> None:
    book = PositionBook()
    book.apply_fill("A", BUY, 1.0, 10.0)
    assert book.unrealized_pnl("A") == 0.0
    with pytest.raises(ValueError):
        book.unrealized_pnl(price=3.0)
