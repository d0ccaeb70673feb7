"""The dashboard's HTTP API against a real server: forms, launching, refusing, queue, cancel, results."""

from __future__ import annotations

import sqlite3
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from dashkit import FINAL, Dashboard, pid_gone

SMA = "components.examples.sma_crossover:SMACrossover"


def launch(dash: Dashboard, strategies: list[dict[str, Any]], **extra: Any) -> tuple[int, Any]:
    body = {"strategies": strategies, "dataset": "tickbus/SAMPLE", "symbols": ["SYM000", "SYM001"], **extra}
    return dash.call("POST", "/api/runs", body)


def test_health(dashboard: Dashboard) -> None:
    assert dashboard.get("/health") == {"status": "ok"}


def test_only_local_json_requests_change_anything(dashboard: Dashboard) -> None:
    """Another web page cannot drive the dashboard: no CORS-free POST, no foreign Host."""
    form = urllib.request.Request(dashboard.url + "/api/runs", data=b'{"strategies": []}', method="POST",
                                  headers={"Content-Type": "text/plain"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(form, timeout=10)
    assert refused.value.code == 415
    rebound = urllib.request.Request(dashboard.url + "/api/runs", headers={"Host": "evil.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(rebound, timeout=10)
    assert refused.value.code == 400


def test_strategy_list_with_generated_forms(dashboard: Dashboard) -> None:
    data = dashboard.get("/api/strategies")
    by_key = {s["key"]: s for s in data["strategies"]}
    sma = {p["name"]: p for p in by_key[SMA]["params"]}
    assert sma["fast_period"] == {"name": "fast_period", "kind": "int", "default": 20, "min": 5, "max": 100, "step": 1,
                                  "choices": None, "hidden": False}
    assert sma["bar_period"]["hidden"] is True  # set from the data, as the seed does
    assert by_key["components.examples.rsi_mean_reversion:RSIMeanReversion"]["source"] == "built-in"

    knobs = {p["name"]: p for p in by_key[dashboard.knobs_key()]["params"]}
    assert knobs["quantity"]["kind"] == "float" and (knobs["quantity"]["min"], knobs["quantity"]["step"]) == (0.5, 0.5)
    assert knobs["long_only"]["kind"] == "bool" and knobs["long_only"]["default"] is True
    assert knobs["mode"]["kind"] == "select" and [c["value"] for c in knobs["mode"]["choices"]] == ["TREND", "REVERT"]
    assert knobs["size_class"]["kind"] == "select" and knobs["size_class"]["default"] == "small"

    [problem] = data["problems"]  # the broken file is listed with its error, not skipped
    assert problem["file"].endswith("broken.py") and "a_module_that_does_not_exist" in problem["error"]

    status, page = dashboard.call("GET", "/new")
    assert status == 200
    assert 'name="fast_period" data-kind="int" value="20" min="5" max="100" step="1"' in page
    assert 'name="quantity" data-kind="float" value="1.0" min="0.5" max="10.0" step="0.5"' in page
    assert '<input type="checkbox" name="long_only" data-kind="bool" checked>' in page
    assert '<select name="mode" data-kind="select"><option value="TREND" selected>' in page
    assert "a_module_that_does_not_exist" in page


def test_secmaster_offer(dashboard: Dashboard) -> None:
    [ds] = dashboard.get("/api/secmaster")["datasets"]
    assert ds["key"] == "tickbus/SAMPLE" and ds["periods"] == ["MINUTE"]
    assert [s["symbol"] for s in ds["symbols"]] == ["SYM000", "SYM001"]
    assert ds["first"] == ds["last"] == "2024-01-02"


def _counts(dash: Dashboard) -> tuple[int, int]:
    runs = 0
    if dash.runs_db.exists():
        with sqlite3.connect(dash.runs_db) as conn:
            runs = conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    jobs = len(list((dash.state_dir / "jobs").iterdir())) if (dash.state_dir / "jobs").exists() else 0
    return runs, jobs


def test_invalid_input_is_refused_field_by_field_and_nothing_starts(dashboard: Dashboard) -> None:
    before = _counts(dashboard)
    status, body = launch(
        dashboard,
        [{"key": dashboard.knobs_key(), "params": {"period": "1", "quantity": "lots", "mode": "SIDEWAYS", "size_class": "huge"}},
         {"key": SMA, "params": {"fast_period": "2.5"}}],
        symbols=["SYM000", "NOPE"], start="2024-01-03", end="2024-01-02", commission_per_unit="-1",
    )
    assert status == 422
    errors = body["errors"]
    knobs = errors["params"][dashboard.knobs_key()]
    assert knobs["period"] == "1 is below the minimum 2"
    assert knobs["quantity"] == "'lots' is not a number"
    assert "not a Mode" in knobs["mode"] and "TREND" in knobs["mode"]
    assert "not one of the choices" in knobs["size_class"]
    assert errors["params"][SMA]["fast_period"] == "'2.5' is not a whole number"
    assert errors["fields"]["symbols"] == "not in tickbus/SAMPLE (raw_symbol, MINUTE): NOPE"
    assert errors["fields"]["end"] == "the end is before the start"
    assert errors["fields"]["commission_per_unit"] == "a number of 0 or more"

    # dates outside the data: refused next to the date, in words (not at the foot of the form)
    status, body = launch(dashboard, [{"key": SMA, "params": {}}], start="2030-01-01")
    assert status == 422 and body["errors"]["form"] is None
    assert body["errors"]["fields"] == {"start": "after the last bar: the chosen symbols' bars cover 2024-01-02 … 2024-01-02"}
    status, body = launch(dashboard, [{"key": SMA, "params": {}}], end="2023-12-31")
    assert status == 422 and body["errors"]["fields"] == {"end": "before the first bar: the chosen symbols' bars cover 2024-01-02 … 2024-01-02"}
    status, body = launch(dashboard, [{"key": SMA, "params": {}}], symbol_type="continuous", bar_period="HOUR")
    assert status == 422 and body["errors"]["fields"]["symbol_type"] == "tickbus/SAMPLE has no continuous symbols (it has raw_symbol)"
    status, body = launch(dashboard, [{"key": SMA, "params": {}}], bar_period="HOUR")
    assert status == 422 and body["errors"]["fields"]["bar_period"] == "no HOUR bars of raw_symbol symbols (there are: MINUTE)"
    status, body = launch(dashboard, [])
    assert status == 422 and body["errors"]["fields"]["strategies"] == "choose at least one strategy"
    assert _counts(dashboard) == before  # no job, no run


def test_launch_runs_to_completion_with_results(dashboard: Dashboard) -> None:
    status, body = launch(
        dashboard,
        [{"key": SMA, "params": {"fast_period": "5", "slow_period": "20"}},
         {"key": dashboard.knobs_key(), "params": {"mode": "REVERT", "long_only": False, "quantity": "2"}}],
        commission_per_unit="0.01",
    )
    assert status == 202, body
    run = dashboard.wait(body["key"], FINAL)
    assert run["status"] == "completed", run.get("error_text")
    run_id = run["run_id"]

    # the throw-away subclasses, as the seed builds them: `_`-prefixed type() subclasses
    specs = [s["spec"] for s in run["config"]["components"]["strategies"]]
    assert [s["name"] for s in specs] == ["_ConfiguredSMACrossover", "_ConfiguredKnobs"]
    fast = specs[0]["attrs"]["parameters"]["__dict__"]["fast_period"]["__param__"]["default"]
    assert fast == 5
    assert run["config"]["components"]["broker"]["attrs"]["commission_per_unit"] == 0.01
    assert run["config"]["in_process"] is False  # a real multi-process run

    res = run["results"]
    assert res["bars"] == 400 and res["fills"] > 0 and res["symbols"] == ["SYM000", "SYM001"]
    assert res["stats"]["header"] == ["", "total", "SMA-Crossover", "Knobs"]
    assert res["stats"]["rows"][0][0] == "net PnL"
    assert res["round_trips"] and {"entry_time", "exit_time", "net_pnl"} <= set(res["round_trips"][0])

    curves = dashboard.get(f"/api/runs/{run_id}/equity")["curves"]
    assert [c["name"] for c in curves] == ["total", "SMA-Crossover", "Knobs"]
    assert len(curves[0]["equity"]) == 200 and all(p["value"] <= 0 for p in curves[0]["drawdown"])

    price = dashboard.get(f"/api/runs/{run_id}/price?symbol=SYM000")
    assert len(price["bars"]) == 200 and set(price["bars"][0]) == {"time", "open", "high", "low", "close"}
    names = {(i["strategy"], i["name"]) for i in price["indicators"]}
    assert {("SMA-Crossover", "SMA_5_CLOSE"), ("SMA-Crossover", "SMA_20_CLOSE"), ("Knobs", "SMA_10_CLOSE")} <= names
    assert all(i["overlay"] for i in price["indicators"])  # moving averages live on the price pane
    with sqlite3.connect(dashboard.runs_db) as conn:
        n_fills = conn.execute("SELECT COUNT(*) FROM fills WHERE run_id = ? AND symbol = 'SYM000'", (run_id,)).fetchone()[0]
    assert len(price["fills"]) == n_fills > 0

    listed = {r["key"]: r for r in dashboard.get("/api/runs")["runs"]}
    assert listed[run_id]["status"] == "completed" and not listed[run_id]["cancellable"]
    status, page = dashboard.call("GET", f"/runs/{run_id}")
    assert status == 200 and "Statistics" in page and 'id="equity-chart"' in page and "Round trips" in page


def test_queue_and_cancel(dashboard: Dashboard) -> None:
    """At most one run at a time here: the second waits; cancelling stops every process."""
    slow = [{"key": dashboard.knobs_key(), "params": {"delay_ms": "40"}}]
    status, first = launch(dashboard, slow)
    assert status == 202
    status, second = launch(dashboard, slow)
    assert status == 202 and second["status"] == "queued"

    run = dashboard.wait(first["key"], ("running",), timeout=30)
    deadline = time.monotonic() + 20
    while not (run.get("bus") and run.get("progress") and run["progress"]["fraction"]):
        assert time.monotonic() < deadline, run
        time.sleep(0.2)
        run = dashboard.get(f"/api/runs/{first['key']}")
    assert 0 < run["progress"]["fraction"] < 1 and run["progress"]["bars_total"] == 400
    members = {m["name"]: m["pid"] for m in run["bus"]["members"]}
    assert {"recorder", "broker", "Knobs", "datafeed"} <= set(members)
    pids = [*members.values(), run["orchestrator_pid"]]
    assert dashboard.get(f"/api/runs/{second['key']}")["status"] == "queued"

    status, body = dashboard.call("POST", f"/api/runs/{second['key']}/cancel")
    assert status == 202
    assert dashboard.get(f"/api/runs/{second['key']}")["status"] == "cancelled"  # at once: it never started

    status, body = dashboard.call("POST", f"/api/runs/{first['key']}/cancel")
    assert status == 202
    done = dashboard.wait(first["key"], FINAL, timeout=45)
    assert done["status"] == "cancelled" and "SIGTERM" in done["error_text"]
    deadline = time.monotonic() + 10
    while not all(pid_gone(p) for p in pids):
        assert time.monotonic() < deadline, [p for p in pids if not pid_gone(p)]
        time.sleep(0.1)
    with sqlite3.connect(dashboard.runs_db) as conn:
        assert conn.execute("SELECT status FROM runs WHERE run_id = ?", (done["run_id"],)).fetchone()[0] == "cancelled"
    status, _ = dashboard.call("POST", f"/api/runs/{first['key']}/cancel")
    assert status == 409  # already over


def test_failed_run_shows_error_and_traceback(dashboard: Dashboard) -> None:
    status, body = launch(dashboard, [{"key": dashboard.knobs_key(), "params": {"crash_at": "30"}}])
    assert status == 202
    run = dashboard.wait(body["key"], FINAL)
    assert run["status"] == "failed"
    assert "Traceback" in run["error_text"] and "knobs crashed on purpose at bar 30" in run["error_text"]
    status, page = dashboard.call("GET", f"/runs/{run['run_id']}")
    assert "Traceback" in page and "knobs crashed on purpose" in page and 'class="traceback"' in page
