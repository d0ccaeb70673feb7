"""Run settings are checked against one schema (orchestrator/settings.py), flags and RUN.toml alike:
every problem is named (FILE:KEY: what) before any process starts or any run row is written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from components.sample_data import build_sample_secmaster
from orchestrator import settings
from orchestrator.errors import UsageError


@pytest.fixture(scope="module")
def secmaster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sample_secmaster(tmp_path_factory.mktemp("settings") / "secmaster.db", symbols=2, bars=60, seed=3)


def tickbus(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orchestrator.cli", *args], capture_output=True, text=True, timeout=120)


def _toml(tmp_path: Path, secmaster: Path, body: str) -> Path:
    path = tmp_path / "RUN.toml"
    path.write_text(f'secmaster = "{secmaster}"\nruns_db = "{tmp_path / "runs.db"}"\n{body}')
    return path


GOOD_STRATEGY = '[[strategy]]\nspec = "SMACrossover"\nparams = { fast_period = 5, slow_period = 10 }\n'


@pytest.mark.parametrize("body, problem", [
    ('ennd = "2024-01-02"\n' + GOOD_STRATEGY, "RUN.toml:ennd: unknown setting (did you mean 'end'?)"),
    ('in_process = "no"\n' + GOOD_STRATEGY, "RUN.toml:in_process: expected true or false, got the string 'no'"),
    ('barrier_timeout = "fast"\n' + GOOD_STRATEGY, "RUN.toml:barrier_timeout: expected a number, got 'fast'"),
    ('barrier_timeout = 0\n' + GOOD_STRATEGY, "RUN.toml:barrier_timeout: must be greater than 0"),
    ('transport = "udp"\n' + GOOD_STRATEGY, "RUN.toml:transport: expected one of ipc, tcp"),
    ('commission_per_unit = nan\n' + GOOD_STRATEGY, "RUN.toml:commission_per_unit: expected a finite number"),
    ('[[strategy]]\nparams = { fast_period = 5 }\n', "RUN.toml:strategy[1].spec: required"),
    ('[[strategy]]\nspec = "SMACrossover"\nparam = { fast_period = 5 }\n',
     "RUN.toml:strategy[1].param: unknown key (did you mean 'params'?)"),
    ('start = "yesterday"\n' + GOOD_STRATEGY, "RUN.toml:start: 'yesterday' is not an ISO-8601 date"),
])
def test_a_bad_run_toml_exits_2_naming_file_and_key(secmaster: Path, tmp_path: Path, body: str, problem: str) -> None:
    r = tickbus("run", str(_toml(tmp_path, secmaster, body)))
    assert r.returncode == 2 and problem in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "runs.db").exists()


def test_every_problem_of_a_run_toml_is_listed_at_once(secmaster: Path, tmp_path: Path) -> None:
    r = tickbus("run", str(_toml(tmp_path, secmaster, 'ennd = 1\ncurve = "yes"\nexpect_attach = -1\n' + GOOD_STRATEGY)))
    assert r.returncode == 2
    keys = [re.search(r"RUN\.toml:(\w+):", line).group(1) for line in r.stderr.strip().splitlines()]  # type: ignore[union-attr]
    assert keys == ["ennd", "curve", "expect_attach"]


def test_a_run_toml_that_is_not_utf8_or_not_toml_is_one_line(secmaster: Path, tmp_path: Path) -> None:
    path = tmp_path / "RUN.toml"
    path.write_bytes(b'secmaster = "caf\xe9.db"\n')
    r = tickbus("run", str(path))
    assert r.returncode == 2 and "not UTF-8 text" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    path.write_text("secmaster = \n")
    r = tickbus("run", str(path))
    assert r.returncode == 2 and "not valid TOML" in r.stderr and "Traceback" not in r.stderr


def test_toml_dates_and_strategy_tables_are_read(secmaster: Path, tmp_path: Path) -> None:
    path = _toml(tmp_path, secmaster, "start = 2024-01-02\nin_process = true\nbarrier_timeout = 5\n" + GOOD_STRATEGY)
    s = settings.load_toml(path)
    assert s["start"] == "2024-01-02" and s["in_process"] is True and s["barrier_timeout"] == 5.0
    assert s["strategies"] == [("SMACrossover", {"fast_period": 5, "slow_period": 10})]


@pytest.mark.parametrize("flags, problem", [
    (["--barrier-timeout", "-1"], "argument --barrier-timeout: must be greater than 0, got -1"),
    (["--barrier-timeout", "0"], "argument --barrier-timeout: must be greater than 0, got 0"),
    (["--attach-timeout", "-5"], "argument --attach-timeout: must be greater than 0"),
    (["--commission-per-unit", "-1"], "argument --commission-per-unit: must be 0 or more"),
    (["--commission-per-unit", "nan"], "argument --commission-per-unit: expected a finite number"),
    (["--expect-attach", "1.5"], "argument --expect-attach: expected an integer"),
    (["--listen", "tcp://127.0.0.1:99999"], "port 99999 is out of range"),
    (["--listen", "tcp://192.0.2.1:5555"], "cannot bind it on this host"),
    (["--transport", "udp"], "argument --transport: expected one of ipc, tcp"),
])
def test_a_bad_flag_exits_2_with_one_line_before_anything_runs(secmaster: Path, tmp_path: Path, flags: list[str],
                                                               problem: str) -> None:
    r = tickbus("run", "--secmaster", str(secmaster), "--runs-db", str(tmp_path / "runs.db"), "--strategy", "SMACrossover", *flags)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and problem in r.stderr, r.stderr
    assert not (tmp_path / "runs.db").exists()


def test_settings_built_in_code_are_checked_the_same_way() -> None:
    with pytest.raises(UsageError) as err:
        settings.validate({"barrier_timeout": -2, "symbols": [], "on_attach_loss": "ignore"}, "dashboard")
    lines = str(err.value).splitlines()
    assert lines == [
        "dashboard:barrier_timeout: must be greater than 0, got -2",
        "dashboard:symbols: expected a list of symbols (or \"all\"), got list []",
        "dashboard:on_attach_loss: expected one of fail, drop, got the string 'ignore'",
    ]
