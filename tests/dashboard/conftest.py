"""Fixtures of the dashboard tests: a real dashboard server over tiny data (tests/dashboard/dashkit.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("starlette", reason="the dashboard extra is not installed: pip install 'tickbus[dashboard]'")
pytest.importorskip("uvicorn", reason="the dashboard extra is not installed: pip install 'tickbus[dashboard]'")

from components.sample_data import build_sample_secmaster  # noqa: E402

from dashkit import STRATEGIES, SWEEP_TAG, Dashboard, serve  # noqa: E402  (tests/dashboard is on sys.path)


@pytest.fixture(scope="session")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """One server for the dashboard tests; at most one run at a time, so the queue is visible."""
    root = tmp_path_factory.mktemp("dashboard")
    secmaster = build_sample_secmaster(root / "secmaster.db", symbols=2, bars=200)
    strategies = root / "strategies"
    strategies.mkdir()
    (strategies / "test_strats.py").write_text(STRATEGIES)
    (strategies / "broken.py").write_text("import a_module_that_does_not_exist\n")
    with serve(root, secmaster, "--strategies", str(strategies), "--max-concurrent", "1") as (dash, _):
        yield dash


@pytest.fixture(scope="session")
def sweep_dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    """A server of its own for the sweep tests (its runs.db fills with variant runs), every process
    it starts tagged TICKBUS_TEST_TAG=SWEEP_TAG so a test can tell that none is left."""
    root = tmp_path_factory.mktemp("dashboard-sweeps")
    secmaster = build_sample_secmaster(root / "secmaster.db", symbols=2, bars=200)
    strategies = root / "strategies"
    strategies.mkdir()
    (strategies / "test_strats.py").write_text(STRATEGIES)
    with serve(root, secmaster, "--strategies", str(strategies), "--max-concurrent", "2",
               env={"TICKBUS_TEST_TAG": SWEEP_TAG}) as (dash, _):
        yield dash
