"""Rebuildable descriptions of configured component classes.

Components are configured by subclassing with new class attributes (`configured()`, or `type()`
by hand). A class made at run time cannot be imported by name in a child process,
so the parent sends a *spec*: where the nearest importable base class lives, plus the overriding
class attributes as JSON-able values. The child imports the base and rebuilds the subclass.
"""

from __future__ import annotations

import enum
import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any

USER_MODULE_PREFIX = "tickbus_user_"
#: Set in the namespace of every class `configured()` makes: such a class is the configuration of
#: its base, not a class of its own (`own_class`).
CONFIGURED_MARK = "__tickbus_configured__"


class SpecError(ValueError):
    """A class that cannot be described or rebuilt; the message names it and why."""


# --- loading classes ---------------------------------------------------------------------------


def load_file_module(path: str | Path) -> Any:
    """Import a user's .py file under a stable module name derived from its absolute path."""
    p = Path(path).resolve()
    if not p.is_file():
        raise SpecError(f"{path}: no such file")
    digest = hashlib.sha1(str(p).encode()).hexdigest()[:10]
    name = f"{USER_MODULE_PREFIX}{p.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise SpecError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise SpecError(f"{path}: import failed: {type(exc).__name__}: {exc}") from exc
    return module


def import_class(ref: str) -> type:
    """`package.module:Class` or `path/to/file.py:Class`."""
    if ":" not in ref:
        raise SpecError(f"{ref!r}: expected 'package.module:Class' or 'path/to/file.py:Class'")
    where, _, qualname = ref.rpartition(":")
    if where.endswith(".py") or "/" in where or "\\" in where:
        module = load_file_module(where)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise SpecError(f"{ref!r}: cannot import module {where!r}: {exc}") from exc
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise SpecError(f"{ref!r}: module {where!r} has no {qualname!r}")
    if not inspect.isclass(obj):
        raise SpecError(f"{ref!r}: {qualname!r} is not a class")
    return obj


def class_ref(cls: type) -> str | None:
    """An importable reference to `cls` itself, or None when it cannot be imported by name."""
    module = sys.modules.get(cls.__module__)
    if module is None or "<locals>" in cls.__qualname__:
        return None
    obj: Any = module
    for part in cls.__qualname__.split("."):
        obj = getattr(obj, part, None)
    if obj is not cls:
        return None
    if cls.__module__.startswith(USER_MODULE_PREFIX):
        return f"{module.__file__}:{cls.__qualname__}"
    return f"{cls.__module__}:{cls.__qualname__}"


# --- values ------------------------------------------------------------------------------------


def encode_value(value: Any, where: str) -> Any:
    """JSON-able form of a class attribute value (enums and ParamSpecs tagged)."""
    from components.params import ParamSpec

    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, enum.Enum):
        ref = class_ref(type(value))
        if ref is None:
            raise SpecError(f"{where}: enum {type(value).__name__} is not importable")
        return {"__enum__": ref, "name": value.name}
    if isinstance(value, ParamSpec):
        return {
            "__param__": {
                k: encode_value(getattr(value, k), f"{where}.{k}") for k in ("default", "min", "max", "step", "choices")
            }
        }
    if isinstance(value, (list, tuple)):
        return [encode_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise SpecError(f"{where}: dict keys must be strings")
        return {"__dict__": {k: encode_value(v, f"{where}.{k}") for k, v in value.items()}}
    raise SpecError(f"{where}: a {type(value).__name__} cannot be sent to a child process")


def decode_value(value: Any) -> Any:
    from components.params import ParamSpec

    if isinstance(value, list):
        return [decode_value(v) for v in value]
    if isinstance(value, dict):
        if "__enum__" in value:
            enum_cls: Any = import_class(value["__enum__"])
            return enum_cls[value["name"]]
        if "__param__" in value:
            return ParamSpec(**{k: decode_value(v) for k, v in value["__param__"].items()})
        if "__dict__" in value:
            return {k: decode_value(v) for k, v in value["__dict__"].items()}
        raise SpecError(f"unknown encoded value {value!r}")
    return value


# --- class specs -------------------------------------------------------------------------------


def _is_config(name: str, value: Any) -> bool:
    if name.startswith("_"):  # dunders, ABC caches and private state are not configuration
        return False
    return not (inspect.isfunction(value) or isinstance(value, (staticmethod, classmethod, property)))


def class_spec(cls: type) -> dict[str, Any]:
    """{"base": importable ref, "name": class name, "attrs": overriding class attributes}."""
    chain = []
    for klass in cls.__mro__:
        ref = class_ref(klass)
        if ref is not None:
            break
        chain.append(klass)
    else:  # pragma: no cover - object is always importable
        raise SpecError(f"{cls.__name__}: no importable base class")
    attrs: dict[str, Any] = {}
    for klass in reversed(chain):
        for name, value in vars(klass).items():
            if not _is_config(name, value):
                if inspect.isfunction(value):
                    raise SpecError(
                        f"{cls.__name__}: defines method {name!r} but is not importable by name; "
                        "define it at the top level of a module or .py file"
                    )
                continue
            attrs[name] = encode_value(value, f"{cls.__name__}.{name}")
    return {"base": ref, "name": cls.__name__, "attrs": attrs}


def build_class(spec: dict[str, Any]) -> type:
    """Rebuild the configured class a spec describes."""
    base = import_class(spec["base"])
    attrs = {k: decode_value(v) for k, v in spec.get("attrs", {}).items()}
    if not attrs and spec.get("name", base.__name__) == base.__name__:
        return base
    return configured(base, spec.get("name"), **attrs)


def configured(base: type, name: str | None = None, **attrs: Any) -> type:
    """A configured subclass, named with a leading underscore so registries skip it."""
    return type(name or f"_Configured{base.__name__}", (base,), {**attrs, CONFIGURED_MARK: True})


def own_class(cls: type) -> type:
    """The class a configured class configures (itself when it is none): what a user wrote."""
    while vars(cls).get(CONFIGURED_MARK) and cls.__base__ is not None:
        cls = cls.__base__
    return cls
