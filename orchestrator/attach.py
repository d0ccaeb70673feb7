"""Attaching a strategy to a live run: this process becomes one more strategy member of its bus.

Why in this process rather than a child: Ctrl-C then reaches the strategy directly (a graceful
detach: it leaves the bus, the run goes on), and killing this process is what losing an
attached strategy really looks like to the run. It is still the very runtime the orchestrator's
children use - the class is rebuilt from the same spec (components.spec) and driven by
components.runtime.serve - so attached and launched strategies behave identically.

The bus routes each message to the members joined when it is forwarded, and a timestamp's bars
never span two messages: an attached strategy sees every bar from the first timestamp after its
join, never half of one. It asks to join critical (its loss fails the run) unless on_loss is "drop";
the run decides (bus/policy.py): only the attachers it expects (--expect-attach) can be critical.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, TextIO

from bus import BusClient, BusError, ControlClient, JoinError
from bus import protocol as P
from bus import run_contract as RC
from bus.security import check_access
from components import runtime
from components.secmaster.db import ns_to_iso
from components.spec import class_spec
from orchestrator import attached
from orchestrator.errors import UsageError
from orchestrator.locate import Target
from orchestrator.rundir import utc_now_iso

JOIN_ATTEMPTS = 5  # another attacher may take the same id between our check and our join


@dataclass
class Session:
    """What one attached strategy did; printed at the end (and as JSON with --json)."""

    strategy_id: str
    run: str
    joined_at: str = ""
    first_bar_ns: int | None = None
    last_bar_ns: int | None = None
    bars: int = 0
    fills: int = 0
    left: str = ""
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy_id": self.strategy_id, "run": self.run, "joined_at": self.joined_at,
            "first_bar": ns_to_iso(self.first_bar_ns) if self.first_bar_ns is not None else None,
            "last_bar": ns_to_iso(self.last_bar_ns) if self.last_bar_ns is not None else None,
            "first_bar_ns": self.first_bar_ns, "last_bar_ns": self.last_bar_ns,
            "bars": self.bars, "fills": self.fills, "left": self.left, "error": self.error,
        }


def check_symbols(cls: type, target: Target) -> None:
    """The broker rejects orders for symbols the run does not replay: refuse them up front."""
    wanted = list(getattr(cls, "symbols", None) or [])
    run_symbols = target.symbols
    if not wanted or run_symbols is None:
        return
    missing = [s for s in wanted if s not in run_symbols]
    if missing:
        raise UsageError(f"symbol(s) {', '.join(missing)} not in run {target.label} "
                         f"(its symbols: {', '.join(run_symbols)})")


def unique_strategy_id(cls: type, target: Target, control: ControlClient, refused: set[str] | None = None) -> str:
    """The id `tickbus run` would give it, suffixed -2, -3, ... if the run already uses it (or
    the bus refused it: another attacher took it between our look and our join)."""
    from orchestrator.orchestrator import strategy_ids_for

    taken = set(control.members()) | (refused or set())
    if target.info is not None:
        taken |= attached.used_strategy_ids(target.info.runs_db, target.info.run_id)
    return next_free(strategy_ids_for([cls])[0], taken)


def next_free(base: str, taken: set[str]) -> str:
    sid, n = base, 2
    while sid in taken:
        sid, n = f"{base}-{n}", n + 1
    return sid


class _Detach:
    """First SIGINT/SIGTERM: detach gracefully (the serve loop notices within 0.2 s); a second
    SIGINT is the default one (KeyboardInterrupt) for a user who does not want to wait."""

    requested = False

    def install(self) -> None:
        def handler(signum: int, frame: Any) -> None:
            self.requested = True
            signal.signal(signal.SIGINT, signal.default_int_handler)

        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)


def attach(target: Target, cls: type, *, params: dict[str, Any], on_loss: str = "fail",
           log: TextIO = sys.stderr) -> tuple[int, Session]:
    """Join the run's bus as strategy `cls` and serve until detached or the run ends."""
    try:
        check_access(target.endpoints, timeout=5.0)
    except BusError as exc:
        raise UsageError(str(exc)) from None
    check_symbols(cls, target)
    detach = _Detach()
    detach.install()
    refused: set[str] = set()
    with ControlClient(target.endpoints, timeout=5.0) as control:
        for _ in range(JOIN_ATTEMPTS):
            sid = unique_strategy_id(cls, target, control, refused)
            session = Session(sid, target.label)
            try:
                return _serve(target, cls, sid, session, params=params, on_loss=on_loss, detach=detach, log=log), session
            except JoinError as exc:
                if "already joined" not in str(exc):
                    raise UsageError(str(exc)) from None
                refused.add(sid)
    raise UsageError(f"could not find a free strategy id after {JOIN_ATTEMPTS} attempts")


def _serve(target: Target, cls: type, sid: str, session: Session, *, params: dict[str, Any], on_loss: str,
           detach: _Detach, log: TextIO) -> int:
    spec = dict(class_spec(cls), init={"strategy_id": sid})
    strategy = runtime.instantiate(json.loads(json.dumps(spec)))  # exactly what a child rebuilds
    info = target.info
    entry = {
        "spec": class_spec(cls), "params": params, "symbols": list(getattr(cls, "symbols", None) or []) or None,
        "on_loss": on_loss, "host": socket.gethostname(), "pid": os.getpid(),
    }
    rec = (lambda fields: attached.record(info.runs_db, info.run_id, sid, fields)) if info else (lambda fields: None)
    client = BusClient(target.endpoints, sid)
    _observe(strategy, session, rec, entry, log, client)
    try:
        runtime.serve(strategy, client, critical=(on_loss == "fail"), should_stop=lambda: detach.requested)
        session.left = _why_left(detach.requested, client)
        client.leave()
        code = RC.EXIT_RUN_FAILED if session.left.startswith("lost") else RC.EXIT_OK
    except JoinError:
        raise
    except BusError as exc:
        session.left, session.error, code = f"error: {exc}", f"{type(exc).__name__}: {exc}", RC.EXIT_RUN_FAILED
        print(f"tickbus attach: {session.error}", file=log)
    except Exception:
        text = traceback.format_exc()
        session.left, session.error, code = f"error: {text.strip().splitlines()[-1]}", text, RC.EXIT_FAILED
        if client.critical:  # like a launched strategy: the run fails now, with our traceback
            if info is not None:
                runtime.report_failure(info.dir, runtime.exception_record(sid))
            else:
                print(text, file=log, end="")
                _fail_run(target, f"{sid} failed: {session.left}")
        else:
            print(text, file=log, end="")
    finally:
        client.close()
    if session.joined_at:
        try:
            rec({"left": session.left, "left_at": utc_now_iso(), "left_market_ns": session.last_bar_ns})
        except Exception as exc:  # noqa: BLE001 - the run's record is best effort once we are out
            print(f"tickbus attach: could not record the detach: {exc}", file=log)
    return code


def _observe(strategy: Any, session: Session, rec: Any, entry: dict[str, Any], log: TextIO, client: BusClient) -> None:
    """Hook the strategy instance (not runtime.serve): record the join once it is done (with
    what losing it does, as the run's policy decided: bus/policy.py) and the first timestamp
    seen, count bars and fills."""
    start, on_message = strategy.start, strategy.on_message

    def started() -> None:
        session.joined_at = utc_now_iso()
        on_loss = "fail" if client.critical else "drop"
        rec({**entry, "on_loss": on_loss, "attached_at": session.joined_at})
        note = "" if on_loss == entry["on_loss"] else "; the run does not expect it: losing it drops it"
        print(f"attached {session.strategy_id} to run {session.run} (Ctrl-C detaches; the run goes on{note})",
              file=log, flush=True)
        start()

    def observed(topic: str, events: Any) -> None:
        if events:
            kind = type(events[0]).__name__
            if kind == "BarReceived":
                ts = events[0].ts_event_ns
                if session.first_bar_ns is None:
                    session.first_bar_ns = ts
                    rec({"attached_market_ns": ts})
                session.last_bar_ns = events[-1].ts_event_ns
                session.bars += len(events)
            elif kind == "FillEvent":
                session.fills += sum(1 for e in events if e.strategy_id == session.strategy_id)
        on_message(topic, events)

    strategy.start = started
    strategy.on_message = observed


def _why_left(detached: bool, client: BusClient) -> str:
    if detached:
        return "detached"
    reason = client.stop_reason or ""
    if reason.startswith(P.STOP_LOST):
        return "lost: " + reason[len(P.STOP_LOST):]
    if reason in (P.STOP_SHUTDOWN, P.STOP_REQUESTED):
        return "stopped with the run"
    return reason or "detached"


def _fail_run(target: Target, reason: str) -> None:
    try:
        with ControlClient(target.endpoints, timeout=1.0) as control:
            control.fail(reason)
    except Exception:  # noqa: BLE001 - the bus notices our exit anyway
        pass


def print_session(session: Session, as_json: bool, out: TextIO = sys.stdout) -> None:
    if as_json:
        print(json.dumps(session.to_dict()), file=out)
        return
    d = session.to_dict()
    print(f"strategy  {session.strategy_id}", file=out)
    print(f"run       {session.run}", file=out)
    print(f"joined    {session.joined_at or '-'} (first bar {d['first_bar'] or '-'})", file=out)
    print(f"left      {session.left or '-'} (last bar {d['last_bar'] or '-'})", file=out)
    print(f"bars      {session.bars:,}", file=out)
    print(f"fills     {session.fills:,}", file=out)
