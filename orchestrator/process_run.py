"""One run across processes, in four steps: start, go, supervise, tear down.

start      the bus (hosting the broker unless `broker_in_bus` is off) and every component process
           are spawned at once (their imports overlap); each component joins only after the
           members it depends on (nothing is published before its subscribers joined); the
           datafeed opens its data meanwhile; then the run is published for attach/monitor and
           waits, bounded, for the attached strategies it expects.
go         the go file (bus/run_contract.py): the datafeed replays, paced by the idle barrier.
supervise  until the datafeed completes, a child or the bus ends, or the run is cancelled.
tear down  reverse dependency order: the datafeed; the strategies (attached ones included: what
           they send from on_stop still reaches the broker and the recorder); the broker; the
           recorder, which records everything sent before it stops; the bus. Each with a graceful
           request, then SIGTERM, then SIGKILL, bounded; a stopped (SIGSTOP) or lost process
           cannot stop gracefully and is killed at once.

The outcome is a status and, unless completed, the root cause among the failure records: the
children's (failures/*.json) and the orchestrator's own (a child killed by a signal or exiting
without a record, a start that timed out, a cancel). "completed" also needs the recorder's
confirmation that every event is in the runs database the run row lives in (recorder/confirm.py).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bus import run_contract as RC
from bus.run_contract import FailureRecord
from components.datafeed import Replayed, ReplayedCloses
from components.spec import class_spec, configured
from orchestrator import processes, rundir
from orchestrator.attached import AttachWatcher
from orchestrator.processes import Child
from recorder import confirm

if TYPE_CHECKING:
    from orchestrator.orchestrator import Orchestrator, RunPlan

ORCHESTRATOR = "orchestrator"  # the process name of the orchestrator's own failure records
SUPERVISE_S = 0.05


class RunCancelled(Exception):
    pass


class StartFailed(Exception):
    """A child did not start: its record (or the orchestrator's) says why."""


@dataclass
class Outcome:
    status: str  # completed | failed | cancelled
    failure: FailureRecord | None = None

    @property
    def error(self) -> str | None:
        if self.failure is None:
            return None
        return self.failure.detail if self.status == "cancelled" else self.failure.describe()


class ProcessRun:
    """The processes of one run and what the orchestrator saw of them."""

    def __init__(self, orch: Orchestrator, plan: RunPlan, run_id: str, recorder_cls: type) -> None:
        self.orch = orch
        self.plan = plan
        self.run_id = run_id
        self.recorder_cls = recorder_cls
        self.run_dir = rundir.create_run_dir()  # private, and findable by ps/attach/monitor
        self.children: list[Child] = []
        self.feed: Child | None = None
        self.bus_proc: Any = None
        self.control: Any = None
        self.attach: AttachWatcher | None = None
        self.records: list[FailureRecord] = []  # the orchestrator's own observations
        self.barrier: dict[str, Any] | None = None
        self.confirmation: dict[str, Any] | None = None  # the recorder's (recorder/confirm.py)
        self.replayed: Replayed | None = None  # what the datafeed kept of its bars (below --record all)

    # --- the whole run ------------------------------------------------------------------------

    def execute(self) -> Outcome:
        status = "failed"
        try:
            self.start()
            self.go()
            status = self.supervise()
        except RunCancelled as exc:
            status = "cancelled"
            self._observe(RC.CANCELLED, None, str(exc))
        except StartFailed:
            status = "failed"
        except Exception as exc:  # noqa: BLE001 - the orchestrator's own failure, recorded as such
            import traceback

            self._observe(RC.EXCEPTION, ORCHESTRATOR, f"{type(exc).__name__}: {exc}", traceback.format_exc())
        finally:
            self.tear_down()
        if self.attach is not None:
            self.attach.finish()
        records = self.records + RC.read_failures(self.run_dir)
        self.confirmation = confirm.read(self.run_dir / RC.RECORDED_FILE)
        self.replayed = _replayed(self.run_dir / RC.CLOSES_FILE) if status == "completed" else None
        shutil.rmtree(self.run_dir, ignore_errors=True)
        if status == "completed":
            status = "failed" if records else "completed"
        if status == "cancelled":
            return Outcome(status, next(r for r in self.records if r.kind == RC.CANCELLED))
        return Outcome(status, RC.root_cause(records))

    def _observe(self, kind: str, member: str | None, detail: str, text: str | None = None) -> None:
        self.records.append(FailureRecord.now(ORCHESTRATOR, kind, member, detail, text))

    # --- start ----------------------------------------------------------------------------------

    def start(self) -> None:
        from bus import ControlClient, spawn_bus_process, wait_bus_ready

        orch = self.orch
        hosting = (["--host-name", "broker", "--host-spec", json.dumps(dict(class_spec(self.plan.broker), init={}))]
                   if orch.broker_in_bus else [])
        self.bus_proc = spawn_bus_process(
            self.run_dir, transport=self._transport(),
            heartbeat_timeout=orch.heartbeat_timeout, max_trailing_backlog=orch.trailing_backlog,
            extra_args=[*self._bus_args(), *hosting],
            module="components.hosting" if orch.broker_in_bus else "bus",
            env=processes.child_env())  # the broker's class resolves as the components' do
        plan: list[tuple[str, type, dict[str, Any], list[str]]] = [("recorder", self.recorder_cls, {}, ["--trailing"])]
        if not orch.broker_in_bus:
            plan.append(("broker", self.plan.broker, {}, []))
        init = orch.strategy_init()
        plan += [(sid, cls, {"strategy_id": sid, **init}, []) for sid, cls in zip(orch.strategy_ids, orch.strategies)]
        after = {"recorder": [], "broker": ["recorder"]}
        for name, cls, init, extra in plan:
            deps = after.get(name, ["recorder", "broker"])
            extra = [*extra, "--start-timeout", str(orch.start_timeout), *(["--after", ",".join(deps)] if deps else [])]
            self.children.append(self._spawn(name, "component", cls, init, extra))
        # bounds the bus's start, the joins and the attach wait, each bounded on our side
        go_timeout = 2 * orch.start_timeout + (orch.attach_timeout if orch.expect_attach else 0.0) + 5.0
        datafeed = self.plan.datafeed
        if orch.record != "all":  # the run's figures come from the bars it replays (recorder/metrics.py)
            datafeed = configured(datafeed, datafeed.__name__, keep_closes=True)
        self.feed = self._spawn("datafeed", "datafeed", datafeed, {},
                                ["--window", str(self._window()), "--await-go", "--start-timeout", str(go_timeout)])
        self.children.append(self.feed)  # (stopped with the others whatever happens next)
        try:
            eps = wait_bus_ready(self.bus_proc, self.run_dir, orch.start_timeout)
        except Exception as exc:  # noqa: BLE001 - BusError with the bus's stderr
            self._observe(RC.START, "bus", str(exc))
            raise StartFailed() from None
        self.control = ControlClient(self.run_dir, timeout=orch.stop_timeout)
        self._wait_joined([c for c in self.children if c is not self.feed])
        self.attach = AttachWatcher(orch.db_path, self.run_id, [p[0] for p in plan] + ["broker", "datafeed"])
        self._publish_run_info(eps)  # from now on the run can be attached to
        if orch.expect_attach:
            try:
                self.attach.wait_for(self.control, orch.expect_attach, orch.attach_timeout, orch.check_cancel)
            except TimeoutError as exc:
                self._observe(RC.START, None, str(exc))
                raise StartFailed() from None
        orch.check_cancel()

    def _spawn(self, name: str, role: str, cls: type, init: dict[str, Any], extra: list[str]) -> Child:
        """One component process (it joins the bus by itself: see _wait_joined)."""
        self.orch.check_cancel()
        spec = dict(class_spec(cls), init=init)
        args = [
            "-m", "components.runtime", "--run-dir", str(self.run_dir), "--name", name, "--role", role,
            "--spec", json.dumps(spec), "--barrier-timeout", str(self.orch.barrier_timeout), *extra,
        ]
        return processes.spawn(name, role, args)

    def _window(self) -> int:
        """The configured window, but at least ~20 barriers in a run (never below 16 timestamps)."""
        timestamps = self.plan.total_bars // max(1, len(self.plan.symbols))
        return max(1, min(self.orch.window, max(16, timestamps // 20)))

    def _wait_joined(self, children: list[Child]) -> None:
        """Until every child is a bus member; a child that exits first (the datafeed included,
        which does not join yet), or start_timeout, fails the start."""
        from bus.control import Joined

        joined = Joined(c.name for c in children)

        def check() -> None:
            for child in [*(c for c in children if c.name in joined.missing), self.feed]:
                if child is not None and child.proc.poll() is not None:
                    self._child_ended(child)
                    raise StartFailed()
            self.orch.check_cancel()

        try:
            self.control.wait_members(joined, self.orch.start_timeout, check=check)
        except TimeoutError as exc:
            self._observe(RC.START, joined.missing[0], str(exc))
            raise StartFailed() from None

    def _bus_args(self) -> list[str]:
        """`python -m bus` flags: the run's policy (written to the run directory: who is critical,
        who publishes what, orchestrator/bus_policy.py); --listen; over tcp (always CURVE) the
        access key names the run and its symbols."""
        from bus.security import bus_args
        from orchestrator.bus_policy import run_policy, write_policy

        orch = self.orch
        policy = run_policy(orch.strategy_ids, expect_attach=orch.expect_attach, on_attach_loss=orch.on_attach_loss)
        args = ["--policy", str(write_policy(self.run_dir, policy))]
        if self._transport() != "tcp":
            return args
        return args + bus_args(orch.listen, {"run-id": self.run_id, "symbols": ",".join(self.plan.symbols)})

    def _transport(self) -> str:
        """tcp with --listen or --curve (a run others reach with its key), else the configured one."""
        orch = self.orch
        return "tcp" if orch.listen or orch.curve else orch.transport

    def _publish_run_info(self, eps: Any) -> None:
        orch = self.orch
        rundir.write_run_info(rundir.new_run_info(
            self.run_dir, run_id=self.run_id, runs_db=str(Path(orch.db_path).absolute()),
            endpoints=str(self.run_dir / RC.ENDPOINTS_FILE), bus={"members": eps.members, "control": eps.control, "tap": eps.tap},
            symbols=list(self.plan.symbols), strategies=list(orch.strategy_ids), listen=eps.members if orch.listen else None,
            access_key=eps.curve_key_file, expect_attach=orch.expect_attach, on_attach_loss=orch.on_attach_loss,
        ))

    # --- go and supervise -----------------------------------------------------------------------

    def go(self) -> None:
        (self.run_dir / RC.GO_FILE).touch()

    def supervise(self) -> str:
        """"completed" once the datafeed completed its replay; "failed" as soon as a child or the
        bus ends otherwise (the bus, if alive, is failed too, so every wait ends now)."""
        progress_path = self.run_dir / RC.PROGRESS_FILE
        while True:
            self.orch.check_cancel()
            if self.bus_proc.poll() is not None:  # (with the broker it hosts: bus/hosted.py)
                self._bus_ended()
                return "failed"
            if processes.is_stopped(self.bus_proc.pid):  # it can route nothing, answer nothing
                self._observe(RC.LOST, "bus", f"the bus process (pid {self.bus_proc.pid}) is stopped (SIGSTOP)")
                return "failed"
            for child in self.children:
                if child.proc.poll() is None:
                    continue
                if child is self.feed and child.proc.returncode == RC.EXIT_OK:
                    self._report_progress(progress_path)
                    return "completed"
                self._child_ended(child)
                try:
                    self.control.fail(f"{child.exit_reason()}")
                except Exception:  # noqa: BLE001 - the bus may be going away too
                    pass
                return "failed"
            if self.attach is not None:
                self.attach.poll(self.control)  # records attach/detach/loss in the run's config
            self._report_progress(progress_path)
            time.sleep(SUPERVISE_S)

    def _child_ended(self, child: Child) -> None:
        """What the orchestrator saw: a signal is its own record; an exit that is a consequence
        (EXIT_RUN_FAILED) or that left a record says nothing more."""
        code = child.proc.returncode
        if code is None or code == RC.EXIT_RUN_FAILED:
            return
        if code < 0:
            self._observe(RC.KILLED, child.name, child.exit_reason() or "killed")
        elif not (self.run_dir / RC.FAILURES_DIR / f"{child.name}.json").exists():
            self._observe(RC.EXITED, child.name, f"{child.exit_reason()} without saying why")

    def _bus_ended(self) -> None:
        code = self.bus_proc.returncode
        if code < 0:
            self._observe(RC.KILLED, "bus", f"the bus process (pid {self.bus_proc.pid}) was killed by signal {-code}")
        elif not (self.run_dir / RC.FAILURES_DIR / "bus.json").exists():
            self._observe(RC.EXITED, "bus", f"the bus process (pid {self.bus_proc.pid}) exited with status {code}")

    def _report_progress(self, path: Path) -> None:
        if self.orch.progress is None:
            return
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        self.orch.progress(int(data["bars_sent"]), int(data["bars_total"]), float(data["elapsed_s"]))

    # --- tear down ------------------------------------------------------------------------------

    def tear_down(self) -> None:
        if self.bus_proc is not None and processes.is_stopped(self.bus_proc.pid):
            self.bus_proc.kill()  # a stopped bus cannot even act on SIGTERM
            self.bus_proc.wait()
        if self.control is not None and self.bus_proc is not None and self.bus_proc.poll() is not None:
            self.control.close()  # the bus is gone: nothing would answer (each request would time out)
            self.control = None
        if self.control is not None:
            try:
                barrier = self.control.stats().get("barrier")
                self.barrier = {k: barrier[k] for k in ("rounds", "p50_us", "p99_us", "max_us") if k in barrier}
            except Exception:  # noqa: BLE001
                pass
        try:
            self._stop_in_order()
        finally:
            processes.kill_all(self.children)
            if self.control is not None:
                try:
                    self.control.shutdown()
                except Exception:  # noqa: BLE001
                    pass
                self.control.close()
            if self.bus_proc is not None:
                try:
                    self.bus_proc.wait(timeout=self.orch.stop_timeout)
                except Exception:  # noqa: BLE001
                    self.bus_proc.kill()
                    self.bus_proc.wait(timeout=self.orch.stop_timeout)

    def _stop_in_order(self) -> None:
        """The datafeed; the strategies, attached ones included; the broker; the recorder. With
        the bus gone nothing flows between them any more: all at once, by SIGTERM."""
        if self.control is None:
            processes.stop_children(self.children, None, self.orch.stop_timeout)
            return
        ranks = {"datafeed": 0, "broker": 2, "recorder": 3}
        tiers: dict[int, list[Child]] = {}
        for child in self.children:
            tiers.setdefault(ranks.get(child.name, 1), []).append(child)
        control = self.control
        for rank in range(4):
            if rank == 1 and self.attach is not None and control is not None:
                self.attach.stop_all(control, self.orch.stop_timeout)
            if rank == 2 and self.orch.broker_in_bus and control is not None:
                try:
                    control.stop_member("broker")  # hosted by the bus: stops (and leaves) at once
                except Exception:  # noqa: BLE001
                    pass
            # The datafeed's graceful stop is SIGTERM (it may not even be a member yet: it waits
            # for the go file); the others are asked through the bus.
            request = (lambda n: control.stop_member(n)) if control is not None and rank > 0 else None
            processes.stop_children(tiers.get(rank, []), request, self.orch.stop_timeout)


def _replayed(path: Path) -> Replayed | None:
    """What the datafeed kept of its bars, or None (not kept, or unreadable: then the figures
    read the bars again)."""
    try:
        return ReplayedCloses.load(path)
    except (OSError, EOFError, ValueError, KeyError):  # EOFError: fewer values than its header says
        return None
