"""Sweeps on local worker processes: variants equal solo runs, a failing variant, a worker
SIGKILLed mid-sweep, Ctrl-C and resume."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from sweepkit import SPEC, same_events, spawn, sweep_args, sweep_json, tagged, variant_rows, wait_for_a_merged_variant

from orchestrator.cli import main
from orchestrator.sweep import driver, plan as P
from orchestrator.sweep import store
from orchestrator.sweep.pool import LocalPool
from recorder import runsdb


def test_each_variant_records_the_events_of_its_solo_run(sweep_secmaster: Path, tmp_path: Path, capsys: Any) -> None:
    db = tmp_path / "runs.db"
    code, out = sweep_json(capsys, sweep_args(sweep_secmaster, db, "--grid", "fast=3,6", "--grid", "slow=12",
                                              "--record", "all", "--workers", "2"))
    assert code == 0 and out["status"] == "completed" and out["completed"] == 2 and out["failed"] == 0
    for r in out["results"]:
        solo = tmp_path / f"solo-{r['params']['fast']}.db"
        assert main(["run", "--secmaster", str(sweep_secmaster), "--runs-db", str(solo), "--strategy", SPEC,
                     "--param", f"fast={r['params']['fast']}", "--param", "slow=12", "--commission-per-unit", "0.01",
                     "--in-process", "--json"]) == 0
        solo_id = json.loads(capsys.readouterr().out)["run_id"]
        assert same_events(db, r["run_id"], solo, solo_id), r
        conn = sqlite3.connect(db)
        config = json.loads(conn.execute("SELECT config FROM runs WHERE run_id = ?", (r["run_id"],)).fetchone()[0])
        assert config["sweep"] == {"sweep_id": out["sweep_id"], "variant": r["variant"], "params": r["params"]}
        assert config["record"] == "all"
        conn.close()
    # the results are ranked by net PnL, and `runs show` reads every variant
    pnls = [r["net_pnl"] for r in out["results"]]
    assert pnls == sorted(pnls, reverse=True)
    assert main(["runs", "show", out["results"][0]["run_id"], "--runs-db", str(db), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["total"]["net_pnl"] == pytest.approx(out["results"][0]["net_pnl"])


def test_a_failing_variant_is_recorded_with_its_traceback_and_the_sweep_goes_on(
        sweep_secmaster: Path, tmp_path: Path, capsys: Any) -> None:
    db = tmp_path / "runs.db"
    code, out = sweep_json(capsys, sweep_args(sweep_secmaster, db, "--grid", "fast=3,4,5", "--param", "slow=12",
                                              "--param", "fail_at=4", "--workers", "2"))
    assert code == 1 and out["status"] == "completed" and (out["completed"], out["failed"]) == (2, 1)
    failed = [r for r in out["results"] if r["status"] == "failed"]
    assert [r["params"] for r in failed] == [{"fast": 4}]
    assert "RuntimeError: variant fast=4 fails on purpose" in failed[0]["error"] and "Traceback" in failed[0]["error"]
    assert out["results"][-1]["status"] == "failed"  # no figures: ranked last
    # its run is recorded, failed, with the same error
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status FROM runs WHERE run_id = ?", (failed[0]["run_id"],)).fetchone() == ("failed",)
    conn.close()
    # --max-failures stops the sweep
    code, out = sweep_json(capsys, sweep_args(sweep_secmaster, db, "--grid", "fast=3,4,5,6", "--param", "slow=12",
                                              "--param", "fail_at=3", "--workers", "1", "--max-failures", "1"))
    assert code == 1 and out["status"] == "failed" and "--max-failures 1" in out["error"]
    assert out["failed"] == 1 and out["completed"] == 0
    assert {r["status"] for r in out["results"]} == {"failed", "pending"}


def test_a_worker_killed_mid_sweep_has_its_variant_run_again_and_every_variant_lands_once(
        sweep_secmaster: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    plan = P.prepare({"secmaster": str(sweep_secmaster), "runs_db": str(db), "strategies": [(SPEC, {"pause_ms": "1"})],
                      "grid": {"fast": "3:8:1"}, "workers": 2})
    pool = LocalPool(2)
    killed: list[int] = []

    def kill_one(variant: int) -> None:
        if not killed:  # the other worker is in the middle of its variant now
            killed.append(pool.busy[0])
            os.kill(killed[0], signal.SIGKILL)

    conn = runsdb.connect(db)
    try:
        sweep_id = store.create_sweep(conn, plan.name, plan.spec(), plan.grid.points)
        outcome = driver.run(plan, conn, sweep_id, list(enumerate(plan.grid.points, 1)), pool, on_merged=kill_one)
    finally:
        conn.close()
        plan.close()
    assert killed and outcome.status == "completed", outcome
    rows = variant_rows(db, sweep_id)
    assert [r[1] for r in rows] == ["completed"] * 6
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT config) FROM runs").fetchone() == (6, 6)
    assert sorted(r[0] for r in conn.execute("SELECT run_id FROM runs")) == sorted(r[2] for r in rows)
    conn.close()


def test_ctrl_c_cancels_keeps_what_finished_and_resume_finishes_it(sweep_secmaster: Path, tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    tag = f"ctrlc-{tmp_path.name}"
    proc = spawn(sweep_args(sweep_secmaster, db, "--grid", "fast=3:8:1", "--param", "pause_ms=1", "--workers", "2"), tag)
    wait_for_a_merged_variant(db, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    deadline = time.monotonic() + 10
    while tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert tagged(tag) == []  # no worker, no component left behind
    conn = sqlite3.connect(db)
    sweep_id, status, completed = conn.execute("SELECT sweep_id, status, completed FROM sweeps").fetchone()
    conn.close()
    assert status == "cancelled" and 1 <= completed < 6
    merged = {r[0]: r[2] for r in variant_rows(db, sweep_id) if r[1] == "completed"}

    assert main(["sweep", "resume", sweep_id, "--runs-db", str(db), "--workers", "2"]) == 0
    rows = variant_rows(db, sweep_id)
    assert [r[1] for r in rows] == ["completed"] * 6
    assert all(dict((r[0], r[2]) for r in rows)[v] == run for v, run in merged.items())  # kept as they were
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status, completed, failed FROM sweeps").fetchone() == ("completed", 6, 0)
    assert conn.execute("SELECT COUNT(*) FROM runs").fetchone() == (6,)
    conn.close()
