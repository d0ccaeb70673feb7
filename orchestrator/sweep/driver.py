"""The sweep's driver: submits every variant to an executor (local pool or Dask: the same
submit -> future -> result path), merges each result into runs.db as it arrives (store.py), and
ends the sweep with one status.

  completed  every variant ran (some may have failed: each is recorded with its error)
  failed     --max-failures variants failed, or the Dask scheduler went away, or runs.db refused
             a merge; what was merged stays, the rest stays pending for `resume`
  cancelled  Ctrl-C or SIGTERM: queued variants are dropped, running ones stopped (local) or
             left to finish unheard (Dask); what was merged stays, the rest stays pending

A failed variant's worker result carries its traceback; an executor-side failure (a local worker
that died twice, a Dask KilledWorker) is recorded with what the executor says.
"""

from __future__ import annotations

import queue
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from orchestrator.sweep import store
from orchestrator.sweep.plan import SweepPlan
from orchestrator.sweep.progress import SweepProgress
from recorder.layout import METRIC_COLUMNS

WAIT_S = 0.25


class Executor(Protocol):
    size: int

    def submit(self, task: dict[str, Any], secmaster: Any, strategy: Any) -> Any: ...

    def result(self, future: Any, variant: int) -> dict[str, Any]: ...

    def close(self, cancel: bool = False, sweep_id: str | None = None) -> None: ...


@dataclass
class SweepOutcome:
    sweep_id: str
    status: str
    error: str | None
    elapsed_s: float


class _Stopped(Exception):
    """The sweep stops early (max failures, a lost scheduler, a merge runs.db refused)."""


def figures(result: dict[str, Any]) -> dict[str, Any]:
    """The run's own figures in a worker's result (its run_metrics row for the whole run)."""
    cols, rows = result.get("tables", {}).get("run_metrics", ([], []))
    for row in rows:
        values = dict(zip(cols, row))
        if values.get("strategy_id") == "" and values.get("symbol") == "":
            return {k: values.get(k) for k in METRIC_COLUMNS}
    return {}


class _Signals:
    """Ctrl-C and SIGTERM, noted by a handler and acted on by the driver's loop between two
    merges (a KeyboardInterrupt raised wherever the signal lands could be swallowed by a
    finalizer, or cut a merge short). Main thread only; elsewhere the caller cancels."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.saved[sig] = signal.signal(sig, self._note)
        return self

    def _note(self, signum: int, frame: Any) -> None:
        self.received = signum

    def check(self) -> None:
        if self.received is not None:
            raise KeyboardInterrupt

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)


def run(plan: SweepPlan, conn: sqlite3.Connection, sweep_id: str, todo: list[tuple[Any, ...]],
        executor: Any, *, progress: SweepProgress | None = None, on_merged: Callable[[int], None] | None = None,
        keep_open: bool = False, finish: bool = True) -> SweepOutcome:
    """Run the `todo` variants (variant number, params[, (start_ns, end_ns)]) of sweep `sweep_id`
    and record the outcome. `keep_open`: leave the executor open when every variant was merged
    (the caller runs more on it, and closes it); `finish`: record the sweep's status (else only
    when it did not complete)."""
    started = time.monotonic()
    total = int(conn.execute("SELECT variants FROM sweeps WHERE sweep_id = ?", (sweep_id,)).fetchone()[0])
    max_failures = plan.settings.get("max_failures")
    failed = int(conn.execute("SELECT failed FROM sweeps WHERE sweep_id = ?", (sweep_id,)).fetchone()[0])
    status, error = "completed", None
    futures: dict[Any, tuple[int, dict[str, Any]]] = {}
    finished: queue.Queue[Any] = queue.Queue()  # fed by the futures' done callbacks: O(1) per variant
    try:
        with _Signals() as signals:
            for variant, params, *bounds in todo:
                signals.check()
                task = plan.task(sweep_id, variant, params, *bounds)
                future = executor.submit(task, plan.secmaster, plan.strategy_file)
                futures[future] = (variant, params)
                future.add_done_callback(finished.put)
            while futures:
                signals.check()
                check = getattr(executor, "check", None)
                if check is not None:
                    check()
                for future in _finished(finished):
                    if future not in futures:
                        continue
                    variant, params = futures.pop(future)
                    result = executor.result(future, variant)
                    info = {"sweep_id": sweep_id, "variant": variant, "params": params}
                    signals.check()
                    if store.merge(conn, sweep_id, total, _label(plan, params), result, info):
                        failed += result["status"] != "completed"
                        if progress is not None:
                            progress.add(result, figures(result), params)
                        if on_merged is not None:
                            on_merged(variant)
                    if max_failures is not None and failed >= max_failures:
                        raise _Stopped(f"stopped after {failed} failed variants (--max-failures {max_failures})")
    except KeyboardInterrupt:
        status, error = "cancelled", "interrupted: the variants not merged stay pending (tickbus sweep resume)"
    except _Stopped as exc:
        status, error = "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - a lost scheduler, a runs.db that refused a merge
        status, error = "failed", _lost(executor) or f"{type(exc).__name__}: {exc}"
    finally:
        for future in futures:
            future.cancel()
        if not keep_open or futures or status != "completed":
            executor.close(cancel=bool(futures), sweep_id=sweep_id)
        if progress is not None:
            progress.close()
    if finish or status != "completed":
        store.finish(conn, sweep_id, status, error)
    return SweepOutcome(sweep_id, status, error, time.monotonic() - started)


def _finished(finished: queue.Queue[Any]) -> list[Any]:
    """The futures done since the last call, waiting at most WAIT_S for the first."""
    try:
        out = [finished.get(timeout=WAIT_S)]
    except queue.Empty:
        return []
    while True:
        try:
            out.append(finished.get_nowait())
        except queue.Empty:
            return out


def _lost(executor: Any) -> str | None:
    """What the executor says is wrong with it (a Dask scheduler gone), if anything."""
    check = getattr(executor, "check", None)
    try:
        if check is not None:
            check()
    except Exception as exc:  # noqa: BLE001 - its own words
        return str(exc)
    return None


def _label(plan: SweepPlan, params: dict[str, Any]) -> str:
    """A variant run's name: the strategy and its grid values."""
    from components.strategy_classes import display_name

    return f"{display_name(plan.strategy_class)} " + " ".join(f"{k}={v}" for k, v in params.items())
