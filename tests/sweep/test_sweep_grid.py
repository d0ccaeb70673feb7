"""A sweep's grid, --where and settings, checked before anything runs: every problem listed,
exit status 2, nothing recorded."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import pytest
from sweepkit import sweep_args

from components.params import ParamSpec
from orchestrator.cli import main
from orchestrator.sweep.grid import build
from orchestrator.sweep.where import Where, WhereError


class Mode(enum.Enum):
    FAST = 1
    SLOW = 2


PARAMS: dict[str, ParamSpec[Any]] = {
    "fast": ParamSpec(default=10, min=1, max=100, step=5),
    "slow": ParamSpec(default=30, min=2, max=200),
    "size": ParamSpec(default=0.5, min=0.1, max=1.0),
    "mode": ParamSpec(default=Mode.FAST),
    "stops": ParamSpec(default=False),
}


def points(**grid: Any) -> list[dict[str, Any]]:
    where = grid.pop("where", None)
    g, problems = build(PARAMS, grid, {}, where=where)
    assert not problems and g is not None, problems
    return g.points


def test_ranges_lists_booleans_and_enum_members() -> None:
    assert [p["fast"] for p in points(fast="5:20")] == [5, 10, 15, 20]  # the ParamSpec's step
    assert [p["fast"] for p in points(fast="5:21:5")] == [5, 10, 15, 20]  # inclusive, never past B
    assert [p["size"] for p in points(size="0.1:0.3:0.1")] == [0.1, 0.2, 0.3]  # exact decimal steps
    assert points(mode="FAST,SLOW", stops="true,false") == [
        {"mode": "FAST", "stops": True}, {"mode": "FAST", "stops": False},
        {"mode": "SLOW", "stops": True}, {"mode": "SLOW", "stops": False}]
    assert points(fast=[5, 10], slow="20,40", where="fast * 4 <= slow and not mode == 'SLOW'") == [
        {"fast": 5, "slow": 20}, {"fast": 5, "slow": 40}, {"fast": 10, "slow": 40}]


def test_random_draws_distinct_points_the_same_for_the_same_seed() -> None:
    a, _ = build(PARAMS, {"fast": "5:100:5", "slow": "10:200:10"}, {}, sample=7, seed=3)
    b, _ = build(PARAMS, {"fast": "5:100:5", "slow": "10:200:10"}, {}, sample=7, seed=3)
    assert a is not None and b is not None and a.points == b.points and a.size == 400
    assert len({tuple(p.values()) for p in a.points}) == 7


def test_every_problem_is_listed() -> None:
    _, problems = build(PARAMS, {"fast": "5:x:5", "slow": "1,3,3,500", "size": "0.2:0.1:0.1", "sped": "1,2",
                                 "mode": "FAST,MEDIUM", "stops": "1:2"}, {"slow": 30}, where="fsat < slow")
    text = "\n".join(problems)
    for expected in ("'x' is not a number", "1 is below the minimum 2", "3 is listed twice",
                     "500 is above the maximum 200", "empty range", "no parameter 'sped'",
                     "'MEDIUM' is not a Mode", "a range needs a numeric parameter", "also given with --param",
                     "unknown name 'fsat' (did you mean 'fast'?)"):
        assert expected in text, (expected, problems)
    _, problems = build(PARAMS, {"slow": "10:20"}, {})
    assert problems == ["--grid slow=10:20: give a step (A:B:STEP): the parameter's ParamSpec declares none"]
    _, problems = build(PARAMS, {"fast": "5,10"}, {}, where="fast > 50")
    assert problems == ["the grid is empty: --where 'fast > 50' holds for none of its 2 points"]
    _, problems = build(PARAMS, {"fast": "5,10"}, {}, sample=3)
    assert problems == ["--random 3: the grid has only 2 points"]


@pytest.mark.parametrize("text, why", [
    ("__import__('os').system('true')", "a function call is not allowed"),
    ("fast.real > 1", "an attribute is not allowed"),
    ("[fast][0] == 1", "not allowed"),
    ("lambda: 1", "not allowed"),
    ("fast <", "not a valid expression"),
    ("fast ** 2 > 1", "not allowed"),
])
def test_where_is_a_small_language_never_python(text: str, why: str) -> None:
    with pytest.raises(WhereError, match=why):
        Where(text, PARAMS)
    assert Where("fast < slow and (slow - fast) % 10 == 0 or stops", PARAMS).holds({"fast": 10, "slow": 30, "stops": False})
    with pytest.raises(WhereError, match="division by zero at fast=0"):
        Where("slow / fast > 1", PARAMS).holds({"fast": 0, "slow": 3})


def test_a_bad_sweep_exits_2_listing_every_problem_and_records_nothing(
        sweep_secmaster: Path, tmp_path: Path, capsys: Any) -> None:
    db = tmp_path / "runs.db"
    code = main(sweep_args(sweep_secmaster, db, "--grid", "fast=0:3:1", "--grid", "slow=12,x", "--grid", "nope=1",
                           "--where", "fast < slwo", "--workers", "2"))
    err = capsys.readouterr().err
    assert code == 2
    for expected in ("0 is below the minimum 1", "'x' is not a number", "no parameter 'nope'", "unknown name 'slwo'"):
        assert expected in err, err
    assert all(line.startswith("tickbus sweep: error: ") for line in err.splitlines())
    assert not db.exists()

    toml = tmp_path / "SWEEP.toml"
    toml.write_text(f'secmaster = "{sweep_secmaster}"\nworkers = 0\nrecord = "some"\nsrot = "sharpe"\n'
                    '[strategy]\nspec = "SweepCrossing"\n[grid]\nfast = "3:5"\n')
    assert main(["sweep", str(toml), "--runs-db", str(db)]) == 2
    err = capsys.readouterr().err
    for expected in (f"{toml}:workers: must be 1 or more", f"{toml}:record: expected one of all, trades, summary",
                     f"{toml}:srot: unknown setting (did you mean 'sort'?)"):
        assert expected in err, err
    assert not db.exists()
