"""scripts/bench.py end to end on tiny data: every engine's SMA-X fills equal the numpy reference
(exact decimal rule; backtrader, summing floats, may differ only where the two SMAs are exactly
equal; tickbus not even there).

A correctness test, not a timing test.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_engines_agree_on_tiny_data(tmp_path: Path) -> None:
    engines = "numpy,inproc,mp" + (",backtrader" if importlib.util.find_spec("backtrader") else "")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--sizes", "3x400", "--strategies", "1,2",
         "--engines", engines, "--timeout", "60", "--json", "--silent", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=110,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    out = json.loads(proc.stdout)
    cases = out["cases"]
    want = {"numpy", "tickbus-inproc", "tickbus-mp"} | ({"backtrader"} if "backtrader" in engines else set())
    assert {c["engine"] for c in cases} == want
    assert {c["strategies"] for c in cases} == {1, 2}
    for c in cases:
        assert c["status"] == "ok", c
        assert c["fills_match"] is True and c["unexplained_diffs"] == 0, c
        assert c["fills"] > 0 and c["wall_s"] > 0 and c["peak_rss_mb"] > 0, c
        ref = c["reference_fills"]
        assert abs(c["fills"] - ref) <= c["tie_diffs"], c
        if c["engine"] != "backtrader":  # exact SMAs: no difference even where they tie
            assert c["tie_diffs"] == 0 and c["fills"] == ref, c
    mp = [c for c in cases if c["engine"] == "tickbus-mp"]
    assert all(c["processes"] >= 4 for c in mp)  # bus, recorder, broker, strategies, datafeed
    assert all(c["fills_equal_inproc"] is True for c in mp)
    assert out["all_fills_match"] is True


def test_bench_record_levels_record_the_same_fills_and_fewer_bytes(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--sizes", "3x400", "--strategies", "1",
         "--engines", "inproc,trades,summary", "--timeout", "60", "--json", "--silent", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=110,
    )
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    cases = {c["engine"]: c for c in json.loads(proc.stdout)["cases"]}
    assert set(cases) == {"tickbus-inproc", "tickbus-inproc-trades", "tickbus-inproc-summary"}
    every = cases["tickbus-inproc"]
    for name in ("tickbus-inproc-trades", "tickbus-inproc-summary"):
        c = cases[name]
        assert c["status"] == "ok" and c["fills_match"] is True and c["fills_equal_inproc"] is True, c
        assert 0 < c["db_bytes_per_bar_strategy"] < every["db_bytes_per_bar_strategy"], c
        assert c["ratio_to_record_all"] > 0, c


def test_bench_storage_stores_both_layouts(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_storage.py"), "--bars", "500", "--trials", "1"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert [line.split()[2] for line in lines] == ["rows", "chunks"]
    assert all("B/bar" in line for line in lines)
