"""Strategy parameter declarations (`ParamSpec`) and their validation.

A strategy declares a parameter as a class attribute, `fast_period = ParamSpec(default=20, min=5,
max=100)`, or in its `parameters` dict (`parameters = {"fast_period": ParamSpec(...)}`); either way
`self.fast_period` is the run's value. As a class attribute the spec is typed: `ParamSpec(default=20)`
is a `ParamSpec[int]`, so a type checker knows `self.fast_period` is an int (and flags a misspelt
name); a parameter declared in the dict only can be annotated (`fast_period: int`) for the same.

The default's type is the parameter's type: values typed on a command line arrive as strings and are
coerced to it by `validate`, which also enforces `min`, `max` and `choices`, so a bad value fails
the run before any process starts, with a message naming the parameter.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")

_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})


@dataclass(frozen=True)
class ParamSpec(Generic[T]):
    """One tunable: its default (which fixes its type), optional bounds, UI step and choices.

    `step` is a hint for user interfaces only; it is not enforced. As a class attribute of a
    strategy it reads, on an instance, as the parameter's value (the strategy stores the run's value
    on the instance; before that, the default) and, on the class, as the spec itself.
    """

    default: T
    min: float | None = None
    max: float | None = None
    step: float | None = None
    choices: Sequence[Any] | None = None

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> ParamSpec[T]: ...

    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...

    def __get__(self, instance: object, owner: type | None = None) -> ParamSpec[T] | T:
        return self if instance is None else self.default

    @property
    def resolved_choices(self) -> list[Any] | None:
        """`choices`, or every member of the default's enum, or None (free value)."""
        if self.choices is not None:
            return list(self.choices)
        if isinstance(self.default, enum.Enum):
            return list(type(self.default))
        return None

    def validate(self, name: str, value: Any) -> Any:
        """`value` coerced to the default's type and checked; ValueError names what is wrong."""
        coerced = self._coerce(name, value)
        choices = self.resolved_choices
        if choices is not None and coerced not in choices:
            shown = ", ".join(_show(c) for c in choices)
            raise ValueError(f"parameter {name!r}: {_show(coerced)} is not one of the choices ({shown})")
        if isinstance(coerced, (int, float)) and not isinstance(coerced, bool):
            if self.min is not None and coerced < self.min:
                raise ValueError(f"parameter {name!r}: {coerced} is below the minimum {self.min}")
            if self.max is not None and coerced > self.max:
                raise ValueError(f"parameter {name!r}: {coerced} is above the maximum {self.max}")
        return coerced

    def _coerce(self, name: str, value: Any) -> Any:
        default = self.default
        if isinstance(default, bool):
            return _to_bool(name, value)
        if isinstance(default, enum.Enum):
            return _to_enum(name, type(default), value)
        if isinstance(default, int):
            return _to_int(name, value)
        if isinstance(default, float):
            return _to_float(name, value)
        if isinstance(default, str):
            if not isinstance(value, str):
                raise ValueError(f"parameter {name!r}: expected text, got {value!r}")
            return value
        return value  # a default of another type: taken as given


def _show(value: Any) -> str:
    return value.name if isinstance(value, enum.Enum) else repr(value)


def _to_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    elif isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"parameter {name!r}: expected true or false, got {value!r}")


def _to_enum(name: str, enum_cls: type[enum.Enum], value: Any) -> enum.Enum:
    if isinstance(value, enum_cls):
        return value
    if isinstance(value, str):
        text = value.strip()
        members = enum_cls.__members__
        member = members.get(text) or members.get(text.upper())
        if member is not None:
            return member
    known = ", ".join(enum_cls.__members__)
    raise ValueError(f"parameter {name!r}: {value!r} is not a {enum_cls.__name__} (one of {known})")


def _to_float(name: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"parameter {name!r}: expected a number, got {value!r}")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise ValueError(f"parameter {name!r}: {value!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"parameter {name!r}: {value!r} is not a finite number")
    return number


def _to_int(name: str, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    number = _to_float(name, value)  # "20.0" or 20.0 are fine, 2.5 is not
    if not number.is_integer():
        raise ValueError(f"parameter {name!r}: {value!r} is not a whole number")
    return int(number)
