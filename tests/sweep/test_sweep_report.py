"""`tickbus sweep report`: one self-contained page (no remote resource, as for `runs report`)
with the ranking table `sweep show` prints, the heatmaps, the robustness and the curves."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from sweepkit import sweep_args

from orchestrator.cli import main

pytest.importorskip("matplotlib")

URL_ATTR = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def swept(sweep_secmaster: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("sweepreport") / "runs.db"
    assert main(sweep_args(sweep_secmaster, db, "--grid", "fast=2:6:2", "--grid", "slow=10,15,20", "--workers", "2")) == 0
    return db


def test_the_report_is_self_contained_and_holds_table_heatmaps_and_curves(swept: Path, tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "sweep.html"
    assert main(["sweep", "report", "latest", "--runs-db", str(swept), "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    page = out.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page and not URL_ATTR.search(page)
    assert "@import" not in page and "url(" not in page
    assert re.findall(r"<script[^>]*>", page) == ["<script>"]  # one inline script (table sorting), nothing loaded
    pngs = [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]
    # heatmap, robustness heatmap, distribution, top-5 equity
    assert len(pngs) == 4 and all(p.startswith(b"\x89PNG") for p in pngs)
    assert "Robustness" in page and "nbr median Sharpe" in page
    table = page[page.index('<table class="sortable">'):]
    table = table[:table.index("</table>")]
    report_runs = re.findall(r"<td class=\"l\">([^<]*_v\d+)</td>", table)
    assert len(report_runs) == 9
    # `sweep show` ranks the same way, with the same columns
    assert main(["sweep", "show", "latest", "--runs-db", str(swept), "--sort", "sharpe"]) == 0
    shown = capsys.readouterr().out
    lines = shown[shown.index("best 9 by sharpe"):].splitlines()[1:]
    assert lines[0].split()[:3] == ["rank", "#", "fast"] and "Sortino" in lines[0] and "exposure" in lines[0]
    assert [ln.split()[-1] for ln in lines[1:10]] == report_runs
    assert main(["sweep", "show", "latest", "--runs-db", str(swept), "--sort", "sharpe", "--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in js["results"]] == report_runs


def test_report_errors_are_one_line(swept: Path, tmp_path: Path, capsys: Any) -> None:
    assert main(["sweep", "report", "nope", "--runs-db", str(swept)]) == 2
    err = capsys.readouterr().err
    assert "no sweep 'nope'" in err and "Traceback" not in err
    assert main(["sweep", "report", "latest", "--runs-db", str(swept), "--sort", "sharpe"]) == 2
    assert "does not take --sort" in capsys.readouterr().err


def test_compare_two_sweeps_over_the_same_grid(swept: Path, sweep_secmaster: Path, tmp_path: Path, capsys: Any) -> None:
    import shutil

    db = tmp_path / "runs.db"
    shutil.copy(swept, db)
    first = json.loads(_out(capsys, ["sweep", "list", "--runs-db", str(db), "--json"]))[0]["sweep_id"]
    # the same grid again: nothing moves
    assert main(sweep_args(sweep_secmaster, db, "--grid", "fast=2:6:2", "--grid", "slow=10,15,20", "--workers", "2")) == 0
    capsys.readouterr()
    assert main(["sweep", "compare", first, "latest", "--runs-db", str(db), "--json"]) == 0
    same = json.loads(capsys.readouterr().out)
    assert same["variants"] == 9 and same["changed"] == 0 and same["rank_correlation"] == pytest.approx(1.0)
    assert all(p["delta"] == 0 for p in same["pairs"] if p["delta"] is not None)
    # another commission: every figure moves, and the command says which
    assert main([*sweep_args(sweep_secmaster, db, "--grid", "fast=2:6:2", "--grid", "slow=10,15,20", "--workers", "2"),
                 "--commission-per-unit", "0.05"]) == 0
    capsys.readouterr()
    assert main(["sweep", "compare", first, "latest", "--runs-db", str(db)]) == 1
    text = capsys.readouterr().out
    assert "9 variants, 9 changed" in text and "net_pnl" in text
    # a different grid: one line, exit 2
    assert main(sweep_args(sweep_secmaster, db, "--grid", "fast=2,3", "--grid", "slow=10,15,20", "--workers", "2")) == 0
    capsys.readouterr()
    assert main(["sweep", "compare", first, "latest", "--runs-db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "not over the same grid: fast: [2, 4, 6] vs [2, 3]" in err and "Traceback" not in err


def _out(capsys: Any, args: list[str]) -> str:
    assert main(args) == 0
    return capsys.readouterr().out
