"""`tickbus run` refuses bad arguments with exit 2 and one line, before any process starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.sample_data import build_sample_secmaster


@pytest.fixture(scope="module")
def secmaster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sample_secmaster(tmp_path_factory.mktemp("cli") / "secmaster.db", symbols=2, bars=60, seed=3)


def tickbus(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--strategy", "NoSuchStrategy"], "unknown strategy 'NoSuchStrategy'"),
        (["--strategy", "SMACrossover", "--param", "nope=1"], "has no parameter 'nope'"),
        (["--strategy", "SMACrossover", "--param", "fast_period=1000"], "fast_period"),
        (["--strategy", "SMACrossover", "--param", "fast_period=abc"], "fast_period"),
        (["--param", "fast_period=5", "--strategy", "SMACrossover"], "must follow the --strategy"),
        (["--strategy", "SMACrossover", "--symbols", "NOPE"], "NOPE"),
        (["--strategy", "SMACrossover", "--start", "2030-01-01"], ""),
        (["--strategy", "SMACrossover", "--start", "2024-01-03", "--end", "2024-01-02"], "empty date range"),
        (["--strategy", "SMACrossover", "--start", "yesterday"], "not an ISO-8601"),
        (["--strategy", "SMACrossover", "--dataset", "NOPE"], "dataset 'NOPE'"),
        (["--strategy", "no/such/file.py:X"], "no such file"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(secmaster: Path, tmp_path: Path, args: list[str], message: str) -> None:
    runs_db = tmp_path / "runs.db"
    r = tickbus("run", "--secmaster", str(secmaster), "--runs-db", str(runs_db), *args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("tickbus run: error:") and message in lines[0]
    assert not runs_db.exists()  # nothing started, nothing recorded


def test_missing_secmaster_exits_2(tmp_path: Path) -> None:
    r = tickbus("run", "--secmaster", str(tmp_path / "missing.db"), "--strategy", "SMACrossover")
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_run_toml_with_two_strategies_completes(secmaster: Path, tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text(
        f'secmaster = "{secmaster}"\nruns_db = "{tmp_path / "runs.db"}"\nin_process = true\n'
        '[[strategy]]\nspec = "SMACrossover"\nparams = { fast_period = 5, slow_period = 10 }\n'
        '[[strategy]]\nspec = "RSIMeanReversion"\n'
    )
    r = tickbus("run", str(toml), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["status"] == "completed" and summary["bars"] == 120
    assert {"run_id", "status", "bars", "events", "fills", "elapsed_s"} <= summary.keys()


def test_broker_process_flag_runs_the_broker_in_its_own_process_with_the_same_result(secmaster: Path, tmp_path: Path) -> None:
    common = ["run", "--secmaster", str(secmaster), "--runs-db", str(tmp_path / "runs.db"), "--json",
              "--strategy", "SMACrossover", "--param", "fast_period=5", "--param", "slow_period=10"]
    hosted, own = tickbus(*common), tickbus(*common, "--broker-process")
    assert hosted.returncode == 0 and own.returncode == 0, (hosted.stderr, own.stderr)
    a, b = json.loads(hosted.stdout), json.loads(own.stdout)
    assert a["status"] == b["status"] == "completed" and a["fills"] == b["fills"] > 0 and a["events"] == b["events"]
