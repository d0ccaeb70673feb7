"""Fixtures for multi-process system tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.sample_data import build_sample_secmaster


@pytest.fixture(scope="session")
def secmaster(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 symbols x 300 minute bars: long enough for every scripted action, short enough to be quick."""
    return build_sample_secmaster(tmp_path_factory.mktemp("data") / "secmaster.db", symbols=4, bars=300, seed=11)
