"""Fast constructors for the frozen, slotted event dataclasses.

A frozen dataclass's `__init__` sets each field through `object.__setattr__`, which costs as much as
the rest of building an event: the datafeed builds one per bar, every strategy one per handled bar
(`BarProcessed`) and the codec one per decoded record. `compile_builder` writes, once per use, a
function that creates the object with `object.__new__` and stores each field through its slot
descriptor: an object equal to the keyword constructor's, about twice as fast.

The one check of when that is allowed lives here: the class must have exactly the given fields,
each a plain slot, and no `__post_init__`. A class of another shape gets a builder with the same
signature that calls the keyword constructor instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True)
class FieldSource:
    """Where a field's value comes from: `lines` run first (they may bind names or return early),
    then `expr` is the value (a Python expression over the builder's parameters)."""

    expr: str
    lines: tuple[str, ...] = ()


def _slot_setters(cls: type, names: Sequence[str]) -> list[Callable[[Any, Any], None]] | None:
    """The slot descriptors' setters of `names`, or None when `cls` is not of the fast shape."""
    if hasattr(cls, "__post_init__"):
        return None
    setters = []
    for name in names:
        desc = next((k.__dict__[name] for k in cls.__mro__ if name in k.__dict__), None)
        if desc is None or type(desc).__name__ != "member_descriptor":
            return None
        setters.append(desc.__set__)
    return setters


def compile_builder(
    cls: type,
    params: Sequence[str],
    fields: Mapping[str, str | FieldSource],
    *,
    env: Mapping[str, Any] | None = None,
    prologue: Sequence[str] = (),
) -> Callable[..., Any]:
    """`build(*params)`: a `cls` whose fields are `fields` (name -> expression or FieldSource).

    `fields` names every dataclass field of `cls`, each exactly once (TypeError otherwise: that is a
    mistake in the caller, not in the data). `env` holds the names the expressions use;
    `prologue` runs before any field is computed (it may return early, e.g. to refuse a record).
    """
    declared = [f.name for f in dataclasses.fields(cls)]
    if sorted(declared) != sorted(fields):
        raise TypeError(f"a builder of {cls.__name__} must set exactly its fields {declared}, not {sorted(fields)}")
    names = list(fields)
    scope: dict[str, Any] = dict(env or {})
    scope.update(new=object.__new__, cls=cls)
    setters = _slot_setters(cls, names)
    lines = [f"def build({', '.join(params)}):", *(f"    {line}" for line in prologue)]
    if setters is not None:  # each field stored as soon as it is computed
        lines.append("    o = new(cls)")
    values: list[str] = []  # for the constructor: each field's expression, or the local holding it
    for i, name in enumerate(names):
        source = fields[name]
        if isinstance(source, str):
            source = FieldSource(source)
        lines.extend(f"    {line}" for line in source.lines)
        if setters is not None:
            scope[f"set{i}"] = setters[i]
            lines.append(f"    set{i}(o, {source.expr})")
        elif source.lines:
            lines.append(f"    f{i} = {source.expr}")
            values.append(f"f{i}")
        else:
            values.append(source.expr)
    if setters is None:
        lines.append("    return cls(" + ", ".join(f"{name}={value}" for name, value in zip(names, values)) + ")")
    else:
        lines.append("    return o")
    exec(compile("\n".join(lines), f"<build {cls.__name__}>", "exec"), scope)
    build: Callable[..., Any] = scope["build"]
    return build
