"""Sweeps in the dashboard, over HTTP against a real server: the form's live count and checks (the
CLI's), launching a sweep that runs like `tickbus sweep`, its list, table and heatmap (each cell
the figure of the run it names), out-of-sample columns, cancelling one or stopping the dashboard
under it (no process left), resuming it, a sweep whose driver is gone, the record level and process layout of
its variants, a Dask scheduler that cannot be reached."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from components.sample_data import build_sample_secmaster
from orchestrator.dashboard.jobs import KILL_AFTER_S
from dashkit import STRATEGIES, SWEEP_TAG, Dashboard, pid_gone, serve, wait_sweep
from proctools import describe, free_port, processes_with_env

FIXED = {"long_only": True, "mode": "TREND", "size_class": "small", "delay_ms": "0", "crash_at": "0"}


def request(dash: Dashboard, grid: dict[str, str], params: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"strategies": [{"key": dash.knobs_key(), "params": {**FIXED, **(params or {})}, "grid": grid}],
            "dataset": "tickbus/SAMPLE", "symbols": ["SYM000", "SYM001"], **extra}


def recorded_sweeps(dash: Dashboard) -> int:
    if not dash.runs_db.exists():
        return 0
    conn = sqlite3.connect(dash.runs_db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM sweeps").fetchone()[0])
    finally:
        conn.close()


def test_the_live_count_and_every_problem_next_to_its_input(sweep_dashboard: Dashboard) -> None:
    dash = sweep_dashboard
    status, body = dash.call("POST", "/api/sweeps/count", request(dash, {"period": "2:10:2", "quantity": "1,2"}, where="period > 2"))
    assert status == 200 and body["variants"] == 8 and body["grid_size"] == 10 and body["axes"] == {"period": 5, "quantity": 2}
    _, body = dash.call("POST", "/api/sweeps/count", request(dash, {"period": "2:10:2", "quantity": "1,2"}, random="3", seed="7"))
    assert body["variants"] == 3
    _, body = dash.call("POST", "/api/sweeps/count", request(dash, {"quantity": "0.5:2"}))  # the ParamSpec's step, 0.5
    assert body["variants"] == 4

    before = recorded_sweeps(dash)
    bad = request(dash, {"period": "1:10:2", "quantity": "1,x", "mode": "TREND,SIDEWAYS"}, where="perod > 2", random="0")
    status, counted = dash.call("POST", "/api/sweeps/count", bad)
    assert status == 200 and counted["variants"] is None
    status, body = dash.call("POST", "/api/sweeps", bad)
    assert status == 422
    errors = body["errors"]
    assert errors == counted["errors"]  # what the live count says is what launching says
    knobs = errors["params"][dash.knobs_key()]
    assert knobs["period"] == "1 is below the minimum 2"  # the words of `tickbus sweep --grid period=1:10:2`
    assert knobs["quantity"] == "'x' is not a number"
    assert "SIDEWAYS" in knobs["mode"] and "not a Mode" in knobs["mode"]
    assert errors["fields"] == {"where": "unknown name 'perod' (did you mean 'period'?)", "random": "must be 1 or more, got 0"}

    status, body = dash.call("POST", "/api/sweeps", request(dash, {"period": "2:10:2"}, where="period > 100"))
    assert status == 422 and "holds for none of its 5 points" in body["errors"]["fields"]["where"]
    status, body = dash.call("POST", "/api/sweeps", request(dash, {}))
    assert status == 422 and body["errors"]["fields"]["grid"] == "vary at least one parameter (give it a range or a list)"
    status, body = dash.call("POST", "/api/sweeps", request(dash, {"period": "2:4"}, {"mode": "SIDEWAYS"}, symbols=["NOPE"],
                                                            workers="0"))
    assert status == 422  # the run form's own checks too: fixed values and data
    assert "not a Mode" in body["errors"]["params"][dash.knobs_key()]["mode"]
    assert body["errors"]["fields"]["symbols"] == "not in tickbus/SAMPLE (raw_symbol, MINUTE): NOPE"
    assert body["errors"]["fields"]["workers"] == "must be 1 or more, got 0"
    two = request(dash, {"period": "2:4"})
    two["strategies"].append({"key": "components.examples.sma_crossover:SMACrossover", "params": {}})
    status, body = dash.call("POST", "/api/sweeps", two)
    assert status == 422 and body["errors"]["fields"]["strategies"] == "a sweep varies one strategy: choose exactly one"
    assert recorded_sweeps(dash) == before and all(s["sweep_id"] for s in dash.get("/api/sweeps")["sweeps"])  # nothing started


def test_a_sweep_runs_and_its_heatmap_cells_are_its_runs(sweep_dashboard: Dashboard) -> None:
    dash = sweep_dashboard
    status, body = dash.call("POST", "/api/sweeps", request(dash, {"period": "2:10:2", "quantity": "1,2"}, where="period > 2",
                                                            name="knobs grid", workers="2"))
    assert status == 202 and body["variants"] == 8 and body["url"] == f"/sweeps/{body['key']}"
    sweep = wait_sweep(dash, body["key"], ("completed", "failed", "cancelled", "abandoned"))
    assert sweep["status"] == "completed", sweep
    assert (sweep["variants"], sweep["completed"], sweep["failed"]) == (8, 8, 0) and sweep["progress"] == 1.0
    sweep_id = sweep["sweep_id"]
    assert sweep["name"] == "knobs grid" and sweep["spec"]["grid"] == {"period": [2, 4, 6, 8, 10], "quantity": [1.0, 2.0]}
    assert dash.get(f"/api/sweeps/{sweep_id}")["key"] == sweep_id
    listed = {s["sweep_id"]: s for s in dash.get("/api/sweeps")["sweeps"]}
    assert listed[sweep_id]["status"] == "completed" and listed[sweep_id]["completed"] == 8

    table = dash.get(f"/api/sweeps/{sweep_id}?metric=sharpe")["table"]
    rows = table["variants"]
    assert len(rows) == 8 and table["params"] == ["period", "quantity"] and table["has_oos"] is False
    sharpe = [r["sharpe"] for r in rows]
    assert sharpe == sorted(sharpe, reverse=True)  # ranked by the metric asked for
    conn = sqlite3.connect(dash.runs_db)
    try:
        recorded = {run_id: (s, pnl) for run_id, s, pnl in conn.execute(
            "SELECT run_id, sharpe, net_pnl FROM run_metrics WHERE strategy_id = '' AND symbol = '' AND run_id LIKE ?",
            (f"{sweep_id}_v%",))}
    finally:
        conn.close()
    assert {r["run_id"] for r in rows} == set(recorded)
    for r in rows:
        assert (r["sharpe"], r["net_pnl"]) == recorded[r["run_id"]]
        assert dash.get(f"/api/runs/{r['run_id']}")["status"] == "completed"  # each variant has its run page
    assert dash.get(f"/api/runs/{rows[0]['run_id']}")["sweep"] == sweep_id  # a variant's run knows its sweep
    status, page = dash.call("GET", f"/runs/{rows[0]['run_id']}")
    assert status == 200 and f'href="/sweeps/{sweep_id}" id="sweep-link"' in page
    listed_runs = {r["run_id"]: r for r in dash.get("/api/runs")["runs"]}
    assert listed_runs[rows[0]["run_id"]]["sweep"] == sweep_id

    surface = dash.get(f"/api/sweeps/{sweep_id}/surface?metric=net_pnl&x=period&y=quantity")
    hm = surface["heatmap"]
    assert (hm["x"], hm["y"], hm["xs"], hm["ys"]) == ("period", "quantity", [2, 4, 6, 8, 10], [1.0, 2.0])
    by_params = {(r["params"]["period"], r["params"]["quantity"]): r for r in rows}
    for row, q in zip(hm["cells"], hm["ys"]):
        for cell, p in zip(row, hm["xs"]):
            if p == 2:  # left out by --where
                assert cell == {"value": None, "run_id": None, "variants": [], "run_ids": []}
                continue
            assert cell["run_id"] == by_params[(p, q)]["run_id"]  # one variant per cell (two parameters, two axes)
            assert cell["value"] == recorded[cell["run_id"]][1]
    line = dash.get(f"/api/sweeps/{sweep_id}/surface?metric=sharpe&x=period&y=period")["line"]
    assert line["param"] == "period" and line["values"][0] is None
    for x, cell in zip(line["xs"][1:], line["cells"][1:]):  # the best of the two quantities
        assert cell["value"] == max(recorded[by_params[(x, q)]["run_id"]][0] for q in (1.0, 2.0))
    status, body = dash.call("GET", f"/api/sweeps/{sweep_id}/surface?metric=nope")
    assert status == 422 and "unknown metric 'nope'" in body["error"]
    status, body = dash.call("GET", f"/api/sweeps/{sweep_id}/surface?x=fast")
    assert status == 422 and "not a varying parameter" in body["error"]
    assert dash.call("GET", "/api/sweeps/no-such-sweep")[0] == 404
    assert dash.call("GET", "/api/sweeps/no-such-sweep/surface")[0] == 404
    status, page = dash.call("GET", f"/sweeps/{sweep_id}")
    assert status == 200 and "knobs grid" in page and 'id="heatmap"' in page
    status, page = dash.call("GET", "/sweeps")
    assert status == 200 and f'href="/sweeps/{sweep_id}"' in page
    status, body = dash.call("POST", f"/api/sweeps/{sweep_id}/cancel")
    assert status == 409 and "already ended (completed)" in body["error"]


def test_cancel_a_running_sweep_no_process_is_left_and_resume_it(sweep_dashboard: Dashboard) -> None:
    dash = sweep_dashboard
    status, body = dash.call("POST", "/api/sweeps", request(dash, {"period": "2:9:1"}, {"delay_ms": "10"}, workers="2"))
    assert status == 202
    key = body["key"]
    deadline = time.monotonic() + 60
    while True:  # live progress: the counts grow while it runs
        sweep = dash.get(f"/api/sweeps/{key}")
        if sweep["status"] == "running" and sweep["completed"] >= 1:
            break
        assert sweep["status"] in ("queued", "starting", "running"), sweep
        assert time.monotonic() < deadline, f"no variant done within 60 s: {sweep}"
        time.sleep(0.1)
    assert sweep["cancellable"] and sweep["variants"] == 8
    status, body = dash.call("POST", f"/api/sweeps/{sweep['sweep_id']}/cancel")
    assert status == 202 and body["cancel_requested"]
    sweep = wait_sweep(dash, key, ("completed", "failed", "cancelled", "abandoned"), timeout=60)
    assert sweep["status"] == "cancelled" and sweep["completed"] < 8 and not sweep["cancellable"]
    assert "resume" in (sweep["error"] or "")
    job_pid = int(json.loads((dash.state_dir / "sweeps" / sweep["job_id"] / "job.json").read_text())["pid"])
    # the bound the dashboard keeps: a cancelled job still there after KILL_AFTER_S is killed, and
    # its workers die with it (a loaded machine can take a while, an orphan never goes)
    deadline = time.monotonic() + KILL_AFTER_S + 30
    while not (pid_gone(job_pid) and processes_with_env("TICKBUS_TEST_TAG", SWEEP_TAG) == [dash.pid]):
        assert time.monotonic() < deadline, f"left behind: {describe(set(processes_with_env('TICKBUS_TEST_TAG', SWEEP_TAG)) - {dash.pid})}"
        time.sleep(0.1)

    # resumed here as `tickbus sweep resume` resumes it: only the variants left run
    sweep_id, left = sweep["sweep_id"], sweep["pending"]
    status, body = dash.call("POST", f"/api/sweeps/{sweep_id}/resume")
    assert status == 202 and body["pending"] == left > 0, body
    status, body = dash.call("POST", f"/api/sweeps/{sweep_id}/resume")
    assert status == 409 and "already" in body["error"]  # one resume at a time
    resumed = wait_sweep(dash, sweep_id, ("completed", "failed"), timeout=120)
    assert (resumed["status"], resumed["completed"], resumed["failed"], resumed["pending"]) == ("completed", 8, 0, 0), resumed
    conn = sqlite3.connect(dash.runs_db)
    try:
        runs = conn.execute("SELECT status, COUNT(*) FROM runs WHERE run_id LIKE ? GROUP BY status", (f"{sweep_id}_v%",)).fetchall()
    finally:
        conn.close()
    assert runs == [("completed", 8)]  # each variant once: the cancelled ones' runs were replaced, none doubled
    status, body = dash.call("POST", f"/api/sweeps/{sweep_id}/resume")
    assert status == 409 and "no variant left" in body["error"]
    assert dash.call("POST", "/api/sweeps/no-such-sweep/resume")[0] == 404


def test_out_of_sample_columns_of_a_sweep_with_a_holdout(sweep_dashboard: Dashboard) -> None:
    dash = sweep_dashboard
    status, body = dash.call("POST", "/api/sweeps", request(dash, {"period": "2:4"}, top="2"))
    assert status == 422 and body["errors"]["fields"] == {"top": "only with --holdout (how many in-sample best run out of sample)"}
    status, body = dash.call("POST", "/api/sweeps", request(dash, {"period": "2:4"}, holdout="150%", walk_forward="1"))
    assert status == 422
    assert body["errors"]["fields"]["holdout"] == "the percentage must be between 0 and 100 (exclusive), got '150%'"
    assert body["errors"]["fields"]["walk_forward"] == "must be 2 or more, got 1"
    _, counted = dash.call("POST", "/api/sweeps/count", request(dash, {"period": "2:5"}, holdout="30%", top="2"))
    assert counted["variants"] == 4 and counted["out_of_sample"] == 2

    status, body = dash.call("POST", "/api/sweeps", request(dash, {"period": "2:5"}, holdout="30%", top="2", sort="sharpe"))
    assert status == 202, body
    sweep = wait_sweep(dash, body["key"], ("completed", "failed", "cancelled", "abandoned"))
    assert sweep["status"] == "completed" and sweep["variants"] == 6 and sweep["completed"] == 6  # 4 in sample, 2 out
    assert sweep["spec"]["holdout"]["given"] == "30%" and sweep["spec"]["holdout"]["top"] == 2
    table = dash.get(f"/api/sweeps/{sweep['sweep_id']}?metric=sharpe")["table"]
    assert table["has_oos"] and len(table["variants"]) == 4  # the grid's rows; the held-out runs are their columns
    with_oos = [r for r in table["variants"] if r.get("oos")]
    assert [r["variant"] for r in with_oos] == [r["variant"] for r in table["variants"][:2]]  # the top 2 in sample
    conn = sqlite3.connect(dash.runs_db)
    try:
        for r in with_oos:
            oos = r["oos"]
            assert oos["run_id"] != r["run_id"] and oos["status"] == "completed"
            recorded = conn.execute("SELECT sharpe, net_pnl FROM run_metrics WHERE run_id = ? AND strategy_id = '' AND symbol = ''",
                                    (oos["run_id"],)).fetchone()
            assert (oos["sharpe"], oos["net_pnl"]) == recorded
            start = conn.execute("SELECT start_ns FROM sweep_variants WHERE sweep_id = ? AND variant = ?",
                                 (sweep["sweep_id"], oos["variant"])).fetchone()[0]
            assert start == sweep["spec"]["holdout"]["split_ns"]  # run from the split on
    finally:
        conn.close()
    rho = table["rank_correlation"]
    assert rho is None or -1.0 <= rho <= 1.0


def test_a_sweep_whose_driver_is_gone_reads_abandoned(sweep_dashboard: Dashboard) -> None:
    dash = sweep_dashboard
    code = ("import sys; from orchestrator.sweep import store; from recorder import runsdb; "
            "print(store.create_sweep(runsdb.connect(sys.argv[1]), 'ghost', {}, [{'period': 2}, {'period': 3}]))")
    made = subprocess.run([sys.executable, "-c", code, str(dash.runs_db)], capture_output=True, text=True, timeout=60, check=True)
    sweep_id = made.stdout.strip()  # its driver (that process) has exited, leaving it `running`
    listed = {s["sweep_id"]: s for s in dash.get("/api/sweeps")["sweeps"]}
    assert listed[sweep_id]["status"] == "abandoned" and listed[sweep_id]["pending"] == 2
    assert not listed[sweep_id]["cancellable"]  # not this dashboard's: `tickbus sweep resume` finishes it
    status, page = dash.call("GET", "/sweeps")
    assert status == 200 and 'class="status abandoned"' in page


def test_stopping_the_dashboard_cancels_its_sweep(tmp_path: Path) -> None:
    secmaster = build_sample_secmaster(tmp_path / "secmaster.db", symbols=2, bars=200)
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "test_strats.py").write_text(STRATEGIES)
    tag = "dashboard-sweeps-stop"
    with serve(tmp_path, secmaster, "--strategies", str(tmp_path / "strategies"), env={"TICKBUS_TEST_TAG": tag}) as (dash, proc):
        status, body = dash.call("POST", "/api/sweeps", request(dash, {"period": "2:9:1"}, {"delay_ms": "10"}, workers="2"))
        assert status == 202, body
        deadline = time.monotonic() + 60
        while (sweep := dash.get(f"/api/sweeps/{body['key']}"))["completed"] < 1:
            assert time.monotonic() < deadline, sweep
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)  # Ctrl-C at the dashboard's terminal
        proc.wait(timeout=60)
    conn = sqlite3.connect(dash.runs_db)
    try:
        status, error = conn.execute("SELECT status, error FROM sweeps WHERE sweep_id = ?", (sweep["sweep_id"],)).fetchone()
    finally:
        conn.close()
    assert status == "cancelled" and "resume" in error
    deadline = time.monotonic() + 30
    while processes_with_env("TICKBUS_TEST_TAG", tag):
        assert time.monotonic() < deadline, f"left behind: {describe(processes_with_env('TICKBUS_TEST_TAG', tag))}"
        time.sleep(0.1)


def test_a_sweep_recording_trades_with_each_variant_in_its_own_processes(sweep_dashboard: Dashboard) -> None:
    dash = sweep_dashboard
    status, body = dash.call("POST", "/api/sweeps", request(dash, {"period": "2:3"}, record="everything", multi_process="yes",
                                                            scheduler="localhost:8786"))
    assert status == 422  # each checked as `tickbus sweep` checks its flag
    fields = body["errors"]["fields"]
    assert "everything" in fields["record"] and "expected true or false" in fields["multi_process"]
    assert fields["scheduler"] == "expected tcp://HOST:PORT, got 'localhost:8786'"
    status, body = dash.call("POST", "/api/sweeps", request(dash, {"period": "2:3"}, workers="2", scheduler="tcp://127.0.0.1:9"))
    assert status == 422 and "give one" in body["errors"]["fields"]["workers"]

    status, body = dash.call("POST", "/api/sweeps", request(dash, {"period": "2:3"}, record="trades", multi_process=True))
    assert status == 202, body
    sweep = wait_sweep(dash, body["key"], ("completed", "failed", "cancelled", "abandoned"))
    assert sweep["status"] == "completed" and sweep["completed"] == 2, sweep
    assert sweep["spec"]["record"] == "trades" and sweep["spec"]["settings"]["multi_process"] is True
    conn = sqlite3.connect(dash.runs_db)
    try:
        configs = [json.loads(c) for (c,) in conn.execute("SELECT config FROM runs WHERE run_id LIKE ?",
                                                           (f"{sweep['sweep_id']}_v%",))]
    finally:
        conn.close()
    assert len(configs) == 2 and all(c["record"] == "trades" and c["in_process"] is False for c in configs)
    status, page = dash.call("GET", f"/sweeps/{sweep['sweep_id']}")
    assert status == 200 and "each variant in its own processes" in page


def test_a_sweep_whose_dask_scheduler_cannot_be_reached_fails_saying_so(sweep_dashboard: Dashboard) -> None:
    pytest.importorskip("distributed", reason="the cluster extra is not installed")
    dash = sweep_dashboard
    status, body = dash.call("POST", "/api/sweeps", request(dash, {"period": "2:3"}, scheduler=f"tcp://127.0.0.1:{free_port()}"))
    assert status == 202, body
    sweep = wait_sweep(dash, body["key"], ("completed", "failed", "cancelled", "abandoned"), timeout=120)
    assert sweep["status"] == "failed" and "cannot reach the Dask scheduler" in (sweep["error"] or ""), sweep
