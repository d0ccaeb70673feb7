"""What a sweep's workers need from the driver's disk, sent by content: the slice of the secmaster
the sweep replays and the source of a strategy named by file path. Workers need no shared
filesystem.

The driver cuts the slice (only the publisher, symbols, bar period and time range the sweep
replays) into a new secmaster file, and reads a strategy file. Each becomes a Shipment: its
content hash, its name, and its bytes (for workers elsewhere) or its path (for local workers,
which read it where it is). A worker writes a shipment's bytes once per host into a cache keyed
by the hash (`materialise`), so every later variant there finds it.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import sqlite3
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20
_PUBLISHER = "publisher_id, name, dataset, venue"
_INSTRUMENT = "instrument_id, publisher_ref, source_instrument_id, symbol, symbol_type"
_SYMBOLOGY = "publisher_ref, symbol, symbol_type, source_instrument_id, start_date, end_date"
_OHLCV = "instrument_id, rtype, ts_event, open, high, low, close, volume"


@dataclass(frozen=True)
class Shipment:
    digest: str  # sha256 of the content
    name: str  # the file's own name
    data: bytes | None = None  # the content, for workers that cannot read `path`
    path: str | None = None  # where the driver has it (local workers read it there)

    def by_content(self) -> Shipment:
        """The shipment with its bytes, for workers elsewhere."""
        if self.data is not None or self.path is None:
            return self
        return Shipment(self.digest, self.name, Path(self.path).read_bytes(), self.path)


def file_digest(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def shipment_of(path: str | os.PathLike[str]) -> Shipment:
    p = Path(path).resolve()
    return Shipment(file_digest(p), p.name, None, str(p))


# --- the secmaster slice -------------------------------------------------------------------------


def cut_slice(secmaster: str | os.PathLike[str], dest: Path, *, publisher: str, dataset: str, symbol_type: str,
              symbols: list[str], rtype: int, start_ns: int, end_ns: int) -> Path:
    """A new secmaster at `dest` with only the bars a run of these settings replays (and the
    publisher, instruments and symbology rows that map them): the same replay, a fraction of
    the file."""
    from components.secmaster import db as smdb

    smdb.create_secmaster_db(dest)
    conn = sqlite3.connect(dest, isolation_level=None)
    try:
        conn.execute("ATTACH DATABASE ? AS src", (Path(secmaster).absolute().as_uri() + "?mode=ro",))
        conn.execute("BEGIN")
        src = smdb.open_secmaster(secmaster, readonly=True)
        try:
            pid = smdb.require_publisher_id(src, publisher, dataset)
            segments = smdb.symbol_segments(src, pid, symbol_type, symbols)
        finally:
            src.close()
        conn.execute(f"INSERT INTO publishers ({_PUBLISHER}) SELECT {_PUBLISHER} FROM src.publishers"
                     " WHERE publisher_id = ?", (pid,))
        conn.executemany(f"INSERT INTO instruments ({_INSTRUMENT}) SELECT {_INSTRUMENT} FROM src.instruments"
                         " WHERE instrument_id = ?", [(iid,) for iid in sorted({s.instrument_id for s in segments})])
        conn.executemany(f"INSERT INTO symbology ({_SYMBOLOGY}) VALUES (?, ?, ?, ?, ?, ?)",
                         [(pid, s.symbol, s.symbol_type, s.source_instrument_id, s.start_date, s.end_date) for s in segments])
        for seg in segments:
            lo, hi = max(start_ns, seg.start_ns), min(end_ns, seg.end_ns - 1)
            if lo <= hi:
                conn.execute(f"INSERT OR IGNORE INTO ohlcv ({_OHLCV}) SELECT {_OHLCV} FROM src.ohlcv"
                             " WHERE instrument_id = ? AND rtype = ? AND ts_event BETWEEN ? AND ?",
                             (seg.instrument_id, rtype, lo, hi))
        smdb.rebuild_symbol_coverage(conn, pid)
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE src")
    finally:
        conn.close()
    return dest


# --- on a worker -----------------------------------------------------------------------------------


def cache_dir() -> Path:
    """This host's cache of shipments (per user)."""
    return Path(tempfile.gettempdir()) / f"tickbus-sweep-cache-{os.getuid()}"


def materialise(shipment: Shipment) -> Path:
    """A path on this host with the shipment's content: the driver's own file for a local
    worker, else the host's cached copy (written, atomically, by the first variant that needs it)."""
    if shipment.data is None:
        if shipment.path is None:
            raise ValueError(f"shipment {shipment.name} has neither content nor a path")
        return Path(shipment.path)
    folder = cache_dir() / shipment.digest
    target = folder / shipment.name
    if target.is_file() and target.stat().st_size == len(shipment.data):
        return target
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{shipment.name}-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(shipment.data)
    os.replace(tmp, target)
    return target


_loaded: dict[str, str] = {}  # a strategy's original path -> digest of the source this process imported
_own_dir: Path | None = None


def _is(path: str, digest: str) -> bool:
    try:
        return file_digest(path) == digest
    except OSError:
        return False


def strategy_path(shipment: Shipment) -> Path:
    """Where this process imports a shipped strategy file from: the driver's own file where this
    host sees it unchanged, else a copy of the content shipped.

    One copy's path per original file and process (not per content): a new version of the file then
    replaces the class it defines (the registry takes a class defined again from the same file,
    as a reload) instead of clashing with it as a second class of the same name."""
    global _own_dir
    if shipment.path is not None and _is(shipment.path, shipment.digest):
        return Path(shipment.path)  # this host sees the driver's file, as it was: import it there
    if shipment.data is None:
        return materialise(shipment)
    if _own_dir is None:
        _own_dir = Path(tempfile.mkdtemp(prefix="tickbus-sweep-src-"))
        atexit.register(shutil.rmtree, _own_dir, True)
    key = hashlib.sha1((shipment.path or shipment.name).encode()).hexdigest()[:12]
    target = _own_dir / key / shipment.name
    if _loaded.get(str(target)) != shipment.digest:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(shipment.data)
        for name, module in list(sys.modules.items()):  # the old version is imported again, fresh
            if getattr(module, "__file__", None) == str(target.resolve()):
                del sys.modules[name]
        _loaded[str(target)] = shipment.digest
    return target
