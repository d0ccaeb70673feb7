"""The strategies the dashboard offers, and the form fields their ParamSpecs generate.

Built-ins come from the strategy registry; user strategies from the `*.py` files of one folder,
re-imported when a file changes so an edit shows up without restarting the dashboard. A file
that fails to import is listed with its error instead of being skipped, because a strategy that
silently vanishes from the list is harder to debug than one that says why it is missing.
"""

from __future__ import annotations

import enum
import inspect
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.models import BarPeriod
from components.params import ParamSpec
from components.spec import USER_MODULE_PREFIX, SpecError, class_ref, load_file_module


@dataclass(frozen=True)
class ParamField:
    """One form input: `kind` is int, float, bool, select or text."""

    name: str
    kind: str
    default: Any
    min: float | None = None
    max: float | None = None
    step: float | str | None = None  # "any": free decimals
    choices: list[dict[str, str]] | None = None
    hidden: bool = False  # bar_period: set from the data, as onesecondtrader does

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("name", "kind", "default", "min", "max", "step", "choices", "hidden")}


@dataclass(frozen=True)
class StrategyEntry:
    key: str  # what the orchestrator resolves: package.module:Class or /abs/file.py:Class
    class_name: str
    name: str
    source: str  # "built-in" or the file
    doc: str
    fields: list[ParamField]
    cls: type = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "class": self.class_name, "name": self.name, "source": self.source,
            "doc": self.doc, "params": [f.to_dict() for f in self.fields],
        }


@dataclass(frozen=True)
class LoadProblem:
    file: str
    error: str


#: Words a parameter name may contain that read as acronyms (`rsi_period` -> "RSI period").
ACRONYMS = frozenset({"adx", "atr", "bb", "di", "ema", "macd", "pnl", "psar", "roc", "rsi", "sma", "vwap"})


def label(name: str) -> str:
    """A parameter's name as a form label: `fast_period` -> "Fast period", `atr_stop` -> "ATR stop"."""
    words = [w.upper() if w.lower() in ACRONYMS else w for w in str(name).split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _json_value(value: Any) -> Any:
    return value.name if isinstance(value, enum.Enum) else value


def param_field(name: str, spec: ParamSpec) -> ParamField:
    """The input a ParamSpec asks for: choices and enums are selects, numbers keep their bounds."""
    default = spec.default
    choices = spec.resolved_choices
    if choices is not None:
        options = [{"value": str(_json_value(c)), "label": str(_json_value(c))} for c in choices]
        hidden = name == "bar_period" and isinstance(default, BarPeriod)
        return ParamField(name, "select", str(_json_value(default)), choices=options, hidden=hidden)
    if isinstance(default, bool):
        return ParamField(name, "bool", default)
    if isinstance(default, int):
        return ParamField(name, "int", default, spec.min, spec.max, spec.step if spec.step is not None else 1)
    if isinstance(default, float):
        return ParamField(name, "float", default, spec.min, spec.max, spec.step if spec.step is not None else "any")
    return ParamField(name, "text", "" if default is None else str(default))


def _entry(cls: type, key: str, source: str) -> StrategyEntry:
    specs: dict[str, ParamSpec] = dict(getattr(cls, "parameters", {}) or {})
    doc = inspect.cleandoc(cls.__dict__.get("__doc__") or "").split("\n\n")[0].replace("\n", " ")  # its own, not a base class's
    return StrategyEntry(
        key, cls.__name__, getattr(cls, "name", "") or cls.__name__, source, doc,
        [param_field(n, s) for n, s in specs.items()], cls,
    )


class StrategyCatalog:
    """Built-ins plus the strategies of `directory`; `scan()` is cheap when nothing changed."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._files: dict[Path, tuple[int, Any]] = {}  # path -> (mtime_ns, module or error text)
        self._lock = threading.Lock()  # scans come from pool threads; imports must not interleave

    def _load(self, path: Path) -> Any:
        mtime = path.stat().st_mtime_ns
        cached = self._files.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        if cached is not None and not isinstance(cached[1], str):
            sys.modules.pop(cached[1].__name__, None)  # changed: import the new text
        try:
            loaded: Any = load_file_module(path)
        except SpecError as exc:
            loaded = str(exc).removeprefix(f"{path}: ")  # the problem is listed under its file already
        except BaseException as exc:  # noqa: BLE001 - a user file may even call sys.exit()
            loaded = f"import failed: {type(exc).__name__}: {exc}"
        self._files[path] = (mtime, loaded)
        return loaded

    def scan(self) -> tuple[list[StrategyEntry], list[LoadProblem]]:
        with self._lock:
            return self._scan()

    def _scan(self) -> tuple[list[StrategyEntry], list[LoadProblem]]:
        from components.strategy import StrategyBase
        from orchestrator.strategies import registered

        entries: list[StrategyEntry] = []
        for cls in registered().values():
            if cls.__module__.startswith(USER_MODULE_PREFIX):
                continue  # listed below with its file, if the file is still there
            ref = class_ref(cls)
            if ref is not None:
                entries.append(_entry(cls, ref, "built-in" if cls.__module__.startswith("components.") else cls.__module__))
        entries.sort(key=lambda e: e.name.lower())
        problems: list[LoadProblem] = []
        if self.directory is None:
            return entries, problems
        if not self.directory.is_dir():
            return entries, [LoadProblem(str(self.directory), "strategies folder does not exist")]
        for path in sorted(self.directory.glob("*.py")):
            if path.name.startswith("_"):
                continue
            module = self._load(path.resolve())
            if isinstance(module, str):
                problems.append(LoadProblem(str(path), module))
                continue
            found = [
                obj for obj in vars(module).values()
                if inspect.isclass(obj) and issubclass(obj, StrategyBase) and obj.__module__ == module.__name__
                and not obj.__name__.startswith("_")
            ]
            if not found:
                problems.append(LoadProblem(str(path), "defines no StrategyBase subclass"))
            for cls in found:
                entries.append(_entry(cls, f"{path.resolve()}:{cls.__qualname__}", str(path)))
        return entries, problems

    def get(self, key: str) -> StrategyEntry | None:
        return next((e for e in self.scan()[0] if e.key == key), None)
