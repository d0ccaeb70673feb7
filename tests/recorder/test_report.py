"""The HTML report: self-contained (no network reference), charts present, bounded in size; the
downsampling keeps extremes; a missing matplotlib is one clear error."""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from test_analysis_kit import RunBuilder, hand_run

from recorder.analysis import RunAnalysis, analyse_run, open_runs_db
from recorder.report import ChartsUnavailable, render_html, write_report
from recorder.report import html as report_html
from recorder.report.downsample import minmax_indices

pytest.importorskip("matplotlib")

URL_ATTR = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> RunAnalysis:
    db = tmp_path_factory.mktemp("report") / "runs.db"
    run_id = hand_run(db)
    return analyse_run(open_runs_db(db), run_id)


def images(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_report_is_self_contained_with_charts_and_tables(hand: RunAnalysis, tmp_path: Path) -> None:
    path = write_report(hand, tmp_path / "r.html")
    page = path.read_text(encoding="utf-8")
    pngs = images(page)
    assert len(pngs) == 2 + 2  # equity, drawdown, one price chart per symbol
    assert all(p.startswith(b"\x89PNG\r\n\x1a\n") and len(p) > 5_000 for p in pngs)
    assert "http://" not in page and "https://" not in page
    assert not URL_ATTR.search(page)
    assert "<script" not in page and "@import" not in page and "url(" not in page
    assert "<h2>Round trips (6)</h2>" in page and page.count("<tr><td class=\"l\">") >= 6
    assert ">Sharpe (annualised)<" in page and ">net PnL<" in page and "x sqrt(98,280)" in page


def test_failed_and_running_runs_say_so(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    failed = RunBuilder(db, ["A"], ["X"]).bars("X", [1, 2]).finish("failed", "Traceback (most recent call last):\n  boom <here>")
    running = RunBuilder(db, ["A"], ["X"]).bars("X", [1]).finish("running")
    conn = open_runs_db(db)
    page = render_html(analyse_run(conn, failed))
    assert '<pre class="error">Traceback (most recent call last):\n  boom &lt;here&gt;</pre>' in page
    page = render_html(analyse_run(conn, running))
    assert "still being recorded" in page


def test_round_trip_table_is_capped_for_long_runs(hand: RunAnalysis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report_html, "MAX_TRIP_ROWS", 2)
    page = render_html(hand)
    table = page[page.index("<h2>Round trips"):page.index("<h2>Notes")]
    assert table.count("<tr>") == 1 + 2 and "The first 2 by exit" in table


def test_a_long_run_report_stays_small(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    n = 8_000  # > downsample.MAX_POINTS and > 4 x charts.ZOOM_BARS: both paths drawn
    rng = np.random.default_rng(1)
    b = RunBuilder(db, ["A"], ["X", "Y"])
    for sym in ("X", "Y"):
        b.bars(sym, list(np.round(100 * np.exp(np.cumsum(rng.normal(0, 1e-3, n))), 2)))
    for i in range(0, n, 8):
        b.fill("A", "X", i, "BUY" if i % 16 == 0 else "SELL", 1, 100.0)
    a = analyse_run(open_runs_db(db), b.finish())
    size = len(render_html(a).encode())
    assert size < 1_500_000, size  # charts are images: size does not grow with bars


def test_missing_matplotlib_is_one_clear_error(hand: RunAnalysis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(ChartsUnavailable, match=r"pip install 'tickbus\[report\]'"):
        render_html(hand)


def test_minmax_downsampling_keeps_extremes_and_bounds_points() -> None:
    y = np.sin(np.linspace(0, 20, 1_000_003))
    y[123_457] = 5.0
    y[876_543] = -5.0
    keep = minmax_indices(y, 2000)
    assert len(keep) <= 2002 and np.all(np.diff(keep) > 0)
    assert {0, 123_457, 876_543, len(y) - 1} <= set(keep.tolist())
    assert list(minmax_indices(np.arange(5.0), 10)) == [0, 1, 2, 3, 4]
