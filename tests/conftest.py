"""Root of the test tree; being a conftest, its folder is on sys.path, so shared test helpers
such as `proctools` import by name from every test folder."""

from __future__ import annotations

import compileall
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bus", "components", "recorder", "orchestrator")


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile tickbus's modules once: the suite starts hundreds of Python processes, and where
    PYTHONDONTWRITEBYTECODE is set (as on CI machines) each would compile them again at import
    (~17% of the time of the process-starting tests)."""
    for name in PACKAGES:
        compileall.compile_dir(str(ROOT / name), quiet=1)
