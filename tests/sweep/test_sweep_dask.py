"""Sweeps on a real Dask cluster: `dask scheduler` and two `dask worker` processes on
127.0.0.1, started as a user starts them, each in a folder of its own that holds none of the
driver's files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sweepkit import STRATEGIES
from sweepkit import SPEC, same_events, spawn, sweep_args, sweep_json, tagged, variant_rows, wait_for_a_merged_variant

from orchestrator.sweep import driver, plan as P, store
from orchestrator.sweep.cluster import DaskCluster
from recorder import runsdb

pytest.importorskip("distributed")
DASK = str(Path(sys.executable).with_name("dask"))
START_TIMEOUT_S = 60


class Cluster:
    def __init__(self, root: Path, tag: str) -> None:
        self.root, self.tag = root, tag
        self.procs: list[subprocess.Popen[bytes]] = []
        self.scheduler_file = root / "scheduler.json"
        env = {**os.environ, "TICKBUS_TEST_TAG": tag, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}
        self.scheduler = self._start("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0",
                                                   "--no-dashboard", "--scheduler-file", str(self.scheduler_file)], env)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.scheduler_file.exists():
            assert time.monotonic() < deadline and self.scheduler.poll() is None, "the scheduler did not start"
            time.sleep(0.1)
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        for i in (1, 2):
            home = root / f"worker{i}"  # its cwd and TMPDIR: the shipment cache lands here
            home.mkdir()
            self._start(f"worker{i}", [DASK, "worker", "--scheduler-file", str(self.scheduler_file), "--nthreads", "1",
                                       "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(home)],
                        {**env, "TMPDIR": str(home)}, cwd=home)
        from distributed import Client

        with Client(self.address, timeout=START_TIMEOUT_S) as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT_S)

    def _start(self, name: str, cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "wb")
        proc = subprocess.Popen(cmd, env=env, cwd=cwd or self.root, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(proc)
        return proc

    def worker_pids(self) -> list[int]:
        from distributed import Client

        with Client(self.address, timeout=START_TIMEOUT_S) as client:
            return list(client.run(os.getpid).values())

    def stop(self) -> None:
        t0 = time.monotonic()
        for group in (self.procs[1:], self.procs[:1]):  # the workers, then the scheduler
            for proc in group:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in group:
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=5)
        print(f"cluster stopped in {time.monotonic() - t0:.1f} s")
        deadline = time.monotonic() + 10
        while tagged(self.tag) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in tagged(self.tag):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("dask")
    c = Cluster(root, f"dask-{root.name}-{os.getpid()}")  # unique across pytest workers
    try:
        yield c
    finally:
        c.stop()
        assert tagged(c.tag) == [], "the cluster left processes behind"


def _run(plan: P.SweepPlan, db: Path, executor: Any, **kw: Any) -> tuple[str, driver.SweepOutcome]:
    conn = runsdb.connect(db)
    try:
        sweep_id = store.create_sweep(conn, plan.name, plan.spec(), plan.grid.points)
        return sweep_id, driver.run(plan, conn, sweep_id, list(enumerate(plan.grid.points, 1)), executor, **kw)
    finally:
        conn.close()
        plan.close()


def test_workers_without_the_drivers_files_record_what_local_workers_and_solo_runs_record(
        cluster: Cluster, sweep_secmaster: Path, tmp_path: Path, capsys: Any) -> None:
    grid = ["--grid", "fast=3,6", "--grid", "slow=12", "--record", "all"]
    local_db = tmp_path / "local.db"
    code, local = sweep_json(capsys, sweep_args(sweep_secmaster, local_db, *grid, "--workers", "2"))
    assert code == 0 and local["completed"] == 2

    # the driver's files live in a folder that is gone before any variant runs
    mine = tmp_path / "driver"
    mine.mkdir()
    source = STRATEGIES.read_text().replace("class SweepCrossing", "class MovedCrossing")  # (one class, one name)
    (mine / "my_strategies.py").write_text(source)
    shutil.copy(sweep_secmaster, mine / "secmaster.db")
    dask_db = tmp_path / "dask.db"
    plan = P.prepare({"secmaster": str(mine / "secmaster.db"), "runs_db": str(dask_db), "commission_per_unit": 0.01,
                      "strategies": [(f"{mine / 'my_strategies.py'}:MovedCrossing", {})],
                      "grid": {"fast": [3, 6], "slow": [12]}, "record": "all", "scheduler": cluster.address})
    shutil.rmtree(mine)
    sweep_id, outcome = _run(plan, dask_db, DaskCluster(cluster.address))
    assert outcome.status == "completed", outcome
    rows = variant_rows(dask_db, sweep_id)
    assert [r[1] for r in rows] == ["completed", "completed"], rows
    by_params = {json.dumps(r["params"], sort_keys=True): r["run_id"] for r in local["results"]}
    for variant, params in enumerate(plan.grid.points, 1):
        run_id = rows[variant - 1][2]
        assert same_events(dask_db, run_id, local_db, by_params[json.dumps(params, sort_keys=True)]), params
    # the workers worked from their own copies, cached by content hash in their own folders
    cached = list(cluster.root.glob("worker*/tickbus-sweep-cache-*/*/secmaster.db"))
    assert cached and all(p.parent.name == plan.secmaster.digest for p in cached)


def test_a_dask_worker_killed_mid_sweep_leaves_every_variant_recorded_once(
        cluster: Cluster, sweep_secmaster: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    plan = P.prepare({"secmaster": str(sweep_secmaster), "runs_db": str(db), "strategies": [(SPEC, {"pause_ms": "1"})],
                      "grid": {"fast": "3:8:1"}, "scheduler": cluster.address})
    victims = cluster.worker_pids()
    killed: list[int] = []

    def kill_one(variant: int) -> None:
        if not killed:  # both workers hold a variant now: one dies with it
            killed.append(victims[0])
            os.kill(victims[0], signal.SIGKILL)

    sweep_id, outcome = _run(plan, db, DaskCluster(cluster.address), on_merged=kill_one)
    assert killed and outcome.status == "completed", outcome
    rows = variant_rows(db, sweep_id)
    assert [r[1] for r in rows] == ["completed"] * 6, rows
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT run_id) FROM runs").fetchone() == (6, 6)
    conn.close()


def test_ctrl_c_stops_the_variants_running_on_the_workers(cluster: Cluster, sweep_secmaster: Path, tmp_path: Path) -> None:
    from distributed import Client

    db = tmp_path / "runs.db"
    # each variant sleeps 6 ms a bar: 900 bars, ~5 s; the workers hold two more when the first lands
    proc = spawn(sweep_args(sweep_secmaster, db, "--grid", "fast=3:8:1", "--param", "pause_ms=6",
                            "--scheduler", cluster.address), f"dask-ctrlc-{tmp_path.name}")
    wait_for_a_merged_variant(db, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    # told to stop, the running variants end their runs: each worker's one thread is free at once
    # (a variant left running would hold it for seconds)
    with Client(cluster.address, timeout=START_TIMEOUT_S) as client:
        probes = [client.submit(time.sleep, 0.1, workers=[w], pure=False) for w in client.nthreads()]
        started = time.monotonic()
        client.gather(probes)
        assert time.monotonic() - started < 3.0
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status FROM sweeps").fetchone() == ("cancelled",)
    conn.close()


def test_tpe_with_a_holdout_on_dask_picks_what_it_picks_on_local_workers(
        cluster: Cluster, sweep_secmaster: Path, tmp_path: Path, capsys: Any) -> None:
    pytest.importorskip("optuna")
    args = ["--grid", "fast=2:9:1", "--grid", "slow=10:30:5", "--search", "tpe", "--trials", "6", "--seed", "5",
            "--holdout", "30%", "--top", "2", "--sort", "sharpe"]
    out = {}
    for where, extra in (("local", ["--workers", "2"]), ("dask", ["--scheduler", cluster.address])):
        code, out[where] = sweep_json(capsys, sweep_args(sweep_secmaster, tmp_path / f"{where}.db", *args, *extra))
        assert code == 0 and out[where]["completed"] == 6 + 2, out[where]

    def picked(o: dict[str, Any]) -> list[Any]:
        return [(r["params"], r["sharpe"], None if r["out_of_sample"] is None else r["out_of_sample"]["sharpe"])
                for r in sorted(o["results"], key=lambda r: r["variant"])]

    assert picked(out["local"]) == picked(out["dask"])  # batches of 2 on both: the same trials, the same held-out runs
    assert out["local"]["rank_correlation"] == out["dask"]["rank_correlation"]


# Kills the module's scheduler: this test stays the last of the module.
def test_a_scheduler_that_goes_away_ends_the_sweep_with_nothing_half_merged(
        cluster: Cluster, sweep_secmaster: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    plan = P.prepare({"secmaster": str(sweep_secmaster), "runs_db": str(db), "strategies": [(SPEC, {"pause_ms": "1"})],
                      "grid": {"fast": "3:12:1"}, "scheduler": cluster.address})

    def stop_scheduler(variant: int) -> None:
        if cluster.scheduler.poll() is None:
            cluster.scheduler.kill()

    sweep_id, outcome = _run(plan, db, DaskCluster(cluster.address), on_merged=stop_scheduler)
    assert outcome.status == "failed" and "Dask scheduler" in str(outcome.error) and "went away" in str(outcome.error)
    rows = variant_rows(db, sweep_id)
    assert {r[1] for r in rows} == {"completed", "pending"}, rows
    conn = sqlite3.connect(db)
    completed = [r[2] for r in rows if r[1] == "completed"]
    assert sorted(r[0] for r in conn.execute("SELECT run_id FROM runs")) == sorted(completed)
    assert conn.execute("SELECT COUNT(DISTINCT run_id) FROM run_metrics").fetchone() == (len(completed),)
    assert conn.execute("SELECT status FROM sweeps").fetchone() == ("failed",)
    conn.close()
