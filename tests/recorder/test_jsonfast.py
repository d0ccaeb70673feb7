"""indicators_json is byte-identical to json.dumps for every input, fast path or not."""

from __future__ import annotations

import json
import math
import random
import sys
from typing import Any

import pytest

from recorder import jsonfast
from recorder.jsonfast import indicators_json

SPECIAL = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e-300, 5e-324, -1e-300, 1e300, sys.float_info.max,
           -sys.float_info.max, 0.1, 1.0, 100.0, 1e16, 123456789.123456789, 2.5e-5]
ODD = [0, 1, -7, 10**30, True, False, None, "x", [1.0], {"a": 1.0}, 1.5 + 0j]
KEYS = [("SMA_10_CLOSE", "SMA_30_CLOSE"), ("a",), ('q"uote', "back\\slash", "tab\t", "nl\n"),
        ("100%", "%s", "%%d"), ("é", "日本", "emoji \U0001f600", "\x00ctl\x1f"), ("",), ()]


def _outcome(f: Any, d: Any) -> str:
    try:
        return f(d)  # type: ignore[no-any-return]
    except TypeError as exc:  # what json cannot encode must fail the same way
        return f"TypeError: {exc}"


def _check(d: Any) -> None:
    assert _outcome(indicators_json, d) == _outcome(json.dumps, d), d


@pytest.mark.parametrize("keys", KEYS)
def test_special_floats_under_every_key_set(keys: tuple[str, ...]) -> None:
    for v in SPECIAL:
        _check(dict.fromkeys(keys, v))
        for w in SPECIAL:
            _check(dict(zip(keys, [v, w] * len(keys))))


def test_non_float_values_fall_back() -> None:
    for keys in KEYS[:4]:
        for odd in ODD:
            for pos in range(len(keys)):
                vals: list[Any] = [1.5] * len(keys)
                vals[pos] = odd
                _check(dict(zip(keys, vals)))


def test_random_floats() -> None:
    rnd = random.Random(7)
    keys = KEYS[0]
    for _ in range(20_000):
        kind = rnd.random()
        if kind < 0.5:
            v = rnd.uniform(-1e6, 1e6)
        elif kind < 0.8:
            v = rnd.choice([-1, 1]) * 10 ** rnd.uniform(-320, 308)
        else:
            v = rnd.choice(SPECIAL)
        _check({keys[0]: v, keys[1]: rnd.uniform(0, 200)})


def test_sum_overflow_and_float_subclass() -> None:
    big = sys.float_info.max
    _check({"a": big, "b": big})  # finite values whose sum overflows
    _check({"a": math.inf, "b": -math.inf})  # sum is NaN

    class F(float):
        def __repr__(self) -> str:
            return "F"

    _check({"a": F(1.0)})


def test_non_str_keys_and_non_dicts() -> None:
    for d in ({1: 1.0}, {1.5: 2.0}, {True: 1.0}, {None: 1.0}, {"a": 1.0, 2: 3.0}, [1.0, 2.0], 1.0, None, "s"):
        _check(d)
    _check({1: 1.0})
    _check({True: 1.0})  # equal key tuple to (1,): must not reuse another key set's text
    for bad in ({b"bytes": 1.0}, {"a": b"bytes"}):
        with pytest.raises(TypeError):
            indicators_json(bad)


def test_template_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonfast, "_templates", {})
    monkeypatch.setattr(jsonfast, "_MAX_TEMPLATES", 10)
    for i in range(50):
        _check({f"k{i}": float(i)})
    assert len(jsonfast._templates) == 10


def test_fast_path_is_taken_for_finite_floats(monkeypatch: pytest.MonkeyPatch) -> None:
    d = {"SMA_10_CLOSE": 101.25, "SMA_30_CLOSE": -0.0}
    expected = json.dumps(d)
    indicators_json(d)  # the key set's template is built with json

    class NoJson:
        @staticmethod
        def dumps(_: Any) -> str:
            raise AssertionError("json.dumps called on the fast path")

    monkeypatch.setattr(jsonfast, "json", NoJson)
    assert indicators_json({"SMA_10_CLOSE": 101.25, "SMA_30_CLOSE": -0.0}) == expected


def test_str_subclass_keys_match_json() -> None:
    import enum

    class K(enum.StrEnum):
        A = "x"

    _check({"x": 1.0})
    _check({K.A: 1.0})  # equal to ("x",) in the template cache; json writes its str value too
