"""scripts/soak.py, the short version: one run per fault kind, each checked (culprit, exit status,
no process left, runs.db intact). The long version (200+ runs) is run by hand; see its docstring."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_a_short_soak_names_every_culprit_and_leaves_nothing_behind(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "soak.py"), "--iterations", "6", "--seed", "11", "--json",
         "--kinds", "kill,stop,term,lock,garbage,joiner", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=280,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    runs, summary = lines[:-1], lines[-1]
    assert len(runs) == 6 and {r["kind"] for r in runs} == {"kill", "stop", "term", "lock", "garbage", "joiner"}
    assert summary["failed_checks"] == 0 and proc.returncode == 0, json.dumps(summary["failures"], indent=1)
