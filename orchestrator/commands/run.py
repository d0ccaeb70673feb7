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
from pathlib import Path
from typing import Any

from orchestrator import settings
from orchestrator.errors import UsageError

STATUS_EXIT = {"completed": 0, "failed": 1, "cancelled": 130}


class _Ordered(argparse.Action):
    """Keeps --strategy and --param in command-line order so params bind to their strategy."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        items = getattr(namespace, "items", None) or []
        items.append((self.dest, values))
        namespace.items = items


def add_run_arguments(p: argparse.ArgumentParser, *, strategies: bool = True) -> None:
    if strategies:
        p.add_argument("--strategy", dest="strategy", action=_Ordered, metavar="SPEC",
                       help="registered name, package.module:Class or path/file.py:Class (repeatable)")
        p.add_argument("--param", dest="param", action=_Ordered, metavar="NAME=VALUE",
                       help="parameter of the preceding --strategy")
    settings.add_flags(p)
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="run a backtest", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", help="RUN.toml with the same settings (orchestrator/settings.py)")
    add_run_arguments(p)
    p.set_defaults(func=cmd_run, items=[])


def parse_time(text: str, *, end: bool, what: str) -> int:
    """ISO-8601 to ns since the epoch (settings.parse_time); UsageError naming `what` if it is not."""
    try:
        return settings.parse_time(text, end=end, what=what)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def settings_from(args: argparse.Namespace, schema: dict[str, settings.Setting] = settings.SETTINGS,
                  config: str | None = None) -> dict[str, Any]:
    """RUN.toml (if any) merged with the flags; flags win. Both are checked against the schema."""
    config = config or getattr(args, "config", None)
    s: dict[str, Any] = settings.load_toml(config, schema) if config else {}
    s.update(settings.from_flags(args, schema))
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
    from components.models import BarPeriod
    from components.spec import configured
    from orchestrator import strategies as strat
    from orchestrator.orchestrator import Orchestrator
    from recorder import runsdb

    strategy_list = s.get("strategies")
    s = settings.validate({k: v for k, v in s.items() if v is not None and k != "strategies"})
    if strategy_list:
        s["strategies"] = strategy_list
    if not s.get("secmaster"):
        raise UsageError("--secmaster is required")
    secmaster = Path(s["secmaster"])
    if not secmaster.is_file():
        raise UsageError(f"secmaster database {secmaster} does not exist")
    if not s.get("strategies"):
        raise UsageError("give at least one --strategy")
    publisher, dataset = _publisher_dataset(secmaster, s.get("publisher"), s.get("dataset"))

    symbols: list[str] | None = s.get("symbols")

    period = BarPeriod[s["bar_period"]] if s.get("bar_period") else None
    classes = []
    for ref, params in s["strategies"]:
        try:
            cls = strat.resolve(ref)
            if period is not None and "bar_period" in (getattr(cls, "parameters", None) or {}) and "bar_period" not in params:
                params = {**params, "bar_period": period.name}  # the strategy follows the data, as in onesecondtrader
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

    runs_db = str(s.get("runs_db") or "runs.db")
    try:
        runsdb.check_usable(runs_db)
    except runsdb.RunsDbError as exc:
        raise UsageError(str(exc)) from None
    orch_attrs: dict[str, Any] = {"db_path": runs_db}
    if s.get("transport"):
        orch_attrs["transport"] = s["transport"]
    for key in ("barrier_timeout", "storage_timeout"):
        if s.get(key) is not None:
            orch_attrs[key] = s[key]
    if s.get("broker_process"):
        orch_attrs["broker_in_bus"] = False
    if s.get("record"):
        orch_attrs["record"] = s["record"]
    orch_attrs.update(_attach_attrs(s))
    orch_cls = configured(Orchestrator, "_ConfiguredOrchestrator", **orch_attrs)
    orch = orch_cls(classes, broker, datafeed, in_process=bool(s.get("in_process")), progress=progress)
    try:
        orch.prepare()
    except (ValueError, LookupError, OSError) as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    return orch


def _attach_attrs(s: dict[str, Any]) -> dict[str, Any]:
    """Orchestrator attributes for attaching (orchestrator/attach.py) and a network bind."""
    keys = ("expect_attach", "attach_timeout", "on_attach_loss", "listen", "curve")
    attrs = {key: s[key] for key in keys if s.get(key) is not None}
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

    from recorder.runsdb import RunsDbError

    bar = ProgressBar()
    orch = build_orchestrator(s, progress=bar)
    try:
        result = orch.run()
    except RunsDbError as exc:  # before the run row exists: nothing ran
        raise UsageError(str(exc)) from None
    finally:
        bar.close()
    print_summary(result, as_json)
    return STATUS_EXIT.get(result.status, 1)


def cmd_run(args: argparse.Namespace) -> int:
    return execute(settings_from(args), args.json)
