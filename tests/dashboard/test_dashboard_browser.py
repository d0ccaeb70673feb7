"""A real headless Chromium (one for the module): fill the form, launch, watch it complete, see the
charts; presets, deletion, segments, the trade journey, display settings, live results, a server
that stops; a sweep launched from the form, its heatmap and table, its live progress. Offline only.

Needs Debian's `chromium` and `chromium-driver` (.ci/run installs them) and selenium (test extra).
Set TICKBUS_DASHBOARD_SCREENSHOT=PATH to also keep the screenshot there (the README's picture).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from components.sample_data import build_sample_secmaster
from dashkit import FINAL, Dashboard, serve, wait_sweep
from recorder import runsdb

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
    pytest.skip(f"{CHROMIUM} or {DRIVER} is missing: apt-get install chromium chromium-driver (.ci/run does)",
                allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (it is in the test extra)")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

SMA = "components.examples.sma_crossover:SMACrossover"
RSI = "components.examples.rsi_mean_reversion:RSIMeanReversion"
COLORED_PIXELS = """
let n = 0;
for (const c of document.querySelectorAll(arguments[0] + ' canvas')) {
  if (!c.width || !c.height) continue;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 180 || d[i + 1] < 180 || d[i + 2] < 180)) n++;
}
return n;"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    profile = tmp_path_factory.mktemp("chromium-profile")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1200,1900",
                # belt and braces: a name other than 127.0.0.1 would not even resolve
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def until(what: Callable[[], Any], timeout: float, message: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = what()
        except WebDriverException:  # the page is replacing that part of itself (or itself): look again
            value = None
        if value:
            return value
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


def status_shown(driver: Any) -> str:
    """The run page's status, or "" while the page is being replaced (the element may vanish mid-read)."""
    try:
        found = driver.find_elements(By.ID, "status")
        return str(found[0].text) if found else ""
    except WebDriverException:  # vanished, stale, or "does not belong to the document" mid-navigation
        return ""


def requests_made(driver: Any) -> list[tuple[str, str]]:
    """(url, document that asked) of every request the browser started, from its DevTools log."""
    out = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            out.append((msg["params"]["request"]["url"], msg["params"].get("documentURL", "")))
        elif msg["method"] == "Network.webSocketCreated":
            out.append((msg["params"]["url"], ""))
    return out


def severe_errors(driver: Any, allowed: tuple[str, ...] = ()) -> list[Any]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and not any(a in e["message"] for a in allowed)]


def fill(root: Any, name: str, value: str) -> None:
    field = root.find_element(By.CSS_SELECTOR, f'[name="{name}"]')
    field.clear()
    field.send_keys(value)


def pick_strategies(driver: Any, *keys: str) -> None:
    for fs in driver.find_elements(By.CSS_SELECTOR, "fieldset.strategy"):
        pick = fs.find_element(By.CSS_SELECTOR, ".pick")
        if pick.is_selected() != (fs.get_attribute("data-key") in keys):
            pick.click()


def launch(dash: Dashboard, strategies: list[dict[str, Any]]) -> str:
    status, body = dash.call("POST", "/api/runs", {"strategies": strategies, "dataset": "tickbus/SAMPLE", "symbols": ["SYM000", "SYM001"]})
    assert status == 202, body
    return str(body["key"])


def test_launch_from_the_form_and_see_the_charts(dashboard: Dashboard, browser: Any, tmp_path: Path) -> None:
    browser.get(dashboard.url + "/new")
    pick_strategies(browser, SMA)
    sma = browser.find_element(By.CSS_SELECTOR, f'fieldset.strategy[data-key="{SMA}"]')

    # a bad value: refused, the message next to its input, still on the form
    fill(sma, "fast_period", "1")
    browser.find_element(By.ID, "launch-button").click()
    error = sma.find_element(By.CSS_SELECTOR, '[data-error-for="fast_period"]')
    until(lambda: error.text, 10, "no error shown next to fast_period")
    assert error.text == "1 is below the minimum 5" and browser.current_url.endswith("/new")

    fill(sma, "fast_period", "5")
    fill(sma, "slow_period", "20")
    fill(browser, "commission_per_unit", "0.01")
    browser.find_element(By.ID, "launch-button").click()
    until(lambda: "/runs/" in browser.current_url, 10, "launching did not open the run page")
    until(lambda: status_shown(browser) in FINAL, 60, "the run did not finish")
    # the page replaces itself with the finished run's page: its charts say that one is shown
    chart = until(lambda: browser.find_elements(By.CSS_SELECTOR, "#equity-chart[data-points]"), 20, "no equity chart")[0]
    assert status_shown(browser) == "completed"
    assert int(chart.get_attribute("data-points")) == 200
    until(lambda: browser.execute_script(COLORED_PIXELS, "#equity-chart") > 200, 10, "the equity chart drew nothing")
    until(lambda: browser.execute_script(COLORED_PIXELS, "#price-chart") > 500, 10, "the price chart drew nothing")
    until(lambda: "fills" in browser.find_element(By.ID, "price-note").text, 10, "no price chart note")
    time.sleep(0.3)  # let the last frame paint before the picture
    shot = tmp_path / "dashboard-run.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    if os.environ.get("TICKBUS_DASHBOARD_SCREENSHOT"):
        shutil.copy(shot, os.environ["TICKBUS_DASHBOARD_SCREENSHOT"])

    severe = severe_errors(browser, ("(Unprocessable",))
    assert not severe, severe  # no script error, no failed load (but the refused launch's 422)
    made = requests_made(browser)
    ours = [u for u, doc in made if doc.startswith(dashboard.url + "/")]
    assert any(u.endswith("/static/vendor/lightweight-charts.standalone.production.js") for u in ours)
    assert any(u.endswith("/static/app.css") for u in ours)
    # the network: only the dashboard; chrome:// (the browser's own start page) never leaves it
    network = [u for u, _ in made if u.split(":", 1)[0] in ("http", "https", "ws", "wss", "ftp")]
    outside = [u for u in network if not u.startswith(dashboard.url + "/")]
    assert not outside, f"requests outside 127.0.0.1: {outside}"
    assert all(u.startswith((dashboard.url + "/", "data:")) for u in ours), ours
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(r.startswith(dashboard.url + "/") for r in resources), resources


def test_symbol_presets_and_dates_outside_the_data(dashboard: Dashboard, browser: Any) -> None:
    browser.get(dashboard.url + "/new")
    symbols = lambda: {c.get_attribute("value"): c for c in browser.find_elements(By.CSS_SELECTOR, "#symbol-list input")}  # noqa: E731
    assert set(symbols()) == {"SYM000", "SYM001"}
    symbols()["SYM000"].click()  # keep SYM001 only
    browser.find_element(By.ID, "preset-name").send_keys("just one")
    browser.find_element(By.ID, "preset-save").click()
    until(lambda: browser.find_element(By.ID, "preset-status").text == "saved just one", 10, "the preset was not saved")

    browser.get(dashboard.url + "/new")  # a fresh form: every symbol ticked; loading the preset ticks its own
    assert all(c.is_selected() for c in symbols().values())
    until(lambda: "just one" in [o.text for o in Select(browser.find_element(By.ID, "preset")).options], 10, "no preset listed")
    Select(browser.find_element(By.ID, "preset")).select_by_visible_text("just one")
    until(lambda: {k for k, c in symbols().items() if c.is_selected()} == {"SYM001"}, 10, "the preset did not load")
    assert "loaded just one: 1 symbols" in browser.find_element(By.ID, "preset-status").text

    browser.find_element(By.ID, "preset-delete").click()
    browser.switch_to.alert.accept()
    until(lambda: browser.find_element(By.ID, "preset-status").text == "deleted just one", 10, "the preset was not deleted")
    assert dashboard.get("/api/presets")["presets"] == []

    # the dates: bounded by the chosen symbols' data; a date past it is refused next to it
    start = browser.find_element(By.NAME, "start")
    assert (start.get_attribute("min"), start.get_attribute("max")) == ("2024-01-02", "2024-01-02")
    browser.execute_script("arguments[0].value = '2030-01-01'", start)
    pick_strategies(browser, SMA)
    browser.find_element(By.ID, "launch-button").click()
    error = browser.find_element(By.CSS_SELECTOR, '.row [data-error-for="start"]')
    until(lambda: error.text, 10, "no error next to the start date")
    assert error.text == "after the last bar: the chosen symbols' bars cover 2024-01-02 … 2024-01-02"
    assert browser.find_element(By.CSS_SELECTOR, ".form-error").text == ""
    assert not severe_errors(browser, ("(Unprocessable",))  # but the refused launch's 422


@pytest.fixture(scope="module")
def traded(dashboard: Dashboard) -> dict[str, Any]:
    """Many fills (Knobs on a 2-bar SMA) and an RSI pane (RSI mean reversion)."""
    key = launch(dashboard, [{"key": dashboard.knobs_key(), "params": {"period": "2", "long_only": False}}, {"key": RSI, "params": {}}])
    run = dashboard.wait(key, FINAL)
    assert run["status"] == "completed", run.get("error_text")
    return run


def chart_data(browser: Any) -> dict[str, str]:
    return dict(browser.execute_script("return Object.assign({}, document.getElementById('price-chart').dataset)"))


def pane_heights(browser: Any) -> list[int]:
    return list(browser.execute_script("return tb.view.chart.panes().map((p) => p.getHeight())"))


def test_performance_segments_and_display_settings(dashboard: Dashboard, browser: Any, traded: dict[str, Any]) -> None:
    browser.get(f"{dashboard.url}/runs/{traded['run_id']}")
    trips = traded["results"]["round_trips_total"]
    journey = until(lambda: browser.find_elements(By.CSS_SELECTOR, "#journey-chart[data-trips]"), 20, "no trade journey")[0]
    assert int(journey.get_attribute("data-trips")) == trips
    until(lambda: browser.execute_script(COLORED_PIXELS, "#journey-chart") > 500, 10, "the trade journey drew nothing")
    until(lambda: browser.execute_script(COLORED_PIXELS, "#pnl-chart") > 500, 10, "the PnL summary drew nothing")
    assert f"{trips} round trips" in browser.find_element(By.ID, "perf-summary").text

    until(lambda: chart_data(browser).get("panes"), 20, "no price chart")
    data = chart_data(browser)
    assert data["bars"] == "200" and int(data["panes"]) >= 2  # price + the RSI/ATR panes
    until(lambda: min(pane_heights(browser)[1:]) >= 100, 10, f"an indicator pane collapsed: {pane_heights(browser)}")
    # a long chart: too many fills to label; zoomed in, they are labelled
    assert chart_data(browser)["markerText"] == "false"
    browser.execute_script("tb.view.chart.timeScale().setVisibleLogicalRange({from: 0, to: 12})")
    until(lambda: chart_data(browser)["markerText"] == "true", 10, "fills not labelled when zoomed in")

    # by trade: one segment per round trip of the symbol, with a P&L pane; ◀ ▶ step through them
    Select(browser.find_element(By.ID, "split-mode")).select_by_value("trades")
    symbol_trips = len(dashboard.get(f"/api/runs/{traded['run_id']}/performance?symbol=SYM000")["trips"])
    until(lambda: chart_data(browser).get("segments") == str(symbol_trips), 20, "no trade segments")
    until(lambda: int(chart_data(browser)["panes"]) == int(data["panes"]) + 1, 10, "no P&L pane")
    first = chart_data(browser)["segment"]
    browser.find_element(By.ID, "segment-next").click()
    until(lambda: chart_data(browser)["segment"] != first, 10, "▶ did not move to the next trade")

    Select(browser.find_element(By.ID, "split-mode")).select_by_value("time")
    Select(browser.find_element(By.ID, "split-period")).select_by_value("hour")
    until(lambda: chart_data(browser).get("segments") == "4", 20, "not split by hour")
    Select(browser.find_element(By.ID, "split-mode")).select_by_value("condition")
    row = browser.find_element(By.CSS_SELECTOR, "#conditions .condition")
    Select(row.find_element(By.CSS_SELECTOR, ".left")).select_by_value("RSI-Mean-Reversion|RSI_14_CLOSE")
    Select(row.find_element(By.CSS_SELECTOR, ".op")).select_by_value(">")
    Select(row.find_element(By.CSS_SELECTOR, ".right")).select_by_value("")
    value = row.find_element(By.CSS_SELECTOR, ".value")
    value.clear()
    value.send_keys("60")
    browser.find_element(By.ID, "apply-condition").click()
    expected = dashboard.get(f"/api/runs/{traded['run_id']}/segments?symbol=SYM000&mode=condition&left=RSI-Mean-Reversion%7CRSI_14_CLOSE"
                             "&op=%3E&right=60&gap=0&context=50")["total"]
    until(lambda: chart_data(browser).get("segments") == str(expected) and "bars)" in chart_data(browser)["segment"], 20, "no condition segments")

    Select(browser.find_element(By.ID, "chart-type")).select_by_value("ohlc")
    until(lambda: chart_data(browser)["chartType"] == "ohlc", 10, "the chart type did not change")

    # display settings: the RSI as a purple histogram in a pane above the price, saved for the strategy set
    browser.find_element(By.CSS_SELECTOR, "#display-settings summary").click()
    rsi = browser.find_element(By.CSS_SELECTOR, '#indicator-settings tr[data-key="RSI-Mean-Reversion|RSI_14_CLOSE"]')
    Select(rsi.find_element(By.CSS_SELECTOR, '[data-set="below_price"]')).select_by_value("false")
    Select(rsi.find_element(By.CSS_SELECTOR, '[data-set="style"]')).select_by_value("histogram")
    Select(rsi.find_element(By.CSS_SELECTOR, '[data-set="color"]')).select_by_value("purple")
    browser.find_element(By.ID, "add-band").click()
    until(lambda: browser.find_element(By.ID, "settings-status").text.startswith("saved for"), 10, "settings not saved")
    until(lambda: chart_data(browser)["pricePane"] == "1", 10, "the RSI pane is not above the price")
    saved = dashboard.get(f"/api/runs/{traded['run_id']}/chart-settings")["settings"]
    assert saved["chart_type"] == "ohlc" and len(saved["fill_between"]) == 1
    assert saved["indicators"]["RSI-Mean-Reversion|RSI_14_CLOSE"] | {"panel": 0} == {
        "panel": 0, "below_price": False, "style": "histogram", "color": "purple", "width": "normal", "visible": True}

    browser.get(f"{dashboard.url}/runs/{traded['run_id']}")  # a new page: the same settings
    until(lambda: chart_data(browser).get("pricePane") == "1" and chart_data(browser)["chartType"] == "ohlc", 20, "settings not restored")
    until(lambda: min(pane_heights(browser)) >= 100, 10, f"a pane collapsed: {pane_heights(browser)}")
    assert not severe_errors(browser)


def test_delete_from_the_runs_list(dashboard: Dashboard, browser: Any) -> None:
    key = launch(dashboard, [{"key": SMA, "params": {}}])
    run_id = dashboard.wait(key, FINAL)["run_id"]
    browser.get(dashboard.url + "/runs")
    browser.find_element(By.CSS_SELECTOR, f'input.select[value="{run_id}"]').click()
    assert browser.find_element(By.ID, "selected-count").text == "1 selected"
    browser.find_element(By.ID, "delete-selected").click()
    browser.switch_to.alert.accept()
    until(lambda: not browser.find_elements(By.CSS_SELECTOR, f'tr[data-key="{run_id}"]'), 20, "the run is still listed")
    assert dashboard.call("GET", f"/api/runs/{run_id}")[0] == 404


def test_results_follow_a_run_while_it_records(dashboard: Dashboard, browser: Any) -> None:
    key = launch(dashboard, [{"key": dashboard.knobs_key(), "params": {"delay_ms": "30"}}])
    browser.get(f"{dashboard.url}/runs/{key}")
    seen: set[str] = set()

    def two_updates_while_running() -> bool:
        stats = browser.find_elements(By.ID, "statistics")
        if stats and status_shown(browser) == "running":
            seen.add(stats[0].get_attribute("data-bars"))
        return len(seen) >= 2

    until(two_updates_while_running, 60, f"the statistics did not follow the run: {seen}")
    assert "recorded so far" in browser.find_element(By.ID, "statistics").text
    until(lambda: browser.find_elements(By.CSS_SELECTOR, "#equity-chart[data-points]"), 10, "no equity chart while running")
    assert chart_data(browser).get("bars")  # the price chart too
    bus = until(lambda: browser.find_element(By.CSS_SELECTOR, "#bus p").text, 20, "no bus stats")
    assert re.search(r"p50 [\d.,]+ (µs|ms|s),", bus) and not re.search(r"\d{4}", bus), bus  # units, separators
    assert browser.execute_script("return [tb.fmt.us(1955894.1), tb.fmt.us(164531), tb.fmt.us(850), tb.fmt.int(1234567)]") == [
        "1.96 s", "164.5 ms", "850 µs", "1,234,567"]
    assert dashboard.call("POST", f"/api/runs/{key}/cancel")[0] == 202
    until(lambda: status_shown(browser) == "cancelled", 45, "the run was not cancelled")
    assert browser.find_element(By.CSS_SELECTOR, "#why h2").text == "Cancelled"


def test_a_page_whose_server_stopped_says_so(browser: Any, tmp_path: Path) -> None:
    secmaster = build_sample_secmaster(tmp_path / "secmaster.db", symbols=1, bars=20)
    conn = runsdb.connect(tmp_path / "runs.db")  # a run going on elsewhere: its orchestrator is this process
    run_id = runsdb.create_run(conn, ["Elsewhere"], {"strategies": ["Elsewhere"]}, {"orchestrator_pid": os.getpid(), "host": platform.node()})
    conn.close()
    with serve(tmp_path, secmaster) as (dash, proc):
        browser.get(f"{dash.url}/runs/{run_id}")
        until(lambda: "started outside this dashboard" in browser.find_element(By.ID, "progress-text").text, 10, "no progress text")
        assert browser.find_element(By.ID, "offline").is_displayed() is False
        proc.send_signal(2)
        proc.wait(30)
        banner = until(lambda: browser.find_element(By.ID, "offline").is_displayed() and browser.find_element(By.ID, "offline"), 15,
                       "no notice that the server stopped")
        assert banner.text.startswith("The dashboard server is not answering (since ")
        assert status_shown(browser) == "running"  # what it last knew, with the notice above it


def vary(fieldset: Any, name: str, how: str, **parts: str) -> None:
    """In sweep mode: give parameter `name` a range (min, max, step) or a list of values."""
    label = fieldset.find_element(By.CSS_SELECTOR, f'label.param[data-param="{name}"]')
    Select(label.find_element(By.CSS_SELECTOR, "select.vary")).select_by_value(how)
    for part, value in parts.items():
        field = label.find_element(By.CSS_SELECTOR, f'[data-part="{part}"]')
        field.clear()
        field.send_keys(value)


def variant_count(browser: Any) -> str:
    return str(browser.find_element(By.ID, "variant-count").get_attribute("data-variants"))


def test_launch_a_sweep_from_the_form_and_read_its_heatmap(sweep_dashboard: Dashboard, browser: Any) -> None:
    dash = sweep_dashboard
    browser.get("about:blank")  # the page an earlier test left may still be polling its (stopped) server
    for log in ("browser", "performance"):
        browser.get_log(log)  # what the module's earlier tests left there is theirs
    browser.get(dash.url + "/new#sweep")
    assert browser.find_element(By.CSS_SELECTOR, 'input[name="mode"][value="sweep"]').is_selected()
    pick_strategies(browser, dash.knobs_key())
    knobs = browser.find_element(By.CSS_SELECTOR, f'fieldset.strategy[data-key="{dash.knobs_key()}"]')
    period = knobs.find_element(By.CSS_SELECTOR, 'label.param[data-param="period"]')
    Select(period.find_element(By.CSS_SELECTOR, "select.vary")).select_by_value("range")
    prefilled = [period.find_element(By.CSS_SELECTOR, f'[data-part="{p}"]').get_attribute("value") for p in ("min", "max", "step")]
    assert prefilled == ["2", "50", "1"]  # the ParamSpec's min, max and step
    until(lambda: variant_count(browser) == "49", 10, "no live count of the prefilled range")

    # bad values: each message next to its input, no count, nothing launched
    vary(knobs, "period", "range", min="1", max="6", step="2")
    fill(browser, "sweep_where", "perod > 2")
    period_error = knobs.find_element(By.CSS_SELECTOR, '[data-error-for="period"]')
    until(lambda: period_error.text == "1 is below the minimum 2", 10, f"no error next to period: {period_error.text!r}")
    where_error = browser.find_element(By.CSS_SELECTOR, '#sweep-settings [data-error-for="where"]')
    until(lambda: where_error.text == "unknown name 'perod' (did you mean 'period'?)", 10,
          f"no error next to where: {where_error.text!r}")  # the server's answer may come after the form's own check
    assert variant_count(browser) == ""
    browser.find_element(By.ID, "launch-button").click()
    until(lambda: where_error.text, 10, "launching did not show the errors")
    assert browser.current_url.endswith("/new#sweep")

    vary(knobs, "period", "range", min="2", max="6", step="2")
    vary(knobs, "quantity", "list", list="1,2")
    fill(browser, "sweep_where", "period > 2")
    until(lambda: variant_count(browser) == "4", 10, "the count did not follow the grid")
    assert "of 6 grid points" in browser.find_element(By.ID, "variant-count").text
    assert period_error.text == "" and where_error.text == ""
    fill(browser, "sweep_name", "from the form")
    browser.find_element(By.ID, "launch-button").click()
    until(lambda: "/sweeps/" in browser.current_url and "job-" not in browser.current_url, 30, "no sweep page")
    until(lambda: status_shown(browser) == "completed", 90, "the sweep did not complete")
    sweep_id = browser.find_element(By.ID, "sweep").get_attribute("data-sweep-id")
    assert browser.current_url.endswith(f"/sweeps/{sweep_id}")

    heatmap = until(lambda: browser.find_elements(By.CSS_SELECTOR, '#heatmap[data-kind="heatmap"]'), 20, "no heatmap")[0]
    assert (heatmap.get_attribute("data-cells"), heatmap.get_attribute("data-metric")) == ("6", "sharpe")
    expected = dash.get(f"/api/sweeps/{sweep_id}/surface?metric=sharpe&x=period&y=quantity")["heatmap"]
    shown = {(c.get_attribute("data-x"), c.get_attribute("data-y")): (c.get_attribute("data-value"), c.get_attribute("data-run-id"))
             for c in browser.find_elements(By.CSS_SELECTOR, "#heatmap rect.cell")}
    want = {(str(x), str(y).removesuffix(".0")): ("" if cell["value"] is None else cell["value"], cell["run_id"] or "")
            for row, y in zip(expected["cells"], expected["ys"]) for cell, x in zip(row, expected["xs"])}
    assert {k: (float(v) if v else "", r) for k, (v, r) in shown.items()} == want
    rows = until(lambda: browser.find_elements(By.CSS_SELECTOR, "#variants tbody tr"), 10, "no variants table")
    assert len(rows) == 4 and all(r.find_element(By.CSS_SELECTOR, "a").get_attribute("href").endswith(r.get_attribute("data-run-id"))
                                  for r in rows)

    Select(browser.find_element(By.ID, "metric")).select_by_value("net_pnl")
    until(lambda: heatmap.get_attribute("data-metric") == "net_pnl", 10, "the metric selector did nothing")
    table = dash.get(f"/api/sweeps/{sweep_id}?metric=net_pnl")["table"]["variants"]
    browser.find_element(By.CSS_SELECTOR, '#variants th[data-sort="net_pnl"]').click()  # best first
    order = lambda: [r.get_attribute("data-run-id") for r in browser.find_elements(By.CSS_SELECTOR, "#variants tbody tr")]  # noqa: E731
    until(lambda: order() == [r["run_id"] for r in sorted(table, key=lambda r: -r["net_pnl"])], 10, "not sorted by net PnL")
    browser.find_element(By.CSS_SELECTOR, '#variants th[data-sort="net_pnl"]').click()  # again: worst first
    until(lambda: order() == [r["run_id"] for r in sorted(table, key=lambda r: r["net_pnl"])], 10, "not sorted the other way")
    Select(browser.find_element(By.ID, "axis-y")).select_by_value("period")  # x = y: the line of one parameter
    until(lambda: heatmap.get_attribute("data-kind") == "line", 10, "no line for one parameter")

    Select(browser.find_element(By.ID, "axis-y")).select_by_value("quantity")
    cell = until(lambda: browser.find_elements(By.CSS_SELECTOR, '#heatmap rect.cell.link'), 10, "no cell to click")[0]
    run_id = cell.get_attribute("data-run-id")
    cell.click()
    until(lambda: browser.current_url.endswith(f"/runs/{run_id}"), 10, "a cell does not open its run")
    until(lambda: status_shown(browser) == "completed", 10, "the variant's run page")

    browser.find_element(By.LINK_TEXT, "Sweeps").click()
    row = until(lambda: browser.find_elements(By.CSS_SELECTOR, f'#sweeps tr[data-key="{sweep_id}"]'), 10, "not on the Sweeps page")[0]
    assert row.find_element(By.CSS_SELECTOR, "[data-field=status]").text == "completed"
    assert [row.find_element(By.CSS_SELECTOR, f"[data-field={f}]").text for f in ("completed", "failed", "variants")] == ["4", "0", "4"]
    assert "from the form" in row.text
    assert not severe_errors(browser, ("(Unprocessable",))
    outside = [u for u, _ in requests_made(browser) if u.split(":", 1)[0] in ("http", "https", "ws", "wss")
               and not u.startswith(dash.url + "/")]
    assert not outside, f"requests outside 127.0.0.1: {outside}"


def test_a_running_sweep_shows_its_progress_and_is_cancelled_from_its_page(sweep_dashboard: Dashboard, browser: Any) -> None:
    dash = sweep_dashboard
    status, body = dash.call("POST", "/api/sweeps", {
        "strategies": [{"key": dash.knobs_key(), "params": {"delay_ms": "5"}, "grid": {"period": "2:9:1"}}],
        "dataset": "tickbus/SAMPLE", "symbols": ["SYM000", "SYM001"], "workers": "2"})
    assert status == 202, body
    browser.get(f"{dash.url}/sweeps/{body['key']}")
    seen: set[str] = set()

    def progress_moves() -> bool:
        if status_shown(browser) == "running":
            text = browser.find_element(By.ID, "progress-text").text
            if "variants done" in text:
                seen.add(text.split(" variants done")[0])
        return len(seen) >= 2

    until(progress_moves, 60, f"the progress did not follow the sweep: {seen}")
    until(lambda: browser.find_elements(By.CSS_SELECTOR, "#variants tbody tr[data-run-id]"), 20, "no variants while it runs")
    browser.find_element(By.ID, "cancel-sweep").click()
    until(lambda: status_shown(browser) == "cancelled", 60, "the sweep was not cancelled")
    assert browser.find_element(By.CSS_SELECTOR, "#why h2").text == "Cancelled"
    sweep = wait_sweep(dash, body["key"], ("cancelled",), timeout=10)
    assert sweep["completed"] < sweep["variants"] == 8


def test_out_of_sample_columns_and_walk_forward_windows(sweep_dashboard: Dashboard, browser: Any) -> None:
    dash = sweep_dashboard
    ids = {}
    for kind, extra in (("holdout", {"holdout": "30%", "top": "2"}), ("walk_forward", {"walk_forward": "3"})):
        status, body = dash.call("POST", "/api/sweeps", {
            "strategies": [{"key": dash.knobs_key(), "params": {}, "grid": {"period": "2:5"}}],
            "dataset": "tickbus/SAMPLE", "symbols": ["SYM000", "SYM001"], "sort": "sharpe", **extra})
        assert status == 202, body
        sweep = wait_sweep(dash, body["key"], ("completed", "failed", "cancelled", "abandoned"))
        assert sweep["status"] == "completed", sweep
        ids[kind] = sweep["sweep_id"]

    browser.get(f"{dash.url}/sweeps/{ids['holdout']}")
    until(lambda: browser.find_elements(By.CSS_SELECTOR, '#variants th[data-sort="oos_sharpe"]'), 20, "no OOS columns")
    table = dash.get(f"/api/sweeps/{ids['holdout']}?metric=sharpe")["table"]
    shown = {r.get_attribute("data-run-id"): r for r in browser.find_elements(By.CSS_SELECTOR, "#variants tbody tr")}
    for row in table["variants"]:
        links = [a.get_attribute("href") for a in shown[row["run_id"]].find_elements(By.CSS_SELECTOR, "a")]
        assert len(links) == (2 if row.get("oos") else 1)  # its run, and its held-out run when it has one
        if row.get("oos"):
            assert links[0].endswith(row["oos"]["run_id"])
    note = browser.find_element(By.ID, "variants-note")
    assert "rank correlation of Sharpe in and out of sample" in note.text
    assert "held out from 2024-01-02 " in browser.find_element(By.ID, "settings").text
    assert browser.find_element(By.ID, "walk-forward-section").is_displayed() is False

    browser.get(f"{dash.url}/sweeps/{ids['walk_forward']}")
    windows = until(lambda: browser.find_elements(By.CSS_SELECTOR, "#walk-forward tbody tr"), 20, "no walk-forward windows")
    assert [w.get_attribute("data-window") for w in windows] == ["1", "2", "3"]
    assert not windows[0].find_elements(By.CSS_SELECTOR, "a") and all(w.find_elements(By.CSS_SELECTOR, "a") for w in windows[1:])
    assert not severe_errors(browser)
