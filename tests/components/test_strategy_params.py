"""ParamSpec: resolved choices and command-line validation."""

from __future__ import annotations

import pytest

from components.models import BarPeriod
from components.params import ParamSpec


def test_resolved_choices() -> None:
    assert ParamSpec(default=BarPeriod.MINUTE).resolved_choices == list(BarPeriod)
    assert ParamSpec(default="a", choices=["a", "b"]).resolved_choices == ["a", "b"]
    assert ParamSpec(default=BarPeriod.MINUTE, choices=[BarPeriod.MINUTE]).resolved_choices == [BarPeriod.MINUTE]
    assert ParamSpec(default=3).resolved_choices is None


@pytest.mark.parametrize(
    ("spec", "raw", "expected"),
    [
        (ParamSpec(default=20, min=5, max=100), "30", 30),
        (ParamSpec(default=20, min=5, max=100), "30.0", 30),
        (ParamSpec(default=20), 7, 7),
        (ParamSpec(default=1.0, min=0.1), "0.5", 0.5),
        (ParamSpec(default=1.0), 2, 2.0),
        (ParamSpec(default=True), "false", False),
        (ParamSpec(default=False), "Yes", True),
        (ParamSpec(default=False), True, True),
        (ParamSpec(default=BarPeriod.MINUTE), "SECOND", BarPeriod.SECOND),
        (ParamSpec(default=BarPeriod.MINUTE), "hour", BarPeriod.HOUR),
        (ParamSpec(default=BarPeriod.MINUTE), BarPeriod.DAY, BarPeriod.DAY),
        (ParamSpec(default="x", choices=["x", "y"]), "y", "y"),
        (ParamSpec(default=5, min=5, max=5), "5", 5),
    ],
)
def test_validate_coerces(spec: ParamSpec, raw: object, expected: object) -> None:
    value = spec.validate("p", raw)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("spec", "raw", "words"),
    [
        (ParamSpec(default=20, min=5, max=100), "abc", "not a number"),
        (ParamSpec(default=20, min=5, max=100), "2.5", "not a whole number"),
        (ParamSpec(default=20, min=5, max=100), "4", "below the minimum 5"),
        (ParamSpec(default=20, min=5, max=100), "101", "above the maximum 100"),
        (ParamSpec(default=1.0, min=0.1, max=100.0), "0.01", "below the minimum"),
        (ParamSpec(default=1.0), "nan", "not a finite number"),
        (ParamSpec(default=1.0), "", "not a number"),
        (ParamSpec(default=True), "maybe", "true or false"),
        (ParamSpec(default=BarPeriod.MINUTE), "WEEK", "not a BarPeriod"),
        (ParamSpec(default="x", choices=["x", "y"]), "z", "not one of the choices"),
        (ParamSpec(default=1, choices=[1, 2, 3]), "4", "not one of the choices"),
        (ParamSpec(default=BarPeriod.MINUTE, choices=[BarPeriod.MINUTE]), "SECOND", "not one of the choices"),
    ],
)
def test_validate_rejects_with_one_line_naming_the_parameter(spec: ParamSpec, raw: object, words: str) -> None:
    with pytest.raises(ValueError) as info:
        spec.validate("fast_period", raw)
    message = str(info.value)
    assert "'fast_period'" in message and words in message and "\n" not in message


def test_paramspec_is_frozen() -> None:
    spec = ParamSpec(default=1)
    with pytest.raises(AttributeError):
        spec.default = 2  # type: ignore[misc]
