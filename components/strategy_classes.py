"""What happens when a strategy class is defined: its parameters are gathered and it is registered;
and the name it goes by.

The registry maps class name -> class for every public strategy class (no leading underscore, not
made by `configured()`), so a user can name a strategy by its class (`--strategy SMACrossover`).
Defining a class again from the same file (a reload, as the dashboard does for a strategy
directory) replaces it. The same name from another file makes the name ambiguous: looking it up
is an error naming both files (`lookup`), while each class still loads and runs when named by
its file (`path/file.py:Class`), so one file cannot break another that happens to share a name.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from components.params import ParamSpec
from components.spec import CONFIGURED_MARK, own_class

if TYPE_CHECKING:
    from components.strategy import StrategyBase

_registry: dict[str, type[StrategyBase]] = {}
_ambiguous: dict[str, list[str]] = {}  # class name -> the files defining a class of that name


class AmbiguousStrategyName(LookupError):
    """Two strategy classes of the same name, from different files."""


def get_registered_strategies() -> dict[str, type[StrategyBase]]:
    """A copy of the registry: class name -> class, for every public subclass defined so far
    whose name no other file uses too."""
    return {name: cls for name, cls in _registry.items() if name not in _ambiguous}


def lookup(name: str) -> type[StrategyBase] | None:
    """The strategy class of that name (None if there is none); AmbiguousStrategyName naming
    the files when several files define one."""
    files = _ambiguous.get(name)
    if files:
        raise AmbiguousStrategyName(f"two strategies are named {name!r}: in {' and in '.join(files)}; "
                                    f"name one by its file (FILE.py:{name}) or rename one")
    return _registry.get(name)


def display_name(cls: type) -> str:
    """A strategy's name for people (run names, ids): its `name`, else the name of its own class
    (never that of a class `configured()` made for it)."""
    return getattr(cls, "name", "") or own_class(cls).__name__


def _source_of(cls: type) -> str:
    module = sys.modules.get(cls.__module__)
    file = getattr(module, "__file__", None)
    return str(Path(file).resolve()) if file else f"module {cls.__module__}"


def register(cls: type[StrategyBase]) -> None:
    if cls.__name__.startswith("_") or vars(cls).get(CONFIGURED_MARK):
        return
    known = _registry.get(cls.__name__)
    if known is not None and known is not cls and _source_of(known) != _source_of(cls):
        files = _ambiguous.setdefault(cls.__name__, [_source_of(known)])
        if _source_of(cls) not in files:
            files.append(_source_of(cls))
        return
    _registry[cls.__name__] = cls


def gather_parameters(cls: type[StrategyBase]) -> None:
    """Class-attribute ParamSpecs join the class's `parameters` dict (its own, else the inherited
    one), after the dict's entries."""
    declared = {name: value for name, value in vars(cls).items() if isinstance(value, ParamSpec)}
    if declared:
        own = vars(cls).get("parameters", cls.parameters)
        cls.parameters = {**own, **declared}
