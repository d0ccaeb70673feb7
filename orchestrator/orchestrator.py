"""Orchestrator: assembles a run from component classes, runs it, and always cleans up.

`prepare()` validates the configuration against the data and gives the run's plan (RunPlan);
`run()` creates the run row, runs the plan in one process (the same component objects on a
synchronous dispatcher) or across processes (orchestrator/process_run.py: start, go, supervise,
tear down), and finishes the row with the outcome: completed, failed with its root cause (a
failure record, bus/run_contract.py), or cancelled. What was recorded stays in every case; a run
is completed only once the recorder confirmed every event is in the runs database.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import re
import signal
import sqlite3
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bus import run_contract as RC
from bus.registry import proc_start_time
from bus.run_contract import FailureRecord
from components import codec
from components.datafeed import Replayed
from components.spec import class_spec, configured
from components.strategy_classes import display_name
from orchestrator.process_run import ORCHESTRATOR, Outcome, ProcessRun, RunCancelled
from recorder import confirm, runsdb
from recorder.layout import keeps
from recorder.recorder import RunRecorder

ProgressFn = Callable[[int, int, float], None]


@dataclass
class RunResult:
    run_id: str
    status: str
    error: str | None = None
    bars: int = 0
    events: int = 0
    fills: int = 0
    elapsed_s: float = 0.0
    strategy_ids: list[str] = field(default_factory=list)
    barrier: dict[str, Any] | None = None
    attached: list[str] = field(default_factory=list)  # strategies that joined with `tickbus attach`
    failure: FailureRecord | None = None  # the root cause, unless completed

    @property
    def bars_per_s(self) -> float:
        return self.bars / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "error": self.error,
            "bars": self.bars,
            "events": self.events,
            "fills": self.fills,
            "elapsed_s": round(self.elapsed_s, 4),
            "bars_per_s": round(self.bars_per_s, 1),
            "strategy_ids": self.strategy_ids,
            "barrier": self.barrier,
            "attached": self.attached,
            "failure": None if self.failure is None else self.failure.to_dict(),
        }


def strategy_ids_for(strategies: Sequence[type]) -> list[str]:
    """Deterministic, topic-safe, unique ids from the strategies' names."""
    ids: list[str] = []
    for cls in strategies:
        explicit = getattr(cls, "strategy_id", "") or ""
        base = explicit or display_name(cls)
        base = re.sub(r"[^A-Za-z0-9_-]+", "-", base).strip("-_") or "strategy"
        sid, n = base, 2
        while sid in ids:
            sid, n = f"{base}-{n}", n + 1
        ids.append(sid)
    return ids


@functools.cache  # (reading the installed metadata costs milliseconds: a sweep runs thousands of runs)
def versions() -> dict[str, str]:
    import sys
    from importlib.metadata import PackageNotFoundError, version

    import msgpack

    try:
        tickbus = version("tickbus")
    except PackageNotFoundError:
        tickbus = "unknown"
    # numpy's and pyzmq's versions without importing them (~0.3 s an in-process run need not pay);
    # libzmq's is known once pyzmq is loaded (every multi-process run)
    loaded = sys.modules

    def of(name: str, dist: str) -> str:
        module = loaded.get(name)
        try:
            return str(module.__version__) if module is not None else version(dist)
        except PackageNotFoundError:
            return "unknown"

    zmq = loaded.get("zmq")
    libzmq = {"libzmq": zmq.zmq_version()} if zmq is not None else {}
    return {
        "tickbus": tickbus,
        "python": platform.python_version(),
        "pyzmq": of("zmq", "pyzmq"),
        **libzmq,
        "msgpack": ".".join(map(str, msgpack.version)),
        "numpy": of("numpy", "numpy"),
    }


@dataclass(frozen=True)
class RunPlan:
    """A run, validated against the data: the configured datafeed and broker, how many bars the
    datafeed will replay, and the symbols it replays."""

    datafeed: type
    broker: type
    total_bars: int
    symbols: list[str]


class Orchestrator:
    """Configured by class attributes like every component (subclass or `configured()` to change)."""

    db_path: str = "runs.db"
    transport: str = "ipc"
    #: Seconds in which no component finishes any message before the run fails as hung (the
    #: bus names what is pending); a long but moving run is never cut short.
    barrier_timeout: float = 30.0
    start_timeout: float = 20.0
    stop_timeout: float = 5.0
    #: Seconds any write to the runs database (the run row, the recorder's batches, the outcome)
    #: waits for another process's lock before it fails: the bound of a locked runs.db.
    storage_timeout: float = 30.0
    heartbeat_timeout: float = 1.0
    #: Timestamps the datafeed publishes between two barriers: how far a strategy with nothing
    #: working may run ahead of one that waits for the broker (1: a barrier after every timestamp).
    #: A short run uses less, so that its progress (written at barriers) moves in ~5% steps.
    window: int = 256
    #: Messages the recorder (trailing) may lag behind before the datafeed waits for it: bounds the
    #: memory the bus queues for it.
    trailing_backlog: int = 1000
    #: `tickbus attach` (orchestrator/attach.py): attached strategies the replay waits for (bounded
    #: by attach_timeout), what losing one does by default ("fail" | "drop"), and a tcp://HOST:PORT
    #: to bind the bus on. `listen` and `curve` make the bus tcp, which always requires the run's
    #: CURVE access key (bus/security.py).
    expect_attach: int = 0
    attach_timeout: float = 60.0
    on_attach_loss: str = "fail"
    listen: str | None = None
    curve: bool = False
    #: Run the broker inside the bus process (bus/hosted.py) instead of its own: a strategy's
    #: round with the broker crosses 2 socket hops instead of 4 (README, Performance). The
    #: strategies, the recorder and the datafeed keep their own processes either way.
    broker_in_bus: bool = True
    #: Which events the recorder stores (recorder/tables.py RECORD_LEVELS: all, trades, summary).
    #: Below `all` the bars are not in runs.db, so the run's metrics are computed from the
    #: datafeed's bars at the end and stored with it (recorder/metrics.py).
    record: str = "all"

    def __init__(
        self,
        strategies: Sequence[type],
        broker: type,
        datafeed: type,
        *,
        in_process: bool = False,
        progress: ProgressFn | None = None,
    ) -> None:
        if not strategies:
            raise ValueError("a run needs at least one strategy")
        self.strategies = list(strategies)
        self.broker = broker
        self.datafeed = datafeed
        self.in_process = in_process
        self.progress = progress
        self.strategy_ids = strategy_ids_for(self.strategies)
        self.run_id: str | None = None
        self.process_run: ProcessRun | None = None  # the current multi-process run
        self._cancel_reason: str | None = None
        self._plan: RunPlan | None = None
        self._replayed: Replayed | None = None  # what the datafeed kept of the bars it replayed

    @property
    def run_dir(self) -> Any:
        """The run directory of the current multi-process run (None in-process or before)."""
        return None if self.process_run is None else self.process_run.run_dir

    # --- the plan --------------------------------------------------------------------------------

    def prepare(self) -> RunPlan:
        """Validate the configuration against the data (no process is started); cached."""
        if self._plan is None:
            self._plan = self._make_plan()
        return self._plan

    def _run_symbols(self) -> list[str] | None:
        """Union of the strategies' symbols, or None when one of them wants every symbol."""
        symbols: list[str] = []
        for cls in self.strategies:
            own = list(getattr(cls, "symbols", []) or [])
            if not own:
                return None
            symbols += [s for s in own if s not in symbols]
        return symbols

    def _make_plan(self) -> RunPlan:
        symbols = self._run_symbols()
        datafeed_cls = self.datafeed
        if symbols is not None and getattr(datafeed_cls, "symbols", None) is None:
            datafeed_cls = configured(datafeed_cls, f"_Configured{self.datafeed.__name__}", symbols=symbols)
        probe = datafeed_cls()
        probe.open()
        try:
            total = int(probe.total_bars)
            resolved = list(getattr(probe, "active_symbols", None) or symbols or [])
        finally:
            probe.close()
        if hasattr(datafeed_cls, "total_bars_hint"):  # the run's datafeed need not count them again
            datafeed_cls = configured(datafeed_cls, f"_Configured{self.datafeed.__name__}", total_bars_hint=total)
        broker_cls = self.broker
        if getattr(broker_cls, "symbols", None) is None and resolved:
            broker_cls = configured(broker_cls, f"_Configured{self.broker.__name__}", symbols=resolved)
        history = getattr(broker_cls, "history", None)
        if isinstance(history, int) and history < self.window:  # a strategy may lag a window behind
            broker_cls = configured(broker_cls, f"_Configured{self.broker.__name__}", history=self.window)
        return RunPlan(datafeed_cls, broker_cls, total, resolved)

    def strategy_init(self) -> dict[str, Any]:
        """Constructor arguments every strategy of the run gets besides its id: no BarProcessed
        when the record level does not store them (each would be built, sent and dropped)."""
        return {} if keeps(self.record, "bars_processed") else {"bars_processed": False}

    def _config(self, plan: RunPlan) -> dict[str, Any]:
        return {
            "mode": "backtest",
            "symbols": plan.symbols,
            "strategies": [display_name(c) for c in self.strategies],
            **runsdb.range_config(getattr(plan.datafeed, "start_ts", None), getattr(plan.datafeed, "end_ts", None)),
            "in_process": self.in_process,
            "record": self.record,
            "components": {
                "strategies": [
                    {"strategy_id": sid, "spec": class_spec(cls)} for sid, cls in zip(self.strategy_ids, self.strategies)
                ],
                "broker": class_spec(plan.broker),
                "datafeed": class_spec(plan.datafeed),
            },
            "versions": versions(),
        }

    # --- running ---------------------------------------------------------------------------

    def run(self) -> RunResult:
        plan = self.prepare()
        conn = runsdb.connect(self.db_path, timeout=self.storage_timeout)
        try:
            names = [display_name(c) for c in self.strategies]
            # who runs it, so tools can tell a live `running` run from an abandoned one
            pid = os.getpid()
            metadata = {"orchestrator_pid": pid, "host": platform.node(), "orchestrator_start": proc_start_time(pid)}
            self.run_id = run_id = runsdb.create_run(conn, names, self._config(plan), metadata)
        except sqlite3.Error as exc:  # locked past the busy timeout, read-only, full
            raise runsdb.RunsDbError(f"{self.db_path}: cannot record a new run: {exc}") from None
        finally:
            conn.close()
        self._replayed = None
        recorder_cls = configured(RunRecorder, "_RunRecorder", db_path=str(self.db_path), run_id=run_id,
                                  busy_timeout=self.storage_timeout, record_level=self.record)
        started = time.monotonic()
        try:
            with _signals_to(self._on_signal):
                outcome = self._run_in_process(plan, recorder_cls) if self.in_process else self._run_processes(plan, recorder_cls)
        except Exception as exc:  # noqa: BLE001 - the orchestrator's own failure: recorded as such
            outcome = Outcome("failed", FailureRecord.now(ORCHESTRATOR, RC.EXCEPTION, ORCHESTRATOR,
                                                          f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        except BaseException:
            self._finish(run_id, Outcome("cancelled", FailureRecord.now(ORCHESTRATOR, RC.CANCELLED, None,
                                                                        traceback.format_exc())))
            raise
        elapsed = time.monotonic() - started
        if outcome.status == "completed" and self.record != "all":
            outcome = self._store_metrics(run_id, plan, outcome)
        outcome, (bars, events, fills) = self._finish(run_id, outcome)
        if self.record != "all" and outcome.status == "completed":
            bars = plan.total_bars  # replayed, not recorded
        attach = self.process_run.attach if self.process_run is not None else None
        attached = list(attach.seen) if attach is not None else []
        barrier = self.process_run.barrier if self.process_run is not None else None
        return RunResult(run_id, outcome.status, outcome.error, bars, events, fills, elapsed, list(self.strategy_ids),
                         barrier, attached, outcome.failure)

    def _run_processes(self, plan: RunPlan, recorder_cls: type) -> Outcome:
        self.process_run = ProcessRun(self, plan, str(self.run_id), recorder_cls)
        outcome = self.process_run.execute()
        self._replayed = self.process_run.replayed
        if outcome.status == "completed":
            problem = confirm.check(self.process_run.confirmation, self.db_path, str(self.run_id))
            if problem:
                return Outcome("failed", FailureRecord.now(ORCHESTRATOR, RC.STORAGE, "recorder", problem))
        return outcome

    def _finish(self, run_id: str, outcome: Outcome) -> tuple[Outcome, tuple[int, int, int]]:
        """Write the outcome into the run row (waiting at most storage_timeout for a locked
        database); a run whose status cannot be written is failed, saying so."""
        try:
            conn = runsdb.connect(self.db_path, create=False, timeout=self.storage_timeout)
            try:
                failure = None if outcome.failure is None else outcome.failure.to_dict()
                runsdb.finish_run(conn, run_id, outcome.status, outcome.error, failure)
                return outcome, runsdb.count_events(conn, run_id)
            finally:
                conn.close()
        except (runsdb.RunsDbError, sqlite3.Error) as exc:
            unwritten = f"the run's outcome ({outcome.status}) could not be written to {self.db_path}: {exc}"
            cause = outcome.failure
            if cause is None:
                return Outcome("failed", FailureRecord.now(ORCHESTRATOR, RC.STORAGE, ORCHESTRATOR, unwritten)), (0, 0, 0)
            return Outcome("failed", dataclasses.replace(cause, detail=f"{cause.detail}; {unwritten}")), (0, 0, 0)

    def _store_metrics(self, run_id: str, plan: RunPlan, outcome: Outcome) -> Outcome:
        """The run's figures, from the datafeed's bars (not recorded at this level) and its fills."""
        from recorder import metrics

        try:
            kept = self._replayed  # every bar the run replayed, or the figures read them again
            bars = metrics.replayed_bars(kept) if kept is not None and len(kept[0]) == plan.total_bars else None
            metrics.store(self.db_path, run_id, plan.datafeed, timeout=self.storage_timeout, bars=bars)
        except (sqlite3.Error, runsdb.RunsDbError) as exc:
            return Outcome("failed", FailureRecord.now(ORCHESTRATOR, RC.STORAGE, ORCHESTRATOR,
                                                       f"the run's metrics could not be written to {self.db_path}: {exc}"))
        return outcome

    def _on_signal(self, signum: int) -> None:
        self.cancel(f"interrupted by {signal.Signals(signum).name}")

    def cancel(self, reason: str = "cancelled") -> None:
        """Ask a running `run()` (e.g. from another thread) to stop: it ends `cancelled` with
        `reason`, every process stopped in order, what was recorded kept."""
        if self._cancel_reason is None:
            self._cancel_reason = reason

    def check_cancel(self) -> None:
        """Raises RunCancelled once `cancel()` was called."""
        if self._cancel_reason:
            raise RunCancelled(self._cancel_reason)

    def _run_in_process(self, plan: RunPlan, recorder_cls: type) -> Outcome:
        from components.inprocess import ComponentFailed, InProcessDispatcher

        recorder = recorder_cls()
        components = [recorder, plan.broker()]
        init = self.strategy_init()
        components += [cls(strategy_id=sid, **init) for sid, cls in zip(self.strategy_ids, self.strategies)]
        dispatcher = InProcessDispatcher(components)
        feed = plan.datafeed()
        feed.open()
        feed.keep_closes = self.record != "all"  # the run's figures come from the bars it replays (recorder/metrics.py)
        started = time.monotonic()
        last = 0.0
        sent = 0
        outcome = Outcome("completed")
        try:
            dispatcher.start()
            for bars in feed.timestamps():
                self.check_cancel()
                dispatcher.publish(codec.FEED_TOPIC, bars)
                dispatcher.run_until_idle()
                sent += len(bars)
                if self.progress and time.monotonic() - last > 0.2:
                    last = time.monotonic()
                    self.progress(sent, plan.total_bars, last - started)
            dispatcher.stop()
            if self.progress:
                self.progress(sent, plan.total_bars, time.monotonic() - started)
        except RunCancelled as exc:
            outcome = Outcome("cancelled", FailureRecord.now(ORCHESTRATOR, RC.CANCELLED, None, str(exc)))
        except ComponentFailed as exc:
            outcome = Outcome("failed", exc.record)
        finally:
            feed.close()
            try:
                recorder.stop()  # (once more after dispatcher.stop: it flushes only what is new)
            except Exception as exc:  # noqa: BLE001 - the recorder's own failure
                if outcome.failure is None:
                    outcome = Outcome("failed", FailureRecord.now(
                        ORCHESTRATOR, getattr(exc, "failure_kind", RC.EXCEPTION), "recorder",
                        f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        if outcome.status == "completed":
            problem = confirm.check(recorder.confirmation(), self.db_path, str(self.run_id))
            if problem:
                return Outcome("failed", FailureRecord.now(ORCHESTRATOR, RC.STORAGE, "recorder", problem))
            self._replayed = feed.replayed() if hasattr(feed, "replayed") else None
        return outcome


class _signals_to:
    """Route SIGINT/SIGTERM to a callback while a run is active (main thread only)."""

    def __init__(self, callback: Callable[[int], None]) -> None:
        self.callback = callback
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.saved[sig] = signal.signal(sig, lambda s, f: self.callback(s))

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
