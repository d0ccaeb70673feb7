"""Where a bus listens: the small JSON file the bus writes into its run directory."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from bus.errors import BusError
from bus.registry import pid_exited
from bus.run_contract import ENDPOINTS_FILE, write_atomic


@dataclass(frozen=True)
class Endpoints:
    """The three endpoints of one bus plus its pid and transport ('ipc' | 'tcp').

    With ZeroMQ CURVE (bus/security.py) `curve_server_key` is the bus's public key and
    `curve_key_file` the access key clients connect with; both None: no CURVE.
    """

    members: str
    control: str
    tap: str
    pid: int
    transport: str
    curve_server_key: str | None = None
    curve_key_file: str | None = None

    @classmethod
    def load(cls, path_or_run_dir: str | os.PathLike[str]) -> "Endpoints":
        """Read endpoints.json, given the file itself or the run directory holding it."""
        path = Path(path_or_run_dir)
        if path.is_dir():
            path = path / ENDPOINTS_FILE
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: not a JSON object")
        return cls(
            members=str(data["members"]),
            control=str(data["control"]),
            tap=str(data["tap"]),
            pid=int(data["pid"]),
            transport=str(data["transport"]),
            curve_server_key=data.get("curve_server_key"),
            curve_key_file=data.get("curve_key_file"),
        )

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically (temp file + rename) so a reader never sees a half-written file."""
        path = Path(path)
        if path.is_dir():
            path = path / ENDPOINTS_FILE
        write_atomic(path, json.dumps(asdict(self)) + "\n")


def coerce(endpoints: "Endpoints | str | os.PathLike[str]") -> Endpoints:
    """Accept an Endpoints, an endpoints.json path or a run directory."""
    return endpoints if isinstance(endpoints, Endpoints) else Endpoints.load(endpoints)


def refuse_if_running(ep_file: Path) -> None:
    """Binding ipc would silently steal a live bus's sockets: BusError if the bus that wrote
    `ep_file` is alive; otherwise the stale file is removed."""
    try:
        old = Endpoints.load(ep_file)
    except (OSError, ValueError, KeyError):
        return
    if old.pid != os.getpid() and not pid_exited(old.pid, None):
        raise BusError(f"a bus (pid {old.pid}) is already running in {ep_file.parent}")
    try:
        ep_file.unlink()
    except OSError:
        pass
