"""Which runs a runs.db holds: opening it for reading, run rows, id look-up with suggestions.

Everything here reads the `runs` row and cheap aggregates only, so listing a database of many
large runs stays fast; the per-bar analysis lives in `load` and `analyse`.
"""

from __future__ import annotations

import difflib
import json
import platform
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bus.registry import pid_exited
from recorder import runsdb
from recorder.analysis.timefmt import iso_to_ns

#: The strategy of rows that carry no strategy id, when the run does not say whose they are.
UNATTRIBUTED = "unattributed"

#: `latest` names the newest run (by start time), so `tickbus runs report latest` works after a run.
LATEST = "latest"


class UnknownRunError(LookupError):
    """No run of that id; the message lists the closest ids."""


@dataclass(frozen=True)
class RunInfo:
    """One `runs` row, config and metadata decoded."""

    run_id: str
    name: str
    status: str
    ts_start: int
    ts_end: int | None
    config: dict[str, Any]
    metadata: dict[str, Any] | None
    error: str | None

    def orchestrator_gone(self) -> str | None:
        """Why this `running` run has certainly nobody running it (its orchestrator, on this host,
        is gone: the pid exited or now names a newer process), else None."""
        if self.status != "running":
            return None
        return owner_gone(self.metadata, "orchestrator")

    @property
    def shown_status(self) -> str:
        """The status to show: `abandoned` for a `running` run whose orchestrator is gone."""
        return "abandoned" if self.orchestrator_gone() else self.status

    @property
    def wall_time_s(self) -> float:
        """Seconds from start to end, or to now for a run still running."""
        end = self.ts_end if self.ts_end is not None else time.time_ns()
        return max(0, end - self.ts_start) / 1e9

    @property
    def recorded_by_seed(self) -> bool:
        """Recorded by onesecondtrader (tickbus records its components in the config;
        onesecondtrader does not, and records no strategy id on any event)."""
        return "components" not in self.config

    @property
    def strategy_ids(self) -> list[str]:
        """Strategy ids in configuration order (the ids fills carry). A seed run has one strategy
        here whatever it configured: its events say nothing about which strategy placed them."""
        comps = (self.config.get("components") or {}).get("strategies") or []
        ids = [str(c["strategy_id"]) for c in comps if isinstance(c, dict) and c.get("strategy_id")]
        if ids or not self.recorded_by_seed:
            return ids or [str(s) for s in self.config.get("strategies") or []]
        return [self.unattributed]

    @property
    def unattributed(self) -> str:
        """The strategy that rows without a strategy id are shown under: in a seed run, its only
        strategy's name, or all its strategies' names joined with ' + '."""
        names = [str(s) for s in self.config.get("strategies") or []]
        return " + ".join(names) if names and self.recorded_by_seed else UNATTRIBUTED

    @property
    def attribution_note(self) -> str | None:
        """What a reader of a seed run's figures needs to know, or None."""
        if not self.recorded_by_seed:
            return None
        names = [str(s) for s in self.config.get("strategies") or []]
        if len(names) > 1:
            return (f"Recorded by onesecondtrader, which does not record which strategy placed an order: the fills of"
                    f" its {len(names)} strategies are shown together, under '{self.unattributed}'.")
        return "Recorded by onesecondtrader, which records no strategy id: every fill is its one strategy's."

    @property
    def range_ns(self) -> tuple[int | None, int | None]:
        """The configured replay bounds (inclusive ns), from either tool's config keys."""
        return _bound(self.config, "start"), _bound(self.config, "end")

    @property
    def record_level(self) -> str:
        """Which events the run recorded (recorder/tables.py RECORD_LEVELS); `all` for a run
        whose config does not say (every run recorded before record levels existed, and onesecondtrader's)."""
        level = self.config.get("record")
        return level if isinstance(level, str) and level else "all"

    @property
    def symbols(self) -> list[str]:
        return [str(s) for s in self.config.get("symbols") or []]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "name": self.name, "status": self.status,
            "ts_start": self.ts_start, "ts_end": self.ts_end, "wall_time_s": round(self.wall_time_s, 3),
            "config": self.config, "metadata": self.metadata, "error": self.error,
        }


def owner_gone(metadata: Any, role: str) -> str | None:
    """Why the process that recorded itself in `metadata` as `{role}_pid` (with `host` and
    `{role}_start`) is certainly gone (on this host: its pid exited or names a newer process)."""
    meta = metadata if isinstance(metadata, dict) else {}
    pid, host = meta.get(f"{role}_pid"), meta.get("host")
    if not isinstance(pid, int) or (host and host != platform.node()):
        return None
    start = meta.get(f"{role}_start")
    return f"its {role} (pid {pid}) is gone" if pid_exited(pid, start if isinstance(start, str) else None) else None


def open_runs_db(path: str | Path) -> sqlite3.Connection:
    """Open an existing runs.db for reading (never writing it, whichever tool made it);
    RunsDbError names what is wrong with the file."""
    return runsdb.connect_readonly(path)


def _bound(config: dict[str, Any], which: str) -> int | None:
    """tickbus's `start_ns`; an older tickbus's ns in `start_date`; onesecondtrader's date text there."""
    ns = config.get(f"{which}_ns")
    value = ns if isinstance(ns, int) and not isinstance(ns, bool) else config.get(f"{which}_date")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value:
        try:
            return iso_to_ns(value, end=which == "end")
        except ValueError:
            return None
    return None


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"unparsed": text}


def _info(row: tuple[Any, ...]) -> RunInfo:
    run_id, name, status, ts_start, ts_end, config, metadata, error = row
    cfg = _json(config)
    return RunInfo(run_id, name, status, ts_start, ts_end, cfg if isinstance(cfg, dict) else {}, _json(metadata), error)


_RUN_COLUMNS = "run_id, name, status, ts_start, ts_end, config, metadata, error"


def run_ids(conn: sqlite3.Connection) -> list[str]:
    """Every run id, newest first."""
    return [r[0] for r in conn.execute("SELECT run_id FROM runs ORDER BY ts_start DESC, run_id DESC")]


def all_runs(conn: sqlite3.Connection) -> list[RunInfo]:
    """Every run row, newest first."""
    rows = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY ts_start DESC, run_id DESC")
    return [_info(r) for r in rows]


def get_run(conn: sqlite3.Connection, run_id: str) -> RunInfo:
    """The run row of `run_id` (or of the newest run for `latest`).

    Raises UnknownRunError listing the closest ids (difflib), or the newest ones when nothing is
    close, so a mistyped id is one copy-paste away from the right one.
    """
    if run_id == LATEST:
        row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY ts_start DESC, run_id DESC LIMIT 1").fetchone()
        if row is None:
            raise UnknownRunError("the runs database holds no runs")
        return _info(row)
    row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    if row is not None:
        return _info(row)
    ids = run_ids(conn)
    if not ids:
        raise UnknownRunError(f"no run {run_id!r}: the runs database holds no runs")
    close = difflib.get_close_matches(run_id, ids, n=3, cutoff=0.4)
    if close:
        raise UnknownRunError(f"no run {run_id!r}; closest: {', '.join(close)}")
    raise UnknownRunError(f"no run {run_id!r}; newest: {', '.join(ids[:3])}")


def count_rows(conn: sqlite3.Connection, table: str, run_id: str) -> int:
    return int(conn.execute(f"SELECT COUNT(*) FROM {table} WHERE run_id = ?", (run_id,)).fetchone()[0])
