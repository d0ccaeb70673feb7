"""Orchestrator: assembles a run from component classes, runs it, and always cleans up.

Multi-process: the bus starts, then the recorder, the broker and the strategies are spawned
together but join in that order (each waits, bounded, for the members it depends on: nothing is
published before its subscribers joined), then the datafeed replays, paced by the idle barrier;
then the datafeed, the strategies, the broker, the recorder and the bus are stopped in that
order (graceful request, SIGTERM, SIGKILL, each bounded). Any child ending unexpectedly, a barrier failure, or SIGINT/SIGTERM
to the orchestrator ends the run as failed/cancelled with the reason; what was recorded stays.
In-process: the same component objects on a synchronous dispatcher, same recorded events.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components import codec
from components.spec import class_spec, configured
from components.strategy_classes import display_name
from orchestrator import processes, rundir
from orchestrator.attached import AttachWatcher
from orchestrator.processes import Child
from recorder import runsdb
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
        }


class RunCancelled(Exception):
    pass


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


def versions() -> dict[str, str]:
    import msgpack
    import numpy
    import zmq

    from importlib.metadata import PackageNotFoundError, version

    try:
        tickbus = version("tickbus")
    except PackageNotFoundError:
        tickbus = "unknown"
    return {
        "tickbus": tickbus,
        "python": platform.python_version(),
        "pyzmq": zmq.pyzmq_version(),
        "libzmq": zmq.zmq_version(),
        "msgpack": ".".join(map(str, msgpack.version)),
        "numpy": numpy.__version__,
    }


def count_events(conn: Any, run_id: str) -> tuple[int, int, int]:
    """(bars, all events, fills) recorded for a run."""
    from recorder.tables import TABLES

    counts = {
        t: conn.execute(f"SELECT COUNT(*) FROM {t} WHERE run_id = ?", (run_id,)).fetchone()[0]
        for t in TABLES.values()
    }
    return counts["bars"], sum(counts.values()), counts["fills"]


class Orchestrator:
    """Configured by class attributes like every component (subclass or `configured()` to change)."""

    db_path: str = "runs.db"
    mode: str = "backtest"
    transport: str = "ipc"
    #: Seconds in which no component finishes any message before the run fails as hung (the
    #: bus names what is pending); a long but moving run is never cut short.
    barrier_timeout: float = 30.0
    start_timeout: float = 20.0
    stop_timeout: float = 5.0
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
    #: to bind the bus on (CURVE keys off loopback; `curve` forces them, bus/security.py).
    expect_attach: int = 0
    attach_timeout: float = 60.0
    on_attach_loss: str = "fail"
    listen: str | None = None
    curve: bool = False
    #: Run the broker inside the bus process (bus/hosted.py) instead of its own: a strategy's
    #: round with the broker crosses 2 socket hops instead of 4 (README, Performance). The
    #: strategies, the recorder and the datafeed keep their own processes either way.
    broker_in_bus: bool = True

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
        self._cancel_reason: str | None = None
        self._prepared: tuple[type, type, int, list[str]] | None = None
        self.barrier: dict[str, Any] | None = None

    # --- configuration ---------------------------------------------------------------------

    def _run_symbols(self) -> list[str] | None:
        """Union of the strategies' symbols, or None when one of them wants every symbol."""
        symbols: list[str] = []
        for cls in self.strategies:
            own = list(getattr(cls, "symbols", []) or [])
            if not own:
                return None
            symbols += [s for s in own if s not in symbols]
        return symbols

    def _prepare(self) -> tuple[type, type, int, list[str]]:
        """Configured datafeed and broker classes, total bars, and the run's symbols."""
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
        broker_cls = self.broker
        if getattr(broker_cls, "symbols", None) is None and resolved:
            broker_cls = configured(broker_cls, f"_Configured{self.broker.__name__}", symbols=resolved)
        history = getattr(broker_cls, "history", None)
        if isinstance(history, int) and history < self.window:  # a strategy may lag a window behind
            broker_cls = configured(broker_cls, f"_Configured{self.broker.__name__}", history=self.window)
        return datafeed_cls, broker_cls, total, resolved

    def _config(self, datafeed_cls: type, broker_cls: type, symbols: list[str]) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "symbols": symbols,
            "strategies": [display_name(c) for c in self.strategies],
            "start_date": getattr(datafeed_cls, "start_ts", None),
            "end_date": getattr(datafeed_cls, "end_ts", None),
            "in_process": self.in_process,
            "components": {
                "strategies": [
                    {"strategy_id": sid, "spec": class_spec(cls)} for sid, cls in zip(self.strategy_ids, self.strategies)
                ],
                "broker": class_spec(broker_cls),
                "datafeed": class_spec(datafeed_cls),
            },
            "versions": versions(),
        }

    # --- running ---------------------------------------------------------------------------

    def prepare(self) -> tuple[type, type, int, list[str]]:
        """Validate the configuration against the data (no process is started); cached."""
        if self._prepared is None:
            self._prepared = self._prepare()
        return self._prepared

    def run(self) -> RunResult:
        datafeed_cls, broker_cls, total, symbols = self.prepare()
        conn = runsdb.connect(self.db_path)
        try:
            names = [display_name(c) for c in self.strategies]
            # metadata: who runs it, so tools can tell a live `running` run from an abandoned one
            metadata = {"orchestrator_pid": os.getpid(), "host": platform.node()}
            self.run_id = run_id = runsdb.create_run(conn, names, self._config(datafeed_cls, broker_cls, symbols), metadata)
        finally:
            conn.close()
        recorder_cls = configured(RunRecorder, "_RunRecorder", db_path=str(self.db_path), run_id=run_id)
        started = time.monotonic()
        try:
            with _signals_to(self._on_signal):
                if self.in_process:
                    status, error = self._run_in_process(recorder_cls, broker_cls, datafeed_cls, total)
                else:
                    status, error = self._run_processes(recorder_cls, broker_cls, datafeed_cls, total)
        except Exception:
            status, error = "failed", traceback.format_exc()
        except BaseException:
            self._finish(run_id, "cancelled", traceback.format_exc())
            raise
        elapsed = time.monotonic() - started
        bars, events, fills = self._finish(run_id, status, error)
        watcher: AttachWatcher | None = getattr(self, "_attach", None)  # set by multi-process runs
        attached = list(watcher.seen) if watcher is not None else []
        return RunResult(run_id, status, error, bars, events, fills, elapsed, list(self.strategy_ids), self.barrier,
                         attached)

    def _finish(self, run_id: str, status: str, error: str | None) -> tuple[int, int, int]:
        conn = runsdb.connect(self.db_path)
        try:
            runsdb.finish_run(conn, run_id, status, error)
            return count_events(conn, run_id)
        finally:
            conn.close()

    def _on_signal(self, signum: int) -> None:
        self.cancel(f"interrupted by {signal.Signals(signum).name}")

    def cancel(self, reason: str = "cancelled") -> None:
        """Ask a running `run()` (e.g. from another thread) to stop: it ends `cancelled` with
        `reason`, every process stopped in order, what was recorded kept."""
        if self._cancel_reason is None:
            self._cancel_reason = reason

    def _check_cancel(self) -> None:
        if self._cancel_reason:
            raise RunCancelled(self._cancel_reason)

    def _run_in_process(self, recorder_cls: type, broker_cls: type, datafeed_cls: type, total: int) -> tuple[str, str | None]:
        from components.inprocess import InProcessDispatcher

        recorder = recorder_cls()
        components = [recorder, broker_cls()]
        components += [cls(strategy_id=sid) for sid, cls in zip(self.strategy_ids, self.strategies)]
        dispatcher = InProcessDispatcher(components)
        feed = datafeed_cls()
        feed.open()
        started = time.monotonic()
        last = 0.0
        sent = 0
        try:
            dispatcher.start()
            for bars in feed.timestamps():
                self._check_cancel()
                dispatcher.publish(codec.FEED_TOPIC, bars)
                dispatcher.run_until_idle()
                sent += len(bars)
                if self.progress and time.monotonic() - last > 0.2:
                    last = time.monotonic()
                    self.progress(sent, total, last - started)
            dispatcher.stop()
            if self.progress:
                self.progress(sent, total, time.monotonic() - started)
            return "completed", None
        except RunCancelled as exc:
            return "cancelled", str(exc)
        except Exception:
            return "failed", traceback.format_exc()
        finally:
            feed.close()
            recorder.flush()
            recorder.stop()

    def _run_processes(self, recorder_cls: type, broker_cls: type, datafeed_cls: type, total: int) -> tuple[str, str | None]:
        from bus import ControlClient, spawn_bus_process, wait_bus_ready

        run_dir = rundir.create_run_dir()  # private, and findable by ps/attach/monitor
        self.run_dir = run_dir
        children: list[Child] = []
        control: Any = None
        bus_proc = None
        self._attach: AttachWatcher | None = None
        try:
            # The bus and every component at once (their imports overlap); the components wait for
            # the bus's endpoints, then each joins only after what it depends on.
            hosting = (["--host-name", "broker", "--host-spec", json.dumps(dict(class_spec(broker_cls), init={}))]
                       if self.broker_in_bus else [])
            bus_proc = spawn_bus_process(run_dir, transport="tcp" if self.listen or self.curve else self.transport,
                                         heartbeat_timeout=self.heartbeat_timeout, max_trailing_backlog=self.trailing_backlog,
                                         extra_args=[*self._bus_args(), *hosting],
                                         module="components.hosting" if self.broker_in_bus else "bus",
                                         env=processes.child_env())  # the broker's class resolves as the components' do
            plan: list[tuple[str, str, type, dict[str, Any], list[str]]] = [
                ("recorder", "component", recorder_cls, {}, ["--trailing"]),
            ]
            if not self.broker_in_bus:
                plan.append(("broker", "component", broker_cls, {}, []))
            plan += [(sid, "component", cls, {"strategy_id": sid}, []) for sid, cls in zip(self.strategy_ids, self.strategies)]
            after = {"recorder": [], "broker": ["recorder"]}
            for name, role, cls, init, extra in plan:
                deps = after.get(name, ["recorder", "broker"])
                extra = [*extra, "--start-timeout", str(self.start_timeout), *(["--after", ",".join(deps)] if deps else [])]
                children.append(self._start_child(run_dir, name, role, cls, init, extra))
            # The datafeed too: it opens its data meanwhile and replays once the go file appears.
            go = run_dir / "go"
            # (bounds the bus's start, the joins and the attach wait, each bounded on our side)
            go_timeout = 2 * self.start_timeout + (self.attach_timeout if self.expect_attach else 0.0) + 5.0
            feed = self._start_child(run_dir, "datafeed", "datafeed", datafeed_cls, {},
                                     ["--window", str(self._window(total, len(self.prepare()[3]))),
                                      "--go-file", str(go), "--start-timeout", str(go_timeout)])
            children.append(feed)  # (stopped with the others whatever happens next)
            eps = wait_bus_ready(bus_proc, run_dir, self.start_timeout)
            control = ControlClient(run_dir, timeout=self.stop_timeout)
            self._wait_joined(control, children[:-1], also_alive=[feed])
            self._attach = AttachWatcher(self.db_path, str(self.run_id), [p[0] for p in plan] + ["broker", "datafeed"])
            self._publish_run_info(run_dir, eps)  # from now on the run can be attached to
            if self.expect_attach:
                self._attach.wait_for(control, self.expect_attach, self.attach_timeout, self._check_cancel)
            self._check_cancel()
            go.touch()
            status, error = self._supervise(run_dir, control, children, feed, bus_proc)
        except RunCancelled as exc:
            status, error = "cancelled", str(exc)
        except _ChildFailed as exc:
            status, error = "failed", str(exc)
        except Exception as exc:
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            if control is not None and bus_proc is not None and bus_proc.poll() is not None:
                control.close()  # the bus is gone: nothing would answer (each request would time out)
                control = None
            if control is not None:
                try:
                    barrier = control.stats().get("barrier")
                    self.barrier = {k: barrier[k] for k in ("rounds", "p50_us", "p99_us", "max_us") if k in barrier}
                except Exception:
                    pass
            self._shutdown(control, children)
            if control is not None:
                try:
                    control.shutdown()
                except Exception:
                    pass
                control.close()
            if bus_proc is not None:
                try:
                    bus_proc.wait(timeout=self.stop_timeout)
                except Exception:
                    bus_proc.kill()
                    bus_proc.wait(timeout=self.stop_timeout)
        if self._attach is not None:
            self._attach.finish()
        if status != "completed":
            error = self._explain(run_dir, children, error)
        shutil.rmtree(run_dir, ignore_errors=True)
        return status, error

    def _bus_args(self) -> list[str]:
        """`python -m bus` flags for --listen/--curve; the access key names the run and its symbols."""
        from bus.security import bus_args

        if not (self.listen or self.curve):
            return []
        symbols = self._prepared[3] if self._prepared else []
        return bus_args(self.listen, self.curve, {"run-id": str(self.run_id), "symbols": ",".join(symbols)})

    def _publish_run_info(self, run_dir: Path, eps: Any) -> None:
        rundir.write_run_info(rundir.new_run_info(
            run_dir, run_id=str(self.run_id), runs_db=str(Path(self.db_path).absolute()),
            endpoints=str(run_dir / "endpoints.json"), bus={"members": eps.members, "control": eps.control, "tap": eps.tap},
            symbols=list(self._prepared[3] if self._prepared else []),
            strategies=list(self.strategy_ids), listen=eps.members if self.listen else None,
            access_key=eps.curve_key_file, expect_attach=self.expect_attach, on_attach_loss=self.on_attach_loss,
        ))

    def _start_child(
        self,
        run_dir: Path,
        name: str,
        role: str,
        cls: type,
        init: dict[str, Any],
        extra: list[str],
    ) -> Child:
        """Spawn one component process (it joins the bus by itself: see _wait_joined)."""
        self._check_cancel()
        spec = dict(class_spec(cls), init=init)
        args = [
            "-m", "components.runtime", "--run-dir", str(run_dir), "--name", name, "--role", role,
            "--spec", json.dumps(spec), "--barrier-timeout", str(self.barrier_timeout), *extra,
        ]
        return processes.spawn(name, role, args)

    def _window(self, total_bars: int, symbols: int) -> int:
        """The configured window, but at least ~20 barriers in a run (never below 16 timestamps)."""
        timestamps = total_bars // max(1, symbols)
        return max(1, min(self.window, max(16, timestamps // 20)))

    def _wait_joined(self, control: Any, children: list[Child], also_alive: Sequence[Child] = ()) -> None:
        """Until every child is a bus member; a child that exits first (or one of `also_alive`,
        which does not join yet), or start_timeout, fails."""
        deadline = time.monotonic() + self.start_timeout
        while True:
            members = control.members()
            waiting = [c for c in children if c.name not in members]
            for child in [*waiting, *also_alive]:
                if child.proc.poll() is not None:
                    raise _ChildFailed(child)
            if not waiting:
                return
            if time.monotonic() > deadline:
                names = ", ".join(c.name for c in waiting)
                raise _ChildFailed(waiting[0], f"{names} did not join the bus within {self.start_timeout:g} s")
            self._check_cancel()
            time.sleep(0.01)

    def _supervise(self, run_dir: Path, control: Any, children: list[Child], feed: Child,
                   bus_proc: Any) -> tuple[str, str | None]:
        progress_path = run_dir / "progress.json"
        while True:
            self._check_cancel()
            if bus_proc.poll() is not None:  # (with the broker it hosts: bus/hosted.py)
                return "failed", f"the bus process exited with status {bus_proc.returncode}"
            for child in children:
                if child.proc.poll() is None:
                    continue
                if child is feed and child.proc.returncode == 0:
                    self._report_progress(progress_path)
                    return "completed", None
                try:
                    control.fail(f"{child.exit_reason()}")
                except Exception:
                    pass
                lost = self._attach.lost_reason(control) if self._attach is not None else None
                return "failed", lost or child.exit_reason()  # a lost attacher is the cause, not the symptom
            if self._attach is not None:
                self._attach.poll(control)  # records attach/detach/loss in the run's config
            self._report_progress(progress_path)
            time.sleep(0.05)

    def _report_progress(self, path: Path) -> None:
        if self.progress is None:
            return
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        self.progress(int(data["bars_sent"]), int(data["bars_total"]), float(data["elapsed_s"]))

    def _shutdown(self, control: Any, children: list[Child]) -> None:
        """Reverse dependency order: the datafeed; the strategies, attached ones included (what
        they send from on_stop still reaches the broker and the recorder); the broker; the
        recorder (which records everything sent before it stops, and flushes)."""
        ranks = {"datafeed": 0, "broker": 2, "recorder": 3}
        tiers: dict[int, list[Child]] = {}
        for child in children:
            tiers.setdefault(ranks.get(child.name, 1), []).append(child)
        try:
            for rank in range(4):
                if rank == 1 and self._attach is not None and control is not None:
                    self._attach.stop_all(control, self.stop_timeout)
                if rank == 2 and self.broker_in_bus and control is not None:
                    try:
                        control.stop_member("broker")  # hosted by the bus: stops (and leaves) at once
                    except Exception:
                        pass
                # The datafeed's graceful stop is SIGTERM (it may not even be a member yet: it
                # waits for the go file); the others are asked through the bus.
                request = (lambda n: control.stop_member(n)) if control is not None and rank > 0 else None
                processes.stop_children(tiers.get(rank, []), request, self.stop_timeout)
        finally:
            processes.kill_all(children)

    def _explain(self, run_dir: Path, children: list[Child], error: str | None) -> str | None:
        """The most telling reason: a component's traceback beats an exit status beats a symptom."""
        errors_dir = run_dir / "errors"
        reports = {}
        if errors_dir.is_dir():
            for f in sorted(errors_dir.glob("*.txt")):
                reports[f.stem] = f.read_text()
        for name, text in reports.items():
            if name != "datafeed" and "Traceback" in text:
                return f"{name} raised an exception:\n{text}"
            if text.startswith(f"{name} hung:"):  # e.g. the broker, hosted by the bus (bus/hosted.py)
                return text
        stall = reports.get("datafeed", "").strip().splitlines()[-1:]
        if stall and stall[0].startswith("IdleTimeout:"):  # a hung member: the bus names it
            return f"the run stalled: {stall[0].removeprefix('IdleTimeout:').strip()}"
        if error and ("killed by" in error or "exited with" in error or "did not join" in error):
            return error
        if reports:
            name, text = next(iter(reports.items()))
            return f"{error}\n{name}: {text}" if error else f"{name}: {text}"
        return error


class _ChildFailed(Exception):
    def __init__(self, child: Child, reason: str | None = None) -> None:
        super().__init__(reason or child.exit_reason() or f"{child.name} failed")


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
