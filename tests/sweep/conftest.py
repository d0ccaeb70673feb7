"""Fixtures of the sweep tests: a small secmaster and the test strategies' file."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.sample_data import build_sample_secmaster

from sweepkit import STRATEGIES  # noqa: F401  (tests/sweep is on sys.path)


@pytest.fixture(scope="session")
def sweep_secmaster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 symbols x 300 minute bars (900 per variant): enough crossings, quick to run."""
    return build_sample_secmaster(tmp_path_factory.mktemp("sweepdata") / "secmaster.db", symbols=3, bars=300, seed=7)
