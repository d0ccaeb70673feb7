"""The run's record of attached strategies: config["attached"] in runs.db, one entry each.

Why two writers: an attacher knows best when it saw its first bar and why it left, so it records
itself; but a SIGKILLed attacher, or one on another machine, cannot, so the orchestrator watches
the bus's members and fills in what is missing (attach, loss, detach, market times from the
recorded events). Attacher writes overwrite, the orchestrator's only add missing keys. Each
write is a read-modify-write in one BEGIN IMMEDIATE transaction (WAL + busy timeout: writers
take turns with the recorder).

Entry keys: strategy_id, spec, params, symbols, on_loss, host, pid; attached_at (wall, ISO UTC),
attached_market_ns (first timestamp it saw); left ("detached", "stopped with the run",
"lost: <why>", "error: <what>"), left_at, left_market_ns (last timestamp it saw).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from orchestrator.rundir import utc_now_iso
from recorder import runsdb

POLL_S = 0.25  # how often the orchestrator looks at the bus's members during a run


def record(db_path: str | Path, run_id: str, strategy_id: str, fields: dict[str, Any], *,
           overwrite: bool = True, timeout: float = 10.0) -> None:
    """Merge `fields` into the strategy's entry of config["attached"] (created if missing)."""
    conn = runsdb.connect(db_path, create=False, timeout=timeout)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT config FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise runsdb.RunsDbError(f"{db_path}: no run {run_id!r}")
            entries = list((json.loads(row[0]) if row[0] else {}).get("attached") or [])
            entry = next((e for e in entries if e.get("strategy_id") == strategy_id), None)
            if entry is None:
                entry = {"strategy_id": strategy_id}
                entries.append(entry)
            for k, v in fields.items():
                if overwrite or k not in entry:
                    entry[k] = v
            runsdb.update_config(conn, run_id, {"attached": entries})  # commits our transaction
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
    finally:
        conn.close()


def used_strategy_ids(db_path: str | Path, run_id: str) -> set[str]:
    """Every strategy id the run has used (its own and earlier attachers'): ids must stay unique
    for the whole run, not just among the members of the moment, or records would mix."""
    conn = runsdb.connect(db_path, create=False)
    try:
        row = conn.execute("SELECT config FROM runs WHERE run_id = ?", (run_id,)).fetchone()
    finally:
        conn.close()
    config = json.loads(row[0]) if row and row[0] else {}
    ids = {s.get("strategy_id") for s in (config.get("components") or {}).get("strategies", [])}
    ids |= {e.get("strategy_id") for e in config.get("attached") or []}
    return {i for i in ids if isinstance(i, str)}


class AttachWatcher:
    """Orchestrator side: notices attached members (any member it did not start) and records
    them; waits for `--expect-attach`; stops them with the strategies; explains their loss."""

    def __init__(self, db_path: str | Path, run_id: str, own: Iterable[str]) -> None:
        self.db_path = db_path
        self.run_id = run_id
        self.own = set(own)
        self.present: set[str] = set()
        self.seen: list[str] = []
        self._next_poll = 0.0

    def poll(self, control: Any, *, force: bool = False) -> dict[str, Any] | None:
        """At most every POLL_S (unless forced): record joins and departures; returns the stats."""
        now = time.monotonic()
        if not force and now < self._next_poll:
            return None
        self._next_poll = now + POLL_S
        try:
            stats = control.stats()
        except Exception:  # noqa: BLE001 - the bus is going away: nothing more to learn
            return None
        members, lost = stats.get("members", {}), stats.get("lost_members", {})
        for name, info in members.items():
            if name not in self.own and name not in self.present:
                self.present.add(name)
                if name not in self.seen:
                    self.seen.append(name)
                self._record(name, {"attached_at": utc_now_iso(), "pid": info.get("pid")})
        for name in sorted(self.present - set(members)):
            self.present.discard(name)
            left = f"lost: {lost[name]}" if name in lost else "detached"
            self._record(name, {"left": left, "left_at": utc_now_iso()})
        for name in lost:  # joined and lost between two polls
            if name not in self.own and name not in self.seen:
                self.seen.append(name)
                self._record(name, {"left": f"lost: {lost[name]}", "left_at": utc_now_iso()})
        return stats

    def wait_for(self, control: Any, expected: int, timeout: float, check: Callable[[], None]) -> None:
        """Bounded wait until `expected` attached strategies are joined (the replay waits)."""
        print(f"tickbus: run {self.run_id} waits up to {timeout:g} s for {expected} attached "
              f"strateg{'y' if expected == 1 else 'ies'} (tickbus attach {self.run_id} --strategy SPEC)",
              file=sys.stderr, flush=True)
        def missing(members: Mapping[str, Any]) -> str | None:
            joined = sum(1 for name in members if name not in self.own)
            return None if joined >= expected else f"{joined} of {expected} expected attached strategies joined"

        try:
            control.wait_members(missing, timeout, check=check, every=0.05)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc} (tickbus attach {self.run_id} --strategy SPEC)") from None
        finally:
            self.poll(control, force=True)  # records who joined

    def lost_reason(self, control: Any) -> str | None:
        """Why the bus failed, when an attached strategy's loss failed it."""
        stats = self.poll(control, force=True)
        if not stats or not stats.get("failed"):
            return None
        lost = stats.get("lost_members", {})
        for name in self.seen:  # the bus names the member whose loss failed it (bus/registry.py)
            if name in lost and str(stats["failed"]).startswith(f"member {name!r} lost"):
                return f"attached strategy {name!r} was lost: {lost[name]}"
        return None

    def stop_all(self, control: Any, timeout: float) -> None:
        """End the attached strategies with the run's own (before the recorder stops), bounded."""
        self.poll(control, force=True)
        names = sorted(self.present)
        for name in names:
            try:
                control.stop_member(name)
            except Exception:  # noqa: BLE001 - it may have left meanwhile
                pass
        deadline = time.monotonic() + timeout
        while self.present and time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                members = control.members()
            except Exception:  # noqa: BLE001
                break
            self.present &= set(members)
        for name in names:
            self._record(name, {"left": "stopped with the run", "left_at": utc_now_iso()})
        self.present.clear()

    def finish(self) -> None:
        """After the recorder flushed: market times from the recorded bars, where missing."""
        if not self.seen:
            return
        conn = runsdb.connect(self.db_path, create=False)
        try:
            row = conn.execute("SELECT config FROM runs WHERE run_id = ?", (self.run_id,)).fetchone()
            entries = {e.get("strategy_id"): e for e in (json.loads(row[0]) if row and row[0] else {}).get("attached", [])}
            missing = [n for n in self.seen  # attachers on this machine recorded their own
                       if not {"attached_market_ns", "left_market_ns"} <= set(entries.get(n, {}))]
            spans = {
                name: conn.execute(
                    "SELECT MIN(ts_event_ns), MAX(ts_event_ns) FROM bars_processed WHERE run_id = ? AND strategy_id = ?",
                    (self.run_id, name)).fetchone()
                for name in missing
            }
        finally:
            conn.close()
        for name, (first, last) in spans.items():
            if first is not None:
                self._record(name, {"attached_market_ns": first, "left_market_ns": last})

    def _record(self, name: str, fields: dict[str, Any]) -> None:
        try:
            record(self.db_path, self.run_id, name, fields, overwrite=False)
        except Exception:  # noqa: BLE001 - bookkeeping must never fail the run
            pass
