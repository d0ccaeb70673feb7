"""compile_builder: equal objects to the keyword constructor, on the fast path and off it."""

from __future__ import annotations

import dataclasses

import pytest

from components.events import BarReceived
from components.fastbuild import FieldSource, compile_builder
from components.models import BarPeriod

_BAR = dict(ts_event_ns=5, ts_created_ns=6, symbol="A", bar_period=BarPeriod.MINUTE, open=1.0, high=2.0, low=0.5,
            close=1.5, volume=7)


def test_fast_builder_makes_the_keyword_constructed_object() -> None:
    build = compile_builder(BarReceived, tuple(_BAR), {name: name for name in _BAR})
    assert "new" in build.__code__.co_names  # slot stores, not the constructor
    assert build(*_BAR.values()) == BarReceived(**_BAR)


def test_expressions_lines_and_prologue() -> None:
    fields: dict[str, str | FieldSource] = {name: f"r[{i}]" for i, name in enumerate(_BAR)}
    fields["symbol"] = FieldSource("s", ("s = r[2].upper()",))
    build = compile_builder(BarReceived, ("r",), fields, prologue=("if r is None: return None",))
    assert build(None) is None
    assert build(list(_BAR.values())) == BarReceived(**dict(_BAR, symbol="A"))
    assert build(list(dict(_BAR, symbol="b").values())).symbol == "B"


@dataclasses.dataclass(frozen=True)
class _NoSlots:
    a: int
    b: str


@dataclasses.dataclass(frozen=True, slots=True)
class _Checked:
    a: int

    def __post_init__(self) -> None:
        if self.a < 0:
            raise ValueError("negative")


def test_a_class_of_another_shape_gets_its_keyword_constructor() -> None:
    plain = compile_builder(_NoSlots, ("x", "y"), {"a": "x", "b": "y"})
    assert "new" not in plain.__code__.co_names and plain(1, "z") == _NoSlots(a=1, b="z")
    build = compile_builder(_Checked, ("x",), {"a": "x"})
    assert build(3) == _Checked(a=3)
    with pytest.raises(ValueError, match="negative"):  # __post_init__ runs
        build(-1)


def test_every_field_exactly_once() -> None:
    with pytest.raises(TypeError, match="exactly its fields"):
        compile_builder(_NoSlots, ("x",), {"a": "x"})
    with pytest.raises(TypeError, match="exactly its fields"):
        compile_builder(_NoSlots, ("x",), {"a": "x", "b": "x", "c": "x"})
