"""One variant on a worker: an ordinary run into a private runs database, handed back as rows.

`run_variant` runs where the executor puts it (a local worker process, or a Dask worker thread):
it builds the run exactly as `tickbus run` does from the same settings (the secmaster slice and
the strategy file where the shipments put them on this host), runs it, stores its figures, and
returns the run row and every recorded row, which the driver merges into the user's runs.db
(orchestrator/sweep/store.py). Whatever goes wrong is returned as a failed result with its
traceback, never raised: the sweep goes on.
"""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.sweep.shipping import Shipment, materialise, strategy_path

CANCEL_POLL_S = 1.0


def run_variant(task: dict[str, Any], secmaster: Shipment, strategy: Shipment | None = None) -> dict[str, Any]:
    """The variant's result: status, error, bars, elapsed_s, worker, and (once its run exists)
    `run` (the run row's values) and `tables` ({table: (columns, rows)}, run_metrics included)."""
    started = time.monotonic()
    out: dict[str, Any] = {"variant": task["variant"], "status": "failed", "error": None, "bars": 0,
                           "worker": f"{platform.node()}:{os.getpid()}"}
    folder = tempfile.mkdtemp(prefix="tickbus-variant-")
    try:
        out.update(_run(task, secmaster, strategy, Path(folder) / "runs.db"))
    except Exception:  # noqa: BLE001 - the variant's failure, reported as its result
        out["error"] = traceback.format_exc()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    out["elapsed_s"] = time.monotonic() - started
    return out


def _run(task: dict[str, Any], secmaster: Shipment, strategy: Shipment | None, db: Path) -> dict[str, Any]:
    from orchestrator.commands.run import build_orchestrator
    from recorder import metrics

    ref = task["strategy"]
    if strategy is not None:
        ref = f"{strategy_path(strategy)}:{ref.rpartition(':')[2]}"
    settings = {**task["settings"], "secmaster": str(materialise(secmaster)), "runs_db": str(db),
                "strategies": [(ref, {**task["fixed"], **task["params"]})]}
    orch = build_orchestrator(settings)
    stop_watching = _cancel_watch(task["sweep_id"], orch)
    try:
        result = orch.run()
    finally:
        stop_watching()
    if result.status == "completed" and orch.record == "all":  # below `all` the run stored them itself
        metrics.store(db, result.run_id, orch.prepare().datafeed)
    return {"status": result.status, "error": result.error, "bars": result.bars, **extract(db, result.run_id)}


def cancel_event_name(sweep_id: str) -> str:
    """The Dask Event a driver sets to cancel its sweep's running variants."""
    return f"tickbus-cancel-{sweep_id}"


def _cancel_watch(sweep_id: str, orch: Any) -> Callable[[], None]:
    """On a Dask worker (where a running task cannot be interrupted), a thread that cancels the
    run once the driver sets the sweep's cancel Event; elsewhere nothing (a local worker is
    stopped with SIGTERM). Returns what stops the watch."""
    try:
        from distributed import Event, get_client, get_worker

        get_worker()
        client = get_client()  # (in the task's thread: the watch's thread has no worker context)
    except (ImportError, ValueError):
        return lambda: None
    finished = threading.Event()

    def watch() -> None:
        event = Event(cancel_event_name(sweep_id), client=client)
        while not finished.is_set():
            try:
                if event.wait(timeout=CANCEL_POLL_S):
                    orch.cancel("the sweep was cancelled")
                    return
            except Exception:  # noqa: BLE001 - the scheduler is gone: the driver has its own word on that
                return

    threading.Thread(target=watch, name="tickbus-cancel-watch", daemon=True).start()
    return finished.set


def extract(db: Path, run_id: str) -> dict[str, Any]:
    """The run row and every row the run recorded, by table (columns named, so the driver can
    check them against its own schema)."""
    from recorder import runsdb

    conn = sqlite3.connect(db)
    try:
        run = conn.execute("SELECT name, ts_start, ts_end, status, config, metadata, error FROM runs WHERE run_id = ?",
                           (run_id,)).fetchone()
        tables: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
        for table, ref in runsdb.reference_tables().items():
            if not ref.of_run:
                continue
            cols = [c for c, _ in ref.columns if c not in ("id", "run_id")]
            order = " ORDER BY id" if any(c == "id" for c, _ in ref.columns) else ""
            rows = conn.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE run_id = ?{order}", (run_id,)).fetchall()
            if rows:
                tables[table] = (cols, rows)
        return {"run": run, "tables": tables}
    finally:
        conn.close()
