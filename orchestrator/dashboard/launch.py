"""Turning a new-run request into `tickbus run` settings, or into errors per form field.

Each field is checked on its own first so every mistake is reported next to its input at once;
then `build_orchestrator` validates the whole against the data exactly as `tickbus run` would
(no process is started), so the dashboard never launches a run the command line would refuse.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.dashboard.catalog import StrategyCatalog
from components.secmaster.db import NS_PER_DAY, date_to_ns
from orchestrator.dashboard.secmaster import Dataset, Offer, SymbolInfo
from orchestrator.errors import UsageError


@dataclass
class Errors:
    """`fields`: symbols, start, end, ...; `params`: strategy key -> parameter -> message."""

    fields: dict[str, str] = field(default_factory=dict)
    params: dict[str, dict[str, str]] = field(default_factory=dict)
    form: str | None = None

    def __bool__(self) -> bool:
        return bool(self.fields or self.params or self.form)

    def to_dict(self) -> dict[str, Any]:
        return {"fields": self.fields, "params": self.params, "form": self.form}


@dataclass
class Launch:
    settings: dict[str, Any]
    label: str  # the strategy ids the run will record under, for the list before the run id exists


def _param_values(entry: Any, given: dict[str, Any], period: str | None, errors: dict[str, str]) -> dict[str, Any]:
    specs = dict(getattr(entry.cls, "parameters", {}) or {})
    values: dict[str, Any] = {}
    for name, raw in given.items():
        if name not in specs:
            errors[name] = f"unknown parameter {name!r}"
            continue
        if raw is None or raw == "":
            errors[name] = "a value is required"
            continue
        try:
            value = specs[name].validate(name, raw)
        except ValueError as exc:
            errors[name] = str(exc).split(": ", 1)[-1]
            continue
        values[name] = value.name if isinstance(value, enum.Enum) else value
    bar_period = next((f for f in entry.fields if f.name == "bar_period" and f.hidden), None)
    if bar_period is not None and "bar_period" not in given and period is not None:
        values["bar_period"] = period  # as in onesecondtrader: the strategy's period is the data's
    return values


def _date(text: Any, what: str, end: bool, errors: dict[str, str]) -> str | None:
    from orchestrator.commands.run import parse_time

    if text in (None, ""):
        return None
    try:
        parse_time(str(text), end=end, what=what)
    except UsageError as exc:
        errors[what] = str(exc)
        return None
    return str(text)


def _symbol_type_and_period(payload: dict[str, Any], dataset: Dataset, errors: dict[str, str]) -> tuple[str, str | None]:
    """The chosen symbol type and bar period (a dataset with one period needs no choice)."""
    symbol_type = str(payload.get("symbol_type") or "raw_symbol")
    by_period = dataset.coverage.get(symbol_type)
    if by_period is None:
        errors["symbol_type"] = f"{dataset.key} has no {symbol_type} symbols (it has {', '.join(dataset.symbol_types) or 'none'})"
        return symbol_type, None
    wanted = str(payload.get("bar_period") or "")
    if wanted:
        if wanted not in by_period:
            errors["bar_period"] = f"no {wanted} bars of {symbol_type} symbols (there are: {', '.join(by_period)})"
            return symbol_type, None
        return symbol_type, wanted
    if len(by_period) == 1:
        return symbol_type, next(iter(by_period))
    errors["bar_period"] = f"choose a bar period ({', '.join(by_period)})"
    return symbol_type, None


def _dates_in_data(start: str | None, end: str | None, chosen: list[SymbolInfo], errors: dict[str, str]) -> None:
    """Refuse, next to the date, a range that misses the chosen symbols' data altogether."""
    from orchestrator.commands.run import parse_time

    if not chosen:
        return
    first, last = min(i.first for i in chosen), max(i.last for i in chosen)
    covers = f"the chosen symbols' bars cover {first} … {last}"
    if start and parse_time(start, end=False, what="start") > date_to_ns(last) + NS_PER_DAY - 1:
        errors["start"] = f"after the last bar: {covers}"
    if end and parse_time(end, end=True, what="end") < date_to_ns(first):
        errors["end"] = f"before the first bar: {covers}"


def check(payload: dict[str, Any], catalog: StrategyCatalog, offer: Offer, secmaster: Path, runs_db: Path) -> tuple[Launch | None, Errors]:
    """Validate a request; a Launch only when there is no error at all."""
    from orchestrator.commands.run import build_orchestrator, parse_time

    errors = Errors()
    entries = {e.key: e for e in catalog.scan()[0]}

    dataset = offer.find(str(payload.get("dataset") or "")) if offer.datasets else None
    if offer.error:
        errors.fields["dataset"] = offer.error
    elif dataset is None:
        if len(offer.datasets) == 1 and not payload.get("dataset"):
            dataset = offer.datasets[0]
        else:
            errors.fields["dataset"] = "choose a dataset"
    symbol_type, period = _symbol_type_and_period(payload, dataset, errors.fields) if dataset is not None else ("raw_symbol", None)

    chosen = payload.get("strategies")
    strategies: list[tuple[str, dict[str, Any]]] = []
    if not isinstance(chosen, list) or not chosen:
        errors.fields["strategies"] = "choose at least one strategy"
        chosen = []
    for item in chosen:
        key = str(item.get("key", "")) if isinstance(item, dict) else ""
        entry = entries.get(key)
        if entry is None:
            errors.fields["strategies"] = f"unknown strategy {key!r}"
            continue
        given = item.get("params") or {}
        if not isinstance(given, dict):
            errors.fields["strategies"] = "params must be an object"
            continue
        param_errors: dict[str, str] = {}
        values = _param_values(entry, given, period, param_errors)
        if param_errors:
            errors.params[key] = param_errors
        strategies.append((key, values))

    symbols = payload.get("symbols")
    available = dataset.symbols(symbol_type, period) if dataset is not None else []
    if not isinstance(symbols, list) or not symbols:
        errors.fields["symbols"] = "choose at least one symbol"
        symbols = []
    elif dataset is not None and not errors.fields.get("symbol_type") and not errors.fields.get("bar_period"):
        known = {s.symbol for s in available}
        unknown = [str(s) for s in symbols if s not in known]
        if unknown:
            errors.fields["symbols"] = f"not in {dataset.key} ({symbol_type}{', ' + period if period else ''}): {', '.join(unknown)}"

    start = _date(payload.get("start"), "start", False, errors.fields)
    end = _date(payload.get("end"), "end", True, errors.fields)
    if start and end and parse_time(start, end=False, what="start") > parse_time(end, end=True, what="end"):
        errors.fields["end"] = "the end is before the start"
    _dates_in_data(start, end, [s for s in available if s.symbol in symbols], errors.fields)

    commission: float | None = None
    raw_commission = payload.get("commission_per_unit")
    if raw_commission not in (None, ""):
        try:
            commission = float(raw_commission)
            if not math.isfinite(commission) or commission < 0:
                raise ValueError
        except (TypeError, ValueError):
            errors.fields["commission_per_unit"] = "a number of 0 or more"
    if errors:
        return None, errors

    assert dataset is not None
    settings: dict[str, Any] = {
        "secmaster": str(secmaster.resolve()), "runs_db": str(runs_db.resolve()),
        "publisher": dataset.publisher, "dataset": dataset.dataset, "symbol_type": symbol_type, "bar_period": period,
        "strategies": strategies, "symbols": [str(s) for s in symbols],
        "start": start, "end": end, "commission_per_unit": commission, "in_process": False,
    }
    try:
        orch = build_orchestrator(settings)  # the data-dependent checks `tickbus run` makes; starts nothing
    except UsageError as exc:
        errors.form = str(exc).removeprefix(f"{secmaster.resolve()}: ")
        return None, errors
    return Launch(settings, ", ".join(orch.strategy_ids)), errors
