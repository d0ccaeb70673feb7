"""What the secmaster offers the new-run form: datasets, their symbols, bar periods and dates.

Coverage uses index seeks only (no bar counts), so a large secmaster still renders the form at
once; the result is cached until the file changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.models import BarPeriod
from components.secmaster import db as smdb


@dataclass(frozen=True)
class SymbolInfo:
    symbol: str
    first: str  # UTC date of the first bar
    last: str


@dataclass(frozen=True)
class Dataset:
    publisher: str
    dataset: str
    periods: list[str]
    symbols: list[SymbolInfo]

    @property
    def key(self) -> str:
        return f"{self.publisher}/{self.dataset}"

    @property
    def first(self) -> str:
        return min((s.first for s in self.symbols), default="")

    @property
    def last(self) -> str:
        return max((s.last for s in self.symbols), default="")

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "publisher": self.publisher, "dataset": self.dataset, "periods": self.periods,
            "first": self.first, "last": self.last,
            "symbols": [{"symbol": s.symbol, "first": s.first, "last": s.last} for s in self.symbols],
        }


@dataclass(frozen=True)
class Offer:
    datasets: list[Dataset]
    error: str | None = None

    def find(self, key: str) -> Dataset | None:
        return next((d for d in self.datasets if d.key == key), None)


def _period_name(rtype: int) -> str:
    try:
        return BarPeriod.from_rtype(rtype).name
    except ValueError:
        return f"rtype {rtype}"


def describe(path: Path) -> Offer:
    """Every publisher/dataset with per-symbol first and last bar dates."""
    try:
        conn = smdb.open_secmaster(path, readonly=True)
    except (smdb.SecmasterError, OSError) as exc:
        return Offer([], str(exc))
    try:
        out = []
        for pub in smdb.list_publishers(conn):
            cov = smdb.coverage(conn, pub.name, pub.dataset, count=False)
            spans: dict[str, tuple[int, int]] = {}
            for c in cov:
                lo, hi = spans.get(c.symbol, (c.min_ts, c.max_ts))
                spans[c.symbol] = (min(lo, c.min_ts), max(hi, c.max_ts))
            periods = sorted({_period_name(c.rtype) for c in cov if c.rtype != 36})
            symbols = [SymbolInfo(s, smdb.ns_to_date(lo), smdb.ns_to_date(hi)) for s, (lo, hi) in sorted(spans.items())]
            out.append(Dataset(pub.name, pub.dataset, periods, symbols))
        return Offer(out)
    except smdb.SecmasterError as exc:
        return Offer([], str(exc))
    finally:
        conn.close()


class SecmasterOffer:
    """`describe` cached on the file's modification time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: tuple[int, Offer] | None = None

    def get(self) -> Offer:
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return Offer([], f"secmaster database {self.path} does not exist (start with --secmaster DB)")
        if self._cache is None or self._cache[0] != mtime:
            self._cache = (mtime, describe(self.path))
        return self._cache[1]
