"""Fixtures for the bus tests: real bus processes, real sockets, bounded waits, no stragglers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bus_testkit import Procs  # tests/bus is on sys.path (rootdir-relative "prepend" imports)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    p = Procs(tmp_path)
    try:
        yield p
    finally:
        p.cleanup()


@pytest.fixture(params=["ipc", "tcp"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)
