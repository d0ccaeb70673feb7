"""Run settings: one schema for `tickbus run`'s flags, RUN.toml, the dashboard and sweeps
(SWEEP_SETTINGS: the run settings a sweep's variants share, and the sweep's own, for
`tickbus sweep`'s flags and SWEEP.toml).

Each setting is declared once in SETTINGS (its RUN.toml key, type, bounds or choices, help). The
command-line flags are made from it (`--barrier-timeout` for `barrier_timeout`), a RUN.toml is
checked against it and so is a settings dict built in code (`validate`): unknown keys (with a
"did you mean"), wrong types (`in_process = "no"` is not a boolean), values out of bounds (a
timeout must be positive, a commission a finite number of 0 or more), a `--listen` address this
host cannot bind. Every problem is reported at once, each as `FILE:KEY: what is wrong`, before any
process starts or any run row is written.

A RUN.toml holds the same keys as the flags, plus one `[[strategy]]` table per strategy:

    secmaster = "secmaster.db"
    runs_db = "runs.db"
    start = 2024-01-02            # a TOML date or datetime, or an ISO-8601 string
    barrier_timeout = 10

    [[strategy]]
    spec = "SMACrossover"         # a registered name, package.module:Class or path/file.py:Class
    params = { fast_period = 10, slow_period = 30 }
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import math
import socket
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.errors import UsageError
from recorder.layout import METRIC_COLUMNS, RECORD_LEVELS

Check = Callable[[Any], Any]  # a value (typed, or text from a flag) -> the setting's value; ValueError says why


@dataclass(frozen=True)
class Setting:
    name: str
    check: Check
    help: str
    metavar: str | None = None
    flag: bool = True  # a command-line flag (`--name-with-dashes`) as well as a RUN.toml key
    boolean: bool = False  # a flag that takes no value
    repeat: bool = False  # a flag given once per value (its values arrive as a list)


# --- value checks -----------------------------------------------------------------------------


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {_shown(value)}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_shown(value)}")
    return value


def _number(value: Any, *, integer: bool = False) -> float:
    if isinstance(value, str):  # from a flag
        try:
            value = int(value) if integer else float(value)
        except ValueError:
            raise ValueError(f"expected {'an integer' if integer else 'a number'}, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ValueError(f"expected {'an integer' if integer else 'a number'}, got {_shown(value)}")
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return value


def positive(value: Any) -> float:
    number = float(_number(value))
    if number <= 0:
        raise ValueError(f"must be greater than 0, got {number:g}")
    return number


def non_negative(value: Any) -> float:
    number = float(_number(value))
    if number < 0:
        raise ValueError(f"must be 0 or more, got {number:g}")
    return number


def count(value: Any) -> int:
    number = int(_number(value, integer=True))
    if number < 0:
        raise ValueError(f"must be 0 or more, got {number}")
    return number


def one_of(*choices: str) -> Check:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {_shown(value)}")
        return str(value)

    return check


def moment(value: Any) -> str:
    """A point in time as an ISO-8601 string (TOML dates and datetimes are accepted as such)."""
    if isinstance(value, (dt.date, dt.datetime)):
        value = value.isoformat()
    text = _text(value)
    parse_time(text, end=False, what="")
    return text


def symbols(value: Any) -> list[str] | None:
    """A list of symbols, a comma-separated string of them, or "all" (None: every symbol)."""
    if isinstance(value, str):
        if value.strip() == "all":
            return None
        value = [s.strip() for s in value.split(",") if s.strip()]
    if not isinstance(value, list) or not value or not all(isinstance(s, str) and s.strip() for s in value):
        raise ValueError(f"expected a list of symbols (or \"all\"), got {_shown(value)}")
    return [s.strip() for s in value]


def bar_period(value: Any) -> str:
    """A BarPeriod's name, given as one (MINUTE) or as the secmaster import spells it (1m)."""
    from components.models import BarPeriod
    from components.secmaster.csv_import import BAR_PERIODS

    text = _text(value)
    found = BAR_PERIODS.get(text.lower()) or BarPeriod.__members__.get(text.upper())
    if found is None:
        names = ", ".join(f"{p.name} ({short})" for short, p in BAR_PERIODS.items())
        raise ValueError(f"expected one of {names}, got {text!r}")
    return found.name


def listen_address(value: Any) -> str:
    """tcp://HOST:PORT that this host can bind (checked by binding it for a moment)."""
    from bus.security import split_tcp

    text = _text(value)
    host, port = split_tcp(text)
    if port.isdigit() and not 0 <= int(port) <= 65535:
        raise ValueError(f"{text}: port {port} is out of range (0-65535)")
    try:
        infos = socket.getaddrinfo(host.strip("[]"), int(port) if port.isdigit() else 0, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise ValueError(f"{text}: cannot bind it on this host: {exc.strerror or exc}") from None
    return text


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{type(value).__name__} {value!r}"


# --- the schema -------------------------------------------------------------------------------

SETTINGS: dict[str, Setting] = {s.name: s for s in (
    Setting("secmaster", _text, "secmaster database (source bars)", "DB"),
    Setting("runs_db", _text, "runs database to record into (default runs.db)", "DB"),
    Setting("symbols", symbols, "comma-separated symbols, or 'all' (default: every instrument of the dataset)"),
    Setting("publisher", _text, "secmaster publisher (default: the only one)"),
    Setting("dataset", _text, "secmaster dataset (default: the only one of the publisher)"),
    Setting("symbol_type", _text, "the symbology the symbols are in: raw_symbol (default), continuous "
                                  "(e.g. ES.c.0 built by onesecondtrader's tools), ticker, ..."),
    Setting("bar_period", bar_period, "SECOND, MINUTE, HOUR or DAY (or 1s, 1m, 1h, 1d): which bars to replay when "
                                      "the data has several (strategies with a bar_period parameter follow it unless "
                                      "given with --param)", "PERIOD"),
    Setting("start", moment, "first bar time, ISO-8601 (date or datetime, UTC)"),
    Setting("end", moment, "last bar time, ISO-8601 (a date means the whole day)"),
    Setting("commission_per_unit", non_negative, "broker commission per unit traded (default 0)"),
    Setting("minimum_commission", non_negative, "broker minimum commission per order (default 0)"),
    Setting("in_process", _bool, "all components in this process", boolean=True),
    Setting("transport", one_of("ipc", "tcp"), "bus transport (default ipc)"),
    Setting("broker_process", _bool, "run the broker in its own process (default: inside the bus process, "
                                     "which halves the hops of a strategy's round with it)", boolean=True),
    Setting("barrier_timeout", positive, "seconds without progress (no component finishing any message) "
                                         "before the run fails (default 30)", "S"),
    Setting("storage_timeout", positive, "seconds a write to the runs database waits for another process's "
                                         "lock before the run fails (default 30)", "S"),
    Setting("expect_attach", count, "wait for N strategies from `tickbus attach` before the replay starts "
                                    "(deterministic)", "N"),
    Setting("attach_timeout", positive, "how long to wait for them (default 60)", "S"),
    Setting("on_attach_loss", one_of("fail", "drop"),
            "an attached strategy that dies fails the run (default) or is dropped and recorded"),
    Setting("listen", listen_address, "bind the bus there so other machines can attach/monitor "
                                      "(with the run's access key, as every tcp bus)", "tcp://HOST:PORT"),
    Setting("curve", _bool, "run the bus over tcp on loopback (with the run's access key, as every "
                            "tcp bus)", boolean=True),
    Setting("record", one_of(*RECORD_LEVELS), "what runs.db keeps: all (every event, the default), trades (all but "
                                              "bars and indicator values) or summary (fills and the run's figures)"),
    Setting("strategy", lambda v: v, "strategies ([[strategy]] tables in RUN.toml)", flag=False),
)}


def grid(value: Any) -> dict[str, Any]:
    """NAME=SPEC texts (repeated --grid flags) or a TOML table: parameter name -> values (a
    "A:B[:STEP]" or "V1,V2,..." text, or a list); the values are checked against the strategy
    (orchestrator/sweep/grid.py)."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        out: dict[str, Any] = {}
        for text in value:
            name, sep, spec = text.partition("=")
            if not sep or not name.strip() or not spec.strip():
                raise ValueError(f"expected NAME=A:B:STEP or NAME=V1,V2,..., got {text!r}")
            if name.strip() in out:
                raise ValueError(f"{name.strip()!r} is given twice")
            out[name.strip()] = spec.strip()
        return out
    if isinstance(value, dict) and value and all(isinstance(k, str) for k in value):
        return dict(value)
    raise ValueError(f"expected a table of parameter = values, got {_shown(value)}")


def integer(value: Any) -> int:
    return int(_number(value, integer=True))


def at_least_one(value: Any) -> int:
    number = count(value)
    if number < 1:
        raise ValueError(f"must be 1 or more, got {number}")
    return number


def scheduler_address(value: Any) -> str:
    """tcp://HOST:PORT of a Dask scheduler (reached when the sweep starts)."""
    text = _text(value)
    host, sep, port = text.removeprefix("tcp://").rpartition(":")
    if not text.startswith("tcp://") or not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"expected tcp://HOST:PORT, got {text!r}")
    return text


def holdout(value: Any) -> str:
    """The held-out part of a sweep's data: `P%` (the last P percent of its bar times, by count,
    0 < P < 100) or an ISO-8601 time (from then on)."""
    if isinstance(value, (dt.date, dt.datetime)):
        value = value.isoformat()
    text = _text(value).strip()
    if text.endswith("%"):
        try:
            pct = float(text[:-1])
        except ValueError:
            raise ValueError(f"expected P% (0 < P < 100) or an ISO-8601 time, got {text!r}") from None
        if not 0 < pct < 100:
            raise ValueError(f"the percentage must be between 0 and 100 (exclusive), got {text!r}")
        return text
    try:
        parse_time(text, end=False, what="")
    except ValueError:
        raise ValueError(f"expected P% (0 < P < 100) or an ISO-8601 time, got {text!r}") from None
    return text


def at_least_two(value: Any) -> int:
    number = count(value)
    if number < 2:
        raise ValueError(f"must be 2 or more, got {number}")
    return number


SEARCHES = ("grid", "random", "tpe")

_SHARED = ("secmaster", "runs_db", "symbols", "publisher", "dataset", "symbol_type", "bar_period", "start", "end",
           "commission_per_unit", "minimum_commission", "transport", "broker_process", "barrier_timeout",
           "storage_timeout", "strategy")

#: `tickbus sweep`: the run settings every variant shares (a variant is an ordinary run), and the
#: sweep's own. Validated like RUN.toml; the grid itself is checked against the strategy's
#: ParamSpecs by orchestrator/sweep/grid.py.
SWEEP_SETTINGS: dict[str, Setting] = {**{k: SETTINGS[k] for k in _SHARED}, **{s.name: s for s in (
    Setting("grid", grid, "a parameter's values: NAME=A:B:STEP (inclusive; STEP defaults to the parameter's "
                          "ParamSpec step), NAME=V1,V2,... (booleans, enum and choice members by name); repeatable",
            "NAME=VALUES", repeat=True),
    Setting("where", _text, "keep the combinations for which this holds, e.g. \"fast < slow\" (comparisons, "
                            "arithmetic, and/or/not over parameter names)", "EXPR"),
    Setting("random", at_least_one, "run N distinct points of the grid, drawn with --seed", "N"),
    Setting("seed", integer, "seed of --random (default: drawn, and recorded with the sweep)", "S"),
    Setting("workers", at_least_one, "local worker processes (default: this machine's cores)", "N"),
    Setting("scheduler", scheduler_address, "run the variants on this Dask scheduler (pip install "
                                            "'tickbus[cluster]')", "tcp://HOST:PORT"),
    Setting("multi_process", _bool, "each variant in the usual process layout (default: in one process)", boolean=True),
    Setting("record", one_of(*RECORD_LEVELS), "what runs.db keeps of each variant: summary (fills and its figures, "
                                              "the default), trades or all"),
    Setting("sort", one_of(*METRIC_COLUMNS), "rank the variants by this figure (default net_pnl)", "METRIC"),
    Setting("name", _text, "the sweep's name (default: sweep-STRATEGY)"),
    Setting("max_failures", at_least_one, "stop the sweep once this many variants failed", "K"),
    Setting("holdout", holdout, "rank on the data before a split, then run the --top K on the rest: P% (the last P "
                                "percent of the bar times) or an ISO-8601 time", "P%|TIME"),
    Setting("top", at_least_one, "with --holdout: how many of the best in-sample variants run out of sample "
                                 "(default 5); sweep show: how many variants to list (default 20)", "K"),
    Setting("walk_forward", at_least_two, "N consecutive windows: in each the grid is ranked, and its best variant "
                                          "runs on the next window", "N"),
    Setting("search", one_of(*SEARCHES), "how the points are chosen: grid (every point, the default), random "
                                         "(--random N, or --trials N, distinct points) or tpe (Optuna's TPE, "
                                         "--trials N; pip install 'tickbus[optimize]')", "grid|random|tpe"),
    Setting("trials", at_least_one, "points --search random / tpe runs", "N"),
)}}

STRATEGY_KEYS = ("spec", "params")


def add_flags(parser: argparse.ArgumentParser, schema: dict[str, Setting] = SETTINGS) -> None:
    """One flag per setting; a flag's text is checked by the setting's own check (a repeated
    flag's values all at once, once parsed: from_flags)."""
    for s in schema.values():
        if not s.flag:
            continue
        flag = "--" + s.name.replace("_", "-")
        text = s.help.replace("%", "%%")  # argparse formats help with %; a setting's text is plain
        if s.boolean:
            parser.add_argument(flag, action="store_true", default=None, help=text)
        elif s.repeat:
            parser.add_argument(flag, action="append", metavar=s.metavar, help=text)
        else:
            parser.add_argument(flag, type=_flag_type(s), metavar=s.metavar, help=text)


def _flag_type(s: Setting) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return s.check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = s.name  # argparse names the type in its messages
    return parse


def from_flags(args: argparse.Namespace, schema: dict[str, Setting] = SETTINGS) -> dict[str, Any]:
    """The settings given as flags (checked by their types; repeated ones checked here)."""
    out = {}
    problems = []
    for s in schema.values():
        value = getattr(args, s.name, None) if s.flag else None
        if value is not None and s.repeat:
            try:
                value = s.check(value)
            except ValueError as exc:
                problems.append(f"--{s.name.replace('_', '-')}: {exc}")
                continue
        if value is not None:
            out[s.name] = value
    if problems:
        raise UsageError("\n".join(problems))
    return out


def load_toml(path: str | Path, schema: dict[str, Setting] = SETTINGS) -> dict[str, Any]:
    """A RUN.toml, checked (every problem at once, as FILE:KEY: what)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{p}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{p}: not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{p}: not valid TOML: {exc}") from None
    if "strategies" in data and "strategy" not in data:  # the plural is accepted as a spelling
        data["strategy"] = data.pop("strategies")
    return validate(data, str(p), schema)


def validate(data: dict[str, Any], origin: str = "settings", schema: dict[str, Setting] = SETTINGS) -> dict[str, Any]:
    """Checked, typed settings; UsageError listing every problem as ORIGIN:KEY: what."""
    problems: list[str] = []
    out: dict[str, Any] = {}
    for key, value in data.items():
        setting = schema.get(key)
        if setting is None:
            guess = difflib.get_close_matches(key, list(schema), n=1)
            problems.append(f"{origin}:{key}: unknown setting" + (f" (did you mean {guess[0]!r}?)" if guess else ""))
            continue
        if key == "strategy":
            out["strategies"] = _strategies(value, origin, problems)
            continue
        try:
            out[key] = setting.check(value)
        except ValueError as exc:
            problems.append(f"{origin}:{key}: {exc}")
    if problems:
        raise UsageError("\n".join(problems))
    return out


def _strategies(value: Any, origin: str, problems: list[str]) -> list[tuple[str, dict[str, Any]]]:
    tables = [value] if isinstance(value, dict) else value
    if not isinstance(tables, list) or not tables:
        problems.append(f"{origin}:strategy: expected [[strategy]] tables, got {_shown(value)}")
        return []
    out: list[tuple[str, dict[str, Any]]] = []
    for i, table in enumerate(tables, 1):
        where = f"{origin}:strategy[{i}]"
        if isinstance(table, str):  # a bare spec
            out.append((table, {}))
            continue
        if not isinstance(table, dict):
            problems.append(f"{where}: expected a table with spec and params, got {_shown(table)}")
            continue
        for key in table:
            if key not in STRATEGY_KEYS:
                guess = difflib.get_close_matches(key, STRATEGY_KEYS, n=1)
                problems.append(f"{where}.{key}: unknown key" + (f" (did you mean {guess[0]!r}?)" if guess else ""))
        spec = table.get("spec")
        if not isinstance(spec, str) or not spec.strip():
            problems.append(f"{where}.spec: required: the strategy (a registered name, package.module:Class "
                            f"or path/file.py:Class)")
            continue
        params = table.get("params", {})
        if not isinstance(params, dict):
            problems.append(f"{where}.params: expected a table of parameter values, got {_shown(params)}")
            continue
        out.append((spec, dict(params)))
    return out


def parse_time(text: str, *, end: bool, what: str) -> int:
    """ISO-8601 to ns since the epoch (naive = UTC); a bare date as an end means its last ns."""
    from recorder.analysis.timefmt import iso_to_ns

    try:
        return iso_to_ns(text, end=end)
    except ValueError:
        raise ValueError(f"{what + ' ' if what else ''}{text!r} is not an ISO-8601 date or datetime") from None
