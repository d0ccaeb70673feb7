"""`tickbus run`: one backtest from command-line flags or a RUN.toml file.

    tickbus run --secmaster DB --runs-db DB --strategy SPEC [--param NAME=VALUE ...] ...
    tickbus run RUN.toml

`--param` applies to the `--strategy` before it. Everything is validated before any process
starts; a bad argument is one line on stderr and exit status 2. Exit 0 only for a completed run.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

from orchestrator.errors import UsageError

STATUS_EXIT = {"completed": 0, "failed": 1, "cancelled": 130}


class _Ordered(argparse.Action):
    """Keeps --strategy and --param in command-line order so params bind to their strategy."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        items = getattr(namespace, "items", None) or []
        items.append((self.dest, values))
        namespace.items = items


def add_run_arguments(p: argparse.ArgumentParser, *, strategies: bool = True) -> None:
    p.add_argument("--secmaster", help="secmaster database (source bars)")
    p.add_argument("--runs-db", help="runs database to record into (default runs.db)")
    if strategies:
        p.add_argument("--strategy", dest="strategy", action=_Ordered, metavar="SPEC",
                       help="registered name, package.module:Class or path/file.py:Class (repeatable)")
        p.add_argument("--param", dest="param", action=_Ordered, metavar="NAME=VALUE",
                       help="parameter of the preceding --strategy")
    p.add_argument("--symbols", help="comma-separated symbols, or 'all' (default: every instrument of the dataset)")
    p.add_argument("--publisher", help="secmaster publisher (default: the only one)")
    p.add_argument("--dataset", help="secmaster dataset (default: the only one of the publisher)")
    p.add_argument("--symbol-type", help="the symbology the symbols are in: raw_symbol (default), continuous "
                                         "(e.g. ES.c.0 built by the seed's tools), ticker, ...")
    p.add_argument("--bar-period", metavar="PERIOD",
                   help="SECOND, MINUTE, HOUR or DAY (or 1s, 1m, 1h, 1d): which bars to replay when the data has "
                        "several (strategies with a bar_period parameter follow it unless given with --param)")
    p.add_argument("--start", help="first bar time, ISO-8601 (date or datetime, UTC)")
    p.add_argument("--end", help="last bar time, ISO-8601 (a date means the whole day)")
    p.add_argument("--commission-per-unit", type=float)
    p.add_argument("--minimum-commission", type=float)
    p.add_argument("--in-process", action="store_true", default=None, help="all components in this process")
    p.add_argument("--transport", choices=("ipc", "tcp"), help="bus transport (default ipc)")
    p.add_argument("--broker-process", action="store_true", default=None,
                   help="run the broker in its own process (default: inside the bus process, "
                        "which halves the hops of a strategy's round with it)")
    p.add_argument("--barrier-timeout", type=float, help="seconds without progress (no component finishing any message) before the run fails (default 30)")
    p.add_argument("--expect-attach", type=int, metavar="N",
                   help="wait for N strategies from `tickbus attach` before the replay starts (deterministic)")
    p.add_argument("--attach-timeout", type=float, metavar="S", help="how long to wait for them (default 60)")
    p.add_argument("--on-attach-loss", choices=("fail", "drop"),
                   help="an attached strategy that dies fails the run (default) or is dropped and recorded")
    p.add_argument("--listen", metavar="tcp://HOST:PORT",
                   help="bind the bus there so other machines can attach/monitor (CURVE keys off loopback)")
    p.add_argument("--curve", action="store_true", default=None,
                   help="require the run's access key (CURVE) even on loopback")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a backtest", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", help="RUN.toml with the same settings")
    add_run_arguments(p)
    p.set_defaults(func=cmd_run, items=[])


def parse_time(text: str, *, end: bool, what: str) -> int:
    """ISO-8601 to ns since the epoch (naive = UTC); a bare date as --end means its last ns."""
    from recorder.analysis.timefmt import iso_to_ns

    try:
        return iso_to_ns(text, end=end)
    except ValueError:
        raise UsageError(f"{what} {text!r} is not an ISO-8601 date or datetime") from None


def _load_toml(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None


def settings_from(args: argparse.Namespace) -> dict[str, Any]:
    """Merge RUN.toml (if any) with flags; flags win."""
    s: dict[str, Any] = {}
    if getattr(args, "config", None):
        s = _load_toml(args.config)
        strategies = s.get("strategy", s.get("strategies", []))
        if isinstance(strategies, dict):
            strategies = [strategies]
        s["strategies"] = [
            (st["spec"] if isinstance(st, dict) else st, dict(st.get("params", {})) if isinstance(st, dict) else {})
            for st in strategies
        ]
    flags = {k: getattr(args, k.replace("-", "_"), None) for k in (
        "secmaster", "runs_db", "symbols", "publisher", "dataset", "symbol_type", "bar_period", "start", "end",
        "commission_per_unit", "minimum_commission", "in_process", "transport", "barrier_timeout",
        "expect_attach", "attach_timeout", "on_attach_loss", "listen", "curve", "broker_process")}
    s.update({k: v for k, v in flags.items() if v is not None})
    cli_strategies: list[tuple[str, dict[str, Any]]] = []
    for kind, value in getattr(args, "items", []) or []:
        if kind == "strategy":
            cli_strategies.append((value, {}))
        else:
            if not cli_strategies:
                raise UsageError(f"--param {value!r} must follow the --strategy it belongs to")
            name, sep, raw = value.partition("=")
            if not sep or not name:
                raise UsageError(f"--param {value!r}: expected NAME=VALUE")
            cli_strategies[-1][1][name.strip()] = raw
    if cli_strategies:
        s["strategies"] = cli_strategies
    return s


def build_orchestrator(s: dict[str, Any], progress: Any = None) -> Any:
    """Validated Orchestrator for the settings; raises UsageError naming what is wrong."""
    from components.broker import SimulatedBroker
    from components.datafeed import SimulatedDatafeed
    from components.spec import configured
    from orchestrator import strategies as strat
    from orchestrator.orchestrator import Orchestrator

    if not s.get("secmaster"):
        raise UsageError("--secmaster is required")
    secmaster = Path(s["secmaster"])
    if not secmaster.is_file():
        raise UsageError(f"secmaster database {secmaster} does not exist")
    if not s.get("strategies"):
        raise UsageError("give at least one --strategy")
    publisher, dataset = _publisher_dataset(secmaster, s.get("publisher"), s.get("dataset"))

    symbols_arg = s.get("symbols")
    symbols: list[str] | None = None
    if isinstance(symbols_arg, list):
        symbols = [str(x) for x in symbols_arg]
    elif symbols_arg and symbols_arg != "all":
        symbols = [x.strip() for x in str(symbols_arg).split(",") if x.strip()]

    period = _bar_period(s.get("bar_period"))
    classes = []
    for ref, params in s["strategies"]:
        try:
            cls = strat.resolve(ref)
            if period is not None and "bar_period" in (getattr(cls, "parameters", None) or {}) and "bar_period" not in params:
                params = {**params, "bar_period": period.name}  # the strategy follows the data, as in the seed
            classes.append(strat.with_parameters(cls, params, symbols))
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    feed_attrs: dict[str, Any] = {
        "db_path": str(secmaster), "publisher_name": publisher, "dataset": dataset, "symbols": symbols,
    }
    if s.get("symbol_type"):
        feed_attrs["symbol_type"] = str(s["symbol_type"])
    if period is not None:
        feed_attrs["bar_period"] = period
    if s.get("start"):
        feed_attrs["start_ts"] = parse_time(str(s["start"]), end=False, what="--start")
    if s.get("end"):
        feed_attrs["end_ts"] = parse_time(str(s["end"]), end=True, what="--end")
    if "start_ts" in feed_attrs and "end_ts" in feed_attrs and feed_attrs["start_ts"] > feed_attrs["end_ts"]:
        raise UsageError(f"empty date range: --start {s['start']} is after --end {s['end']}")
    datafeed = configured(SimulatedDatafeed, "_ConfiguredSimulatedDatafeed", **feed_attrs)
    broker_attrs = {}
    if s.get("commission_per_unit") is not None:
        broker_attrs["commission_per_unit"] = float(s["commission_per_unit"])
    if s.get("minimum_commission") is not None:
        broker_attrs["minimum_commission_per_order"] = float(s["minimum_commission"])
    broker = configured(SimulatedBroker, "_ConfiguredSimulatedBroker", **broker_attrs) if broker_attrs else SimulatedBroker

    orch_attrs: dict[str, Any] = {"db_path": str(s.get("runs_db") or "runs.db")}
    if s.get("transport"):
        orch_attrs["transport"] = s["transport"]
    if s.get("barrier_timeout"):
        orch_attrs["barrier_timeout"] = float(s["barrier_timeout"])
    if s.get("broker_process"):
        orch_attrs["broker_in_bus"] = False
    orch_attrs.update(_attach_attrs(s))
    orch_cls = configured(Orchestrator, "_ConfiguredOrchestrator", **orch_attrs)
    orch = orch_cls(classes, broker, datafeed, in_process=bool(s.get("in_process")), progress=progress)
    try:
        orch.prepare()
    except (ValueError, LookupError, OSError) as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    _check_runs_db(orch_attrs["db_path"])
    return orch


def _bar_period(value: Any) -> Any:
    """The BarPeriod a `bar_period` setting names (None when not set), in either spelling."""
    from components.models import BarPeriod
    from components.secmaster.csv_import import BAR_PERIODS

    if value in (None, ""):
        return None
    text = str(value)
    found = BAR_PERIODS.get(text.lower()) or BarPeriod.__members__.get(text.upper())
    if found is None:
        names = ", ".join(f"{p.name} ({short})" for short, p in BAR_PERIODS.items())
        raise UsageError(f"bar period {text!r} is not one of {names}")
    return found


def _check_runs_db(path: str) -> None:
    """Open an existing runs database now (upgrading a seed-made one), so a file that cannot be
    recorded into is one line before anything starts; a missing one is created by the run."""
    from recorder.runsdb import RunsDbError, connect

    if not Path(path).exists():
        return
    try:
        connect(path, create=False).close()
    except RunsDbError as exc:
        raise UsageError(str(exc)) from None


def _attach_attrs(s: dict[str, Any]) -> dict[str, Any]:
    """Orchestrator attributes for attaching (orchestrator/attach.py) and a network bind."""
    from bus.security import split_tcp

    attrs: dict[str, Any] = {}
    if s.get("expect_attach"):
        if int(s["expect_attach"]) < 0:
            raise UsageError("--expect-attach must be >= 0")
        attrs["expect_attach"] = int(s["expect_attach"])
    if s.get("attach_timeout"):
        attrs["attach_timeout"] = float(s["attach_timeout"])
    if s.get("on_attach_loss"):
        if s["on_attach_loss"] not in ("fail", "drop"):
            raise UsageError(f"on_attach_loss must be 'fail' or 'drop', not {s['on_attach_loss']!r}")
        attrs["on_attach_loss"] = s["on_attach_loss"]
    if s.get("listen"):
        try:
            split_tcp(str(s["listen"]))
        except ValueError as exc:
            raise UsageError(f"--listen: {exc}") from None
        attrs["listen"] = str(s["listen"])
    if s.get("curve"):
        attrs["curve"] = True
    if attrs.get("expect_attach") and s.get("in_process"):
        raise UsageError("--expect-attach needs a multi-process run (drop --in-process)")
    return attrs


def _publisher_dataset(secmaster: Path, publisher: str | None, dataset: str | None) -> tuple[str, str]:
    from components.secmaster import db as smdb

    try:
        conn = smdb.open_secmaster(secmaster, readonly=True)
    except (smdb.SecmasterError, ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    try:
        pairs = [(p.name, p.dataset) for p in smdb.list_publishers(conn)]
    finally:
        conn.close()
    if publisher:
        pairs = [(p, d) for p, d in pairs if p == publisher]
        if not pairs:
            raise UsageError(f"publisher {publisher!r} is not in {secmaster}")
    if dataset:
        pairs = [(p, d) for p, d in pairs if d == dataset]
        if not pairs:
            raise UsageError(f"dataset {dataset!r} is not in {secmaster}" + (f" for publisher {publisher!r}" if publisher else ""))
    if not pairs:
        raise UsageError(f"{secmaster} holds no data")
    if len(pairs) > 1:
        listed = ", ".join(f"{p}/{d}" for p, d in pairs)
        raise UsageError(f"{secmaster} holds several datasets ({listed}); choose with --publisher/--dataset")
    return pairs[0]


def print_summary(result: Any, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    print(f"run id   {result.run_id}")
    print(f"status   {result.status}")
    print(f"bars     {result.bars:,}")
    print(f"events   {result.events:,}")
    print(f"fills    {result.fills:,}")
    if getattr(result, "attached", None):
        print(f"attached {', '.join(result.attached)}")
    print(f"elapsed  {result.elapsed_s:.2f} s ({result.bars_per_s:,.0f} bars/s)")
    if result.error:
        print(f"error    {result.error.strip()}", file=sys.stderr)


def execute(s: dict[str, Any], as_json: bool) -> int:
    from orchestrator.progress import ProgressBar

    bar = ProgressBar()
    orch = build_orchestrator(s, progress=bar)
    try:
        result = orch.run()
    finally:
        bar.close()
    print_summary(result, as_json)
    return STATUS_EXIT.get(result.status, 1)


def cmd_run(args: argparse.Namespace) -> int:
    return execute(settings_from(args), args.json)
