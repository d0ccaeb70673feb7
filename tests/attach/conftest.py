"""Fixtures for attach/monitor/ps tests: real `tickbus` processes in a private run root."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from attachkit import Cli  # tests/attach is on sys.path (rootdir-relative "prepend" imports)

from components.sample_data import build_sample_secmaster


@pytest.fixture(scope="session")
def secmaster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 symbols x 300 minute bars."""
    return build_sample_secmaster(tmp_path_factory.mktemp("data") / "secmaster.db", symbols=4, bars=300, seed=11)


@pytest.fixture(scope="session")
def long_secmaster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 symbols x 2000 bars: a run of a few seconds with fast strategies (for rates)."""
    return build_sample_secmaster(tmp_path_factory.mktemp("data") / "long.db", symbols=4, bars=2000, seed=11)


@pytest.fixture
def run_root(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private, short run root: these tests see only their own live runs (and ipc paths stay short)."""
    root = Path(tempfile.mkdtemp(prefix="tbt-", dir="/tmp"))
    monkeypatch.setenv("TICKBUS_RUN_ROOT", str(root / "runs"))
    try:
        yield root / "runs"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cli(tmp_path: Path, run_root: Path) -> Iterator[Cli]:
    """Depends on run_root so its processes are stopped before the run root is removed."""
    c = Cli(tmp_path)
    try:
        yield c
    finally:
        c.cleanup()
