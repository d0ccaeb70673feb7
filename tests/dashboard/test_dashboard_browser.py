"""A real headless Chromium: fill the form, launch, watch it complete, see the charts; offline only.

Needs Debian's `chromium` and `chromium-driver` (.ci/run installs them) and selenium (test extra).
Set TICKBUS_DASHBOARD_SCREENSHOT=PATH to also keep the screenshot there (the README's picture).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import Dashboard

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
    pytest.skip(f"{CHROMIUM} or {DRIVER} is missing: apt-get install chromium chromium-driver (.ci/run does)",
                allow_module_level=True)
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (it is in the test extra)")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

SMA = "components.examples.sma_crossover:SMACrossover"
COLORED_PIXELS = """
let n = 0;
for (const c of document.querySelectorAll(arguments[0] + ' canvas')) {
  if (!c.width || !c.height) continue;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 0 && (d[i] < 180 || d[i + 1] < 180 || d[i + 2] < 180)) n++;
}
return n;"""


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1200,1900",
                # belt and braces: a name other than 127.0.0.1 would not even resolve
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(tmp_path / "chromium-profile", ignore_errors=True)


def until(what: Callable[[], Any], timeout: float, message: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value:
            return value
        assert time.monotonic() < deadline, message
        time.sleep(0.1)


def status_shown(driver: Any) -> str:
    """The run page's status, or "" while the page is being replaced (the element may vanish mid-read)."""
    try:
        found = driver.find_elements(By.ID, "status")
        return str(found[0].text) if found else ""
    except (NoSuchElementException, StaleElementReferenceException):
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


def test_launch_from_the_form_and_see_the_charts(dashboard: Dashboard, browser: Any, tmp_path: Path) -> None:
    browser.get(dashboard.url + "/new")
    sma = browser.find_element(By.CSS_SELECTOR, f'fieldset.strategy[data-key="{SMA}"]')
    for fs in browser.find_elements(By.CSS_SELECTOR, "fieldset.strategy"):
        pick = fs.find_element(By.CSS_SELECTOR, ".pick")
        if pick.is_selected() != (fs == sma):
            pick.click()

    def fill(name: str, value: str, root: Any = browser) -> None:
        field = root.find_element(By.CSS_SELECTOR, f'[name="{name}"]')
        field.clear()
        field.send_keys(value)

    # a bad value: refused, the message next to its input, still on the form
    fill("fast_period", "1", sma)
    browser.find_element(By.ID, "launch-button").click()
    error = sma.find_element(By.CSS_SELECTOR, '[data-error-for="fast_period"]')
    until(lambda: error.text, 10, "no error shown next to fast_period")
    assert error.text == "1 is below the minimum 5" and browser.current_url.endswith("/new")

    fill("fast_period", "5", sma)
    fill("slow_period", "20", sma)
    fill("commission_per_unit", "0.01")
    browser.find_element(By.ID, "launch-button").click()
    until(lambda: "/runs/" in browser.current_url, 10, "launching did not open the run page")
    until(lambda: status_shown(browser) in ("completed", "failed", "cancelled"), 60, "the run did not finish")
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

    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "(Unprocessable" not in e["message"]]
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
