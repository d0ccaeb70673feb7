"""What the secmaster offers the new-run form: datasets, their symbol types (raw_symbol,
continuous, ...), bar periods, symbols and dates.

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
    publisher_id: int
    coverage: dict[str, dict[str, list[SymbolInfo]]]  # symbol type -> bar period -> symbols

    @property
    def key(self) -> str:
        return f"{self.publisher}/{self.dataset}"

    @property
    def symbol_types(self) -> list[str]:
        """raw_symbol first (the default), then the others by name."""
        return sorted(self.coverage, key=lambda t: (t != "raw_symbol", t))

    @property
    def periods(self) -> list[str]:
        return sorted({p for by_period in self.coverage.values() for p in by_period}, key=_period_order)

    def symbols(self, symbol_type: str | None = None, period: str | None = None) -> list[SymbolInfo]:
        """Symbols with bars (of one type and period, or of any), each with its first and last date."""
        spans: dict[str, tuple[str, str]] = {}
        for t, by_period in self.coverage.items():
            for p, infos in by_period.items():
                if (symbol_type is None or t == symbol_type) and (period is None or p == period):
                    for i in infos:
                        lo, hi = spans.get(i.symbol, (i.first, i.last))
                        spans[i.symbol] = (min(lo, i.first), max(hi, i.last))
        return [SymbolInfo(s, lo, hi) for s, (lo, hi) in sorted(spans.items())]

    @property
    def first(self) -> str:
        return min((s.first for s in self.symbols()), default="")

    @property
    def last(self) -> str:
        return max((s.last for s in self.symbols()), default="")

    def to_dict(self) -> dict[str, Any]:
        def infos(items: list[SymbolInfo]) -> list[dict[str, str]]:
            return [{"symbol": i.symbol, "first": i.first, "last": i.last} for i in items]

        return {
            "key": self.key, "publisher": self.publisher, "dataset": self.dataset, "publisher_id": self.publisher_id,
            "periods": self.periods, "symbol_types": self.symbol_types, "first": self.first, "last": self.last,
            "symbols": infos(self.symbols()),
            "coverage": {t: {p: infos(self.coverage[t][p]) for p in sorted(self.coverage[t], key=_period_order)}
                         for t in self.symbol_types},
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


def _period_order(name: str) -> int:
    return BarPeriod[name].rtype if name in BarPeriod.__members__ else 99


def describe(path: Path) -> Offer:
    """Every publisher/dataset, per symbol type and bar period its symbols' first and last dates."""
    try:
        conn = smdb.open_secmaster(path, readonly=True)
    except (smdb.SecmasterError, OSError) as exc:
        return Offer([], str(exc))
    try:
        out = []
        for pub in smdb.list_publishers(conn):
            coverage: dict[str, dict[str, list[SymbolInfo]]] = {}
            for symbol_type in smdb.list_symbol_types(conn, pub.publisher_id):
                for c in smdb.coverage(conn, pub.name, pub.dataset, symbol_type, count=False):
                    if c.rtype == 36:
                        continue
                    infos = coverage.setdefault(symbol_type, {}).setdefault(_period_name(c.rtype), [])
                    infos.append(SymbolInfo(c.symbol, smdb.ns_to_date(c.min_ts), smdb.ns_to_date(c.max_ts)))
            out.append(Dataset(pub.name, pub.dataset, pub.publisher_id, coverage))
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
