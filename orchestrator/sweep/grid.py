"""A sweep's variants: the grid of parameter values, checked against the strategy's ParamSpecs,
filtered by `--where` and sampled by `--random`.

    NAME=A:B:STEP   A, A+STEP, ... up to B inclusive (STEP defaults to the ParamSpec's step);
                    decimal steps are exact (0.1:0.3:0.1 is 0.1, 0.2, 0.3)
    NAME=V1,V2,...  the values as given: numbers, true/false, enum or choice members by name

Every problem is collected (an unknown name, each bad value, an empty range, a grid too large,
an expression that does not fit), so a user fixes them all at once.
"""

from __future__ import annotations

import enum
import itertools
import math
import random as random_module
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from components.params import ParamSpec
from orchestrator.sweep.where import Where, WhereError

MAX_POINTS = 1_000_000


@dataclass(frozen=True)
class Grid:
    """The checked axes (name -> values, in the order given) and the points to run."""

    axes: dict[str, list[Any]]
    points: list[dict[str, Any]]  # JSON-able values (enum members by name)
    size: int  # points of the full grid, before --where and --random
    seed: int | None


def plain(value: Any) -> Any:
    """A parameter value as JSON holds it (an enum member by its name)."""
    return value.name if isinstance(value, enum.Enum) else value


def _decimal(text: str) -> Decimal:
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"{text.strip()!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{text.strip()!r} is not a finite number")
    return number


def _range(name: str, text: str, spec: ParamSpec[Any]) -> list[Any]:
    parts = text.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"{name}={text}: expected A:B or A:B:STEP")
    default = spec.default
    if isinstance(default, (bool, enum.Enum)) or not isinstance(default, (int, float)):
        raise ValueError(f"{name}={text}: a range needs a numeric parameter ({name} is {type(default).__name__}); "
                         "list the values instead")
    lo, hi = _decimal(parts[0]), _decimal(parts[1])
    if len(parts) == 3:
        step = _decimal(parts[2])
    elif spec.step is None:
        raise ValueError(f"{name}={text}: give a step (A:B:STEP): the parameter's ParamSpec declares none")
    else:
        step = Decimal(repr(spec.step))
    if step <= 0:
        raise ValueError(f"{name}={text}: the step must be greater than 0")
    if hi < lo:
        raise ValueError(f"{name}={text}: empty range ({parts[1]} is below {parts[0]})")
    count = int((hi - lo) / step) + 1
    if count > MAX_POINTS:
        raise ValueError(f"{name}={text}: {count:,} values (at most {MAX_POINTS:,})")
    values = [lo + k * step for k in range(count)]
    if isinstance(default, int):
        if any(v != v.to_integral_value() for v in values):
            raise ValueError(f"{name}={text}: {name} is a whole number, and the range has fractional values")
        return [int(v) for v in values]
    return [float(v) for v in values]


def _listed(name: str, raw: Any) -> list[Any]:
    values = [v.strip() for v in raw.split(",")] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else [raw]
    if not values or any(v == "" for v in values):
        raise ValueError(f"{name}: an empty value in {raw!r}")
    return values


def axis(name: str, raw: Any, spec: ParamSpec[Any]) -> tuple[list[Any], list[str]]:
    """The checked values of one parameter, and every problem with them."""
    try:
        if isinstance(raw, str) and ":" in raw:
            values = _range(name, raw, spec)
        else:
            values = _listed(name, raw)
    except ValueError as exc:
        return [], [str(exc)]
    out: list[Any] = []
    problems = []
    for value in values:
        try:
            checked = spec.validate(name, value)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        if isinstance(checked, float) and not math.isfinite(checked):
            problems.append(f"parameter {name!r}: {value!r} is not a finite number")
        elif checked in out:
            problems.append(f"parameter {name!r}: {plain(checked)!r} is listed twice")
        else:
            out.append(checked)
    return out, problems


def build(parameters: dict[str, ParamSpec[Any]], grid: dict[str, Any], fixed: dict[str, Any], *,
          where: str | None = None, sample: int | None = None, seed: int | None = None,
          strategy: str = "the strategy") -> tuple[Grid | None, list[str]]:
    """The grid's points, or None and every problem."""
    problems: list[str] = []
    axes: dict[str, list[Any]] = {}
    for name, raw in grid.items():
        if name not in parameters:
            known = ", ".join(sorted(parameters)) or "none"
            problems.append(f"--grid {name}: {strategy} has no parameter {name!r} (parameters: {known})")
            continue
        if name in fixed:
            problems.append(f"--grid {name}: also given with --param; give it in one place")
        values, bad = axis(name, raw, parameters[name])
        problems += [f"--grid {p}" if p.startswith(f"{name}=") else f"--grid {name}: {p}" for p in bad]
        if not values and not bad:
            problems.append(f"--grid {name}: no values")
        axes[name] = values
    if not grid:
        problems.append("give at least one --grid NAME=VALUES")
    size = math.prod(len(v) for v in axes.values()) if axes else 0
    if size > MAX_POINTS:
        problems.append(f"the grid has {size:,} points (at most {MAX_POINTS:,}); narrow it or sample it with --random")
    condition = None
    if where is not None:
        try:
            condition = Where(where, [*parameters])
        except WhereError as exc:
            problems.append(f"--where {where!r}: {exc}")
    if problems:
        return None, problems
    defaults = {n: p.default for n, p in parameters.items()}
    points = []
    for combo in itertools.product(*axes.values()):
        point = dict(zip(axes, combo))
        if condition is not None:
            try:
                if not condition.holds({**defaults, **fixed, **point}):
                    continue
            except WhereError as exc:
                return None, [f"--where {where!r}: {exc}"]
        points.append(point)
    if not points:
        return None, [f"the grid is empty: --where {where!r} holds for none of its {size:,} points"]
    if sample is not None:
        if sample > len(points):
            return None, [f"--random {sample}: the grid has only {len(points):,} points"]
        if seed is None:
            seed = random_module.SystemRandom().randrange(2**31)
        chosen = sorted(random_module.Random(seed).sample(range(len(points)), sample))
        points = [points[i] for i in chosen]
    return Grid({n: [plain(v) for v in vs] for n, vs in axes.items()},
                [{n: plain(v) for n, v in p.items()} for p in points], size, seed), []
