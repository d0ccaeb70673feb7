"""Finding strategy classes by what a user types, and configuring them from parameters."""

from __future__ import annotations

from typing import Any

from components.spec import SpecError, configured, import_class


def registered() -> dict[str, type]:
    """Built-in examples plus every other imported StrategyBase subclass, by class name."""
    import components.examples  # noqa: F401  (registers the examples)
    from components.strategy import get_registered_strategies

    return dict(get_registered_strategies())


def resolve(ref: str) -> type:
    """`package.module:Class`, `path/to/file.py:Class`, or a registered name (class or display name)."""
    from components.strategy import StrategyBase

    if ":" in ref:
        try:
            cls = import_class(ref)
        except SpecError as exc:
            raise ValueError(str(exc)) from None
    else:
        from components.strategy_classes import AmbiguousStrategyName, lookup

        known = registered()
        try:
            found = lookup(ref) or next((c for c in known.values() if getattr(c, "name", None) == ref), None)
        except AmbiguousStrategyName as exc:
            raise ValueError(str(exc)) from None
        if found is None:
            names = ", ".join(sorted(known)) or "none"
            raise ValueError(f"unknown strategy {ref!r} (registered: {names}; or give module:Class or file.py:Class)")
        cls = found
    if not (isinstance(cls, type) and issubclass(cls, StrategyBase)):
        raise ValueError(f"{ref!r} is not a StrategyBase subclass")
    return cls


def with_parameters(cls: type, values: dict[str, Any], symbols: list[str] | None = None) -> type:
    """A `_Configured` subclass whose ParamSpec defaults are the given values (validated)."""
    from components.params import ParamSpec

    specs: dict[str, ParamSpec] = dict(getattr(cls, "parameters", {}) or {})
    new = dict(specs)
    for name, raw in values.items():
        if name not in specs:
            known = ", ".join(sorted(specs)) or "none"
            raise ValueError(f"strategy {cls.__name__} has no parameter {name!r} (parameters: {known})")
        spec = specs[name]
        value = spec.validate(name, raw)
        new[name] = ParamSpec(default=value, min=spec.min, max=spec.max, step=spec.step, choices=spec.choices)
    attrs: dict[str, Any] = {}
    if values:
        attrs["parameters"] = new
    if symbols is not None:
        attrs["symbols"] = list(symbols)
    if not attrs:
        return cls
    return configured(cls, f"_Configured{cls.__name__}", **attrs)
