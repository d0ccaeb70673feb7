"""Which run a command talks to: a run id, a run directory, an endpoint, or the only live run.

`attach`, `monitor` and `ps` share this so the same words mean the same run everywhere. With no
run given: the single live run; several: ask on a terminal, otherwise list them and exit 2. A bus
on another machine is reached by its endpoint plus its access key (`--key`, bus/security.py).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bus import ControlClient, Endpoints
from bus.security import endpoints_from_key, read_access_key
from orchestrator.errors import UsageError
from orchestrator.rundir import RunInfo, live_runs, read_run_info


@dataclass
class Target:
    """A bus to talk to; `info` is None for a bus whose run directory is not on this machine."""

    endpoints: Endpoints
    info: RunInfo | None = None
    key_metadata: dict[str, str] = field(default_factory=dict)

    @property
    def run_id(self) -> str | None:
        return self.info.run_id if self.info else self.key_metadata.get("run-id")

    @property
    def label(self) -> str:
        return self.run_id or self.endpoints.members

    @property
    def symbols(self) -> list[str] | None:
        if self.info is not None:
            return list(self.info.symbols)
        listed = self.key_metadata.get("symbols")
        return listed.split(",") if listed else None


def locate(run: str | None, key: str | None = None, *, interactive: bool | None = None) -> Target:
    """Resolve what the user typed (see the module docstring); UsageError when it is ambiguous
    or names nothing live. A `key` given is the key used, also for a live run of this machine
    (which has one of its own): UsageError at once when it is not that run's."""
    target = _resolve(run, key, interactive)
    return _with_key(target, key) if key else target


def _resolve(run: str | None, key: str | None, interactive: bool | None) -> Target:
    metadata = _key_metadata(key)
    if run is None:
        if key:
            eps = _endpoints_from_key(key, None)
            return _local_match(eps) or Target(eps, None, metadata)
        return _target(_choose(live_runs(), interactive))
    if run.startswith(("tcp://", "ipc://")):
        for info in live_runs():
            eps = _load(info)
            if run in (eps.members, info.listen):
                return Target(eps, info)
        if key:
            return Target(_endpoints_from_key(key, run), None, metadata)
        raise UsageError(f"no live run on this machine listens on {run}; for a bus elsewhere give --key FILE "
                         "(the run's access.key)")
    path = Path(run)
    if path.is_dir():
        found_info = read_run_info(path)
        if found_info is not None:
            return _target(found_info)
        try:
            return Target(Endpoints.load(path))
        except (OSError, ValueError, KeyError):
            raise UsageError(f"{run} is not a live run directory (no run.json or endpoints.json)") from None
    runs = live_runs()
    for pick in (lambda r: r.run_id == run, lambda r: Path(r.run_dir).name == run, lambda r: r.run_id.startswith(run)):
        found = [r for r in runs if pick(r)]
        if len(found) == 1:
            return _target(found[0])
        if len(found) > 1:
            raise UsageError(f"{run!r} matches several live runs: {', '.join(r.run_id for r in found)}")
    live = ", ".join(r.run_id for r in runs) or "none"
    raise UsageError(f"no live run {run!r} on this machine (live runs: {live})")


def _with_key(target: Target, key: str) -> Target:
    """`target` reached with the access key `key`: refused if it belongs to another bus."""
    eps = target.endpoints
    if eps.curve_server_key is None:
        raise UsageError(f"--key {key}: run {target.label} takes no key (its bus is on ipc, for this "
                         "machine's user only)")
    server_key = _key_metadata(key).get("server-key")
    if server_key != eps.curve_server_key:
        raise UsageError(f"--key {key} is not the access key of run {target.label} (another run's key?)")
    return Target(dataclasses.replace(eps, curve_key_file=str(Path(key).absolute())), target.info, target.key_metadata)


def _load(info: RunInfo) -> Endpoints:
    try:
        return Endpoints.load(info.endpoints)
    except (OSError, ValueError, KeyError):
        raise UsageError(f"run {info.run_id}: its bus is not up (no {info.endpoints})") from None


def _target(info: RunInfo) -> Target:
    return Target(_load(info), info)


def _key_metadata(key: str | None) -> dict[str, str]:
    if not key:
        return {}
    try:
        return dict(read_access_key(key).metadata)
    except Exception as exc:  # noqa: BLE001 - BusError or OSError: one line for the user
        raise UsageError(str(exc)) from None


def _endpoints_from_key(key: str, endpoint: str | None) -> Endpoints:
    try:
        return endpoints_from_key(key, endpoint)
    except Exception as exc:  # noqa: BLE001
        raise UsageError(str(exc)) from None


def _local_match(eps: Endpoints) -> Target | None:
    for info in live_runs():
        local = _load(info)
        if local.members == eps.members:
            return Target(local, info)
    return None


def _choose(runs: list[RunInfo], interactive: bool | None) -> RunInfo:
    if not runs:
        raise UsageError("no live run on this machine (start one with `tickbus run`, or give "
                         "tcp://HOST:PORT --key FILE for a run elsewhere)")
    if len(runs) == 1:
        return runs[0]
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stderr.isatty()
    lines = [f"  {i}) {line}" for i, line in enumerate(format_runs(runs, header=False), 1)]
    if not interactive:
        print("several live runs:\n" + "\n".join(lines), file=sys.stderr)
        raise UsageError("several live runs: give a run id, a run directory or an endpoint")
    print("several live runs:\n" + "\n".join(lines), file=sys.stderr)
    while True:
        answer = input(f"pick a run [1-{len(runs)}]: ").strip()
        if answer.isdigit() and 1 <= int(answer) <= len(runs):
            return runs[int(answer) - 1]


# --- describing runs (ps, the chooser) ------------------------------------------------------------

def run_summary(info: RunInfo, timeout: float = 1.0) -> dict[str, Any]:
    """run id, age, progress and members of a live run (members: None if the bus did not answer)."""
    progress = info.progress()
    members: list[str] | None
    try:
        with ControlClient(info.endpoints, timeout=timeout) as ctl:
            members = sorted(ctl.members())
    except Exception:  # noqa: BLE001 - a bus starting or stopping: show what we know
        members = None
    return {
        "run_id": info.run_id, "pid": info.pid, "run_dir": info.run_dir, "age_s": round(time.time() - info.started_unix, 1),
        "progress": progress, "members": members, "listen": info.listen, "strategies": info.strategies,
    }


def format_age(seconds: float) -> str:
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def format_progress(progress: dict[str, Any] | None, awaited: int = 0) -> str:
    if not progress:
        return f"awaits {awaited} attach" if awaited > 0 else "starting"
    sent, total = int(progress.get("bars_sent", 0)), int(progress.get("bars_total", 0))
    pct = 100.0 * sent / total if total else 100.0
    return ("done " if progress.get("done") else "") + f"{pct:.0f}% {sent:,}/{total:,}"


def _attached(summary: dict[str, Any]) -> list[str]:
    own = set(summary["strategies"]) | {"recorder", "broker", "datafeed"}
    return [m for m in summary["members"] or [] if m not in own]


def format_members(summary: dict[str, Any]) -> str:
    members = summary["members"]
    if members is None:
        return "(bus not answering)"
    attached = set(_attached(summary))
    names = [f"+{m}" if m in attached else m for m in members]  # + marks an attached strategy
    return f"{len(members)}: {' '.join(names)}"


def format_runs(runs: list[RunInfo], header: bool = True) -> list[str]:
    rows = []
    for info in runs:
        s = run_summary(info)
        awaited = info.expect_attach - len(_attached(s)) if s["members"] is not None else 0
        rows.append((s["run_id"], format_age(s["age_s"]), format_progress(s["progress"], awaited), format_members(s)))
    width = max([len("RUN ID")] + [len(r[0]) for r in rows])
    lines = [f"{'RUN ID':<{width}}  {'AGE':>6}  {'PROGRESS':<20}  MEMBERS"] if header else []
    lines += [f"{r[0]:<{width}}  {r[1]:>6}  {r[2]:<20}  {r[3]}" for r in rows]
    return lines
