"""Number formats shared by the text and HTML outputs, so both show the same figures."""

from __future__ import annotations

import math


def money(x: float | None) -> str:
    """Two decimals with thousands separators; '-0.00' is shown as '0.00'."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    text = f"{x:,.2f}"
    return "0.00" if text == "-0.00" else text


def price(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:,.4f}".rstrip("0").rstrip(".") if abs(x) < 1e6 else f"{x:,.2f}"


def qty(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.6g}"


def pct(x: float | None) -> str:
    """A fraction as a percentage (0.0512 -> '5.12 %')."""
    return "—" if x is None else f"{x * 100:,.2f} %"


def ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:,.2f}"


def count(x: int | None) -> str:
    return "—" if x is None else f"{x:,}"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
