"""Class specs: configured classes made with type() are rebuilt identically from JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components import BarPeriod, ParamSpec, SimulatedBroker
from components.examples import SMACrossover
from components.spec import SpecError, build_class, class_spec, configured, import_class


def roundtrip(cls: type) -> type:
    return build_class(json.loads(json.dumps(class_spec(cls))))


def test_type_made_subclass_rebuilds_with_its_attributes() -> None:
    params = dict(SMACrossover.parameters, fast_period=ParamSpec(default=7, min=5, max=100), bar_period=ParamSpec(default=BarPeriod.HOUR))
    cls = type("_ConfiguredSMACrossover", (SMACrossover,), {"symbols": ["A", "B"], "parameters": params})
    rebuilt = roundtrip(cls)
    assert rebuilt.__name__ == "_ConfiguredSMACrossover"
    assert issubclass(rebuilt, SMACrossover)
    assert rebuilt.symbols == ["A", "B"]
    assert rebuilt.parameters["fast_period"] == ParamSpec(default=7, min=5, max=100)
    assert rebuilt.parameters["bar_period"].default is BarPeriod.HOUR


def test_importable_class_is_referenced_not_copied() -> None:
    spec = class_spec(SimulatedBroker)
    assert spec["base"] == "components.broker:SimulatedBroker" and spec["attrs"] == {}
    assert roundtrip(SimulatedBroker) is SimulatedBroker
    nested = configured(configured(SimulatedBroker, commission_per_unit=0.5), minimum_commission_per_order=1.0)
    rebuilt = roundtrip(nested)
    assert (rebuilt.commission_per_unit, rebuilt.minimum_commission_per_order) == (0.5, 1.0)


def test_file_strategies_resolve_by_path(tmp_path: Path) -> None:
    f = tmp_path / "mine.py"
    f.write_text(
        "from components import StrategyBase\n"
        "class Mine(StrategyBase):\n    name = 'Mine'\n    def on_bar(self, bar):\n        pass\n"
    )
    cls = import_class(f"{f}:Mine")
    spec = class_spec(configured(cls, symbols=["X"]))
    assert spec["base"] == f"{f}:Mine"
    assert roundtrip(configured(cls, symbols=["X"])).symbols == ["X"]


def test_unimportable_class_with_methods_is_refused_by_name() -> None:
    def make() -> type:
        class Local(SimulatedBroker):
            def extra(self) -> None:
                pass

        return Local

    with pytest.raises(SpecError, match="Local.*method 'extra'"):
        class_spec(make())


def test_values_that_cannot_cross_processes_are_named() -> None:
    with pytest.raises(SpecError, match="_X.thing"):
        class_spec(configured(SimulatedBroker, "_X", thing=object()))


@pytest.mark.parametrize("ref, msg", [("nocolon", "expected"), ("no.such.module:X", "cannot import"),
                                      ("components.broker:Nope", "has no"), ("components.codec:FEED_TOPIC", "not a class")])
def test_bad_references(ref: str, msg: str) -> None:
    with pytest.raises(SpecError, match=msg):
        import_class(ref)
