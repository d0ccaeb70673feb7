"""Exact rolling window sums: two moving averages that are equal in decimals are the same float.

Where the exact path applies: a secmaster price is an integer P in units of 1e-9, and the datafeed
hands strategies the float x = P / 1e9 (one correctly rounded division). `fixed_point(x)` gets P
back: round(x * 1e9), or the integer next to it, whichever divides back to x. For every price with
at most 9 decimals and |x| < 2**23 (8,388,608) that is exactly the integer the datafeed divided:
  - x * 1e9 is within 0.47 of P (x is within half a double spacing, at most 2**-31, of P / 1e9)
    and rounding that product moves it at most 0.5 more (it is below 2**53), so P is round(x * 1e9)
    or one of its neighbours (below 2**22 the product is within 0.49 of P: round() alone is P);
  - no other integer divides back to x there: P / 1e9 values are 1e-9 apart, more than the double
    spacing (at most 2**-30), so two of them never round to the same double.
Any float with at most 9 decimals in that range (a price parsed from text, say) is read as that
decimal the same way. A window keeps the sum of these integers exactly (and of their squares, for
a variance), rolled forward by one addition and one subtraction per bar: nothing drifts and
nothing is ever resynced. A mean is the exact quotient rounded once (Python's int / int true
division rounds correctly), so it does not depend on the order of any summation, and two windows
with equal decimal means give the same float; rounding is monotonic, so unequal means never swap
order. A variance is the exact one to within an ulp or two.

Outside the exact path: a finite float with no such P (a computed value, or one of 2**23 and more
that does not divide back) enters a second exact sum as its own binary value (every finite double
is an integer multiple of 2**-1074), so the mean is still the correctly rounded mean of the values,
only slower. A NaN or inf in the window makes the result what the plain float formulas give.
"""

from __future__ import annotations

import math
from collections import deque

UNITS = 10**9  # secmaster fixed point: integer units per 1.0
_SCALE = 1e9  # the datafeed's divisor, as a float
_BINARY_BITS = 1074  # every finite double is an integer multiple of 2**-1074
_BINARY_PER_UNITS = UNITS << _BINARY_BITS  # a sum in 1e-9 units and one in 2**-1074 units, together


def fixed_point(value: float) -> int | None:
    """The integer P (units of 1e-9) with P / 1e9 == value, or None if there is none (module doc)."""
    try:
        units = round(value * _SCALE)
    except (OverflowError, ValueError):  # inf, NaN, or too large to scale
        return None
    if units / UNITS == value:
        return units
    for near in (units - 1, units + 1):  # 2**22 <= |value| < 2**23: the product may round one off
        if near / UNITS == value:
            return near
    return None


def binary_units(value: float) -> int:
    """A finite float as an exact integer multiple of 2**-1074."""
    numerator, denominator = value.as_integer_ratio()  # the denominator is a power of two
    return numerator << (_BINARY_BITS + 1 - denominator.bit_length())


class ExactWindow:
    """The last `size` values of one series with their sum kept exact (and, with `squares`, the sum
    of their squares); see the module docstring.

    `values` holds each value's fixed-point integer, or the float itself when it has none.
    `ready` is true while the window is full and every value in it is fixed-point: then the mean is
    `units / divisor`, and the next value can be rolled in by hand (see SimpleMovingAverage).
    """

    __slots__ = ("size", "divisor", "divisor_squared", "squares", "values", "units", "squared", "binary",
                 "binary_squared", "others", "nonfinite", "ready")

    def __init__(self, size: int, squares: bool = False) -> None:
        self.size: int = size
        self.divisor: int = size * UNITS  # the mean of a `ready` window is units / divisor
        self.divisor_squared: float = float(self.divisor) ** 2
        self.squares: bool = squares
        self.values: deque[int | float] = deque(maxlen=size)
        self.units: int = 0  # sum of the fixed-point values, in 1e-9
        self.squared: int = 0  # sum of their squares, in 1e-18 (with `squares`)
        self.binary: int = 0  # sum of the other finite values, in 2**-1074
        self.binary_squared: int = 0  # sum of their squares, in 2**-2148 (with `squares`)
        self.others: int = 0  # values that are not fixed-point (finite or not)
        self.nonfinite: int = 0  # of which NaN or inf
        self.ready: bool = False

    def push(self, value: float) -> None:
        """Append `value`, dropping the oldest value once the window is full."""
        values = self.values
        if self.ready:  # the steady state, inlined: `fixed_point`'s first guess, one value out
            try:
                units = round(value * 1e9)
                exact = units / 1_000_000_000 == value
            except (OverflowError, ValueError):  # inf, NaN
                exact = False
            if exact:
                old: int = values[0]  # type: ignore[assignment]  # ready: every entry is an int
                values.append(units)
                self.units += units - old
                if self.squares:
                    self.squared += units * units - old * old
                return
        if len(values) == self.size:
            self._drop(values[0])
        fixed = fixed_point(value)
        if fixed is not None:
            values.append(fixed)
            self.units += fixed
            if self.squares:
                self.squared += fixed * fixed
        else:
            value = float(value)  # not an int, so never taken for a fixed-point entry
            values.append(value)
            self.others += 1
            if value - value != 0.0:
                self.nonfinite += 1
            else:
                b = binary_units(value)
                self.binary += b
                if self.squares:
                    self.binary_squared += b * b
        self.ready = not self.others and len(values) == self.size

    def _drop(self, old: int | float) -> None:
        if type(old) is int:
            self.units -= old
            if self.squares:
                self.squared -= old * old
            return
        self.others -= 1
        if old - old != 0.0:
            self.nonfinite -= 1
        else:
            b = binary_units(old)
            self.binary -= b
            if self.squares:
                self.binary_squared -= b * b

    @property
    def full(self) -> bool:
        return len(self.values) == self.size

    def exact_sum(self) -> tuple[int, int]:
        """(numerator, denominator) of the exact sum of the finite values."""
        if not self.others:
            return self.units, UNITS
        return (self.units << _BINARY_BITS) + self.binary * UNITS, _BINARY_PER_UNITS

    def mean(self) -> float:
        """The mean of the full window, correctly rounded (NaN/inf: as sum(values) / size)."""
        if not self.others:
            return self.units / self.divisor
        if self.nonfinite:  # the finite values cannot change a NaN or an inf
            return sum(v for v in self.values if type(v) is float and v - v != 0.0) / self.size
        total, denominator = self.exact_sum()
        return total / (denominator * self.size)

    def mean_variance(self) -> tuple[float, float]:
        """The mean (correctly rounded) and the population variance (to an ulp or two; NaN while a
        NaN or inf is in the window) of the full window.

        The variance is n * sum(x^2) - sum(x)^2 over n^2, in exact integers: no cancellation,
        however high the level.
        """
        if not self.others:
            units = self.units
            # float / float: the integer quotient rounds correctly but costs 3x more, and the
            # variance only feeds a square root (within an ulp either way)
            return units / self.divisor, float(self.size * self.squared - units * units) / self.divisor_squared
        if self.nonfinite:
            return self.mean(), math.nan
        n = self.size
        total, denominator = self.exact_sum()
        squared = (self.squared << (2 * _BINARY_BITS)) + self.binary_squared * (UNITS * UNITS)
        divisor = denominator * n
        return total / divisor, (n * squared - total * total) / (divisor * divisor)
