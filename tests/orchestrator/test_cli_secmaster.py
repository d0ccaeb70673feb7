"""`tickbus secmaster ...`: exit codes and one-line messages."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.cli import main

HEADER = "ts_event_ns,symbol,open,high,low,close,volume\n"
T0 = 1_704_196_800_000_000_000


def write(tmp: Path, name: str, text: str) -> Path:
    p = tmp / name
    p.write_text(text)
    return p


def test_sample_then_info(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "s.db"
    assert main(["secmaster", "sample", "--db", str(db), "--symbols", "2", "--bars", "30"]) == 0
    out = capsys.readouterr().out
    assert "tickbus/SAMPLE, 2 symbols x 30 one-minute bars (seed 7)" in out
    assert main(["secmaster", "info", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "tickbus/SAMPLE" in out and "raw_symbol: 2 symbol(s)" in out
    assert "SYM001  MINUTE" in out and "30 bars  2024-01-02T12:00:00Z .. 2024-01-02T12:29:00Z" in out


def test_import_ok_and_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = write(tmp_path, "a.csv", HEADER + f"{T0},AAA,1,2,1,1.5,10\n{T0 + 60_000_000_000},AAA,1,2,1,1.5,10\n")
    args = ["secmaster", "import-csv", str(csv), "--db", str(tmp_path / "x.db"),
            "--publisher", "me", "--dataset", "D", "--bar-period", "1h"]
    assert main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("imported 2 bars for 1 symbols")
    assert main(args) == 0
    assert "imported 0 bars (2 already present)" in capsys.readouterr().out


def test_bad_row_exits_1_with_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "x.db"
    csv = write(tmp_path, "bad.csv", HEADER + f"{T0},AAA,1,2,1,1.5,10\n{T0},BBB,1,2,1,1.5,-3\n")
    rc = main(["secmaster", "import-csv", str(csv), "--db", str(db), "--publisher", "me", "--dataset", "D"])
    assert rc == 1
    err = capsys.readouterr().err
    assert err == f"{csv}:3: volume: negative: '-3'\n"
    assert not db.exists()


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    notdb = write(tmp_path, "notes.db", "hello " * 50)
    digest = hashlib.sha256(notdb.read_bytes()).hexdigest()
    csv = write(tmp_path, "a.csv", HEADER + f"{T0},AAA,1,2,1,1.5,10\n")
    cases = [
        ["secmaster", "info", "--db", str(tmp_path / "absent.db")],
        ["secmaster", "import-csv", str(tmp_path / "absent.csv"), "--db", str(tmp_path / "y.db"),
         "--publisher", "me", "--dataset", "D"],
        ["secmaster", "import-csv", str(csv), "--db", str(notdb), "--publisher", "me", "--dataset", "D"],
        ["secmaster", "sample", "--db", str(tmp_path / "z.db"), "--bars", "0"],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("tickbus secmaster: error: ") and err.count("\n") == 1, err
    assert hashlib.sha256(notdb.read_bytes()).hexdigest() == digest
    assert not (tmp_path / "y.db").exists() and not (tmp_path / "z.db").exists()


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["secmaster"], ["secmaster", "import-csv", "f.csv"],
                 ["secmaster", "import-csv", "f.csv", "--publisher", "p", "--dataset", "d",
                  "--bar-period", "5m"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
    capsys.readouterr()


def test_subprocess_exit_codes(tmp_path: Path) -> None:
    """As a real process: `python -m orchestrator.cli secmaster ...`."""
    db = tmp_path / "s.db"
    ok = subprocess.run([sys.executable, "-m", "orchestrator.cli", "secmaster", "sample", "--db", str(db),
                         "--symbols", "1", "--bars", "5"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = write(tmp_path, "b.csv", HEADER + f"{T0},AAA,1,1,2,1,1\n")
    r = subprocess.run([sys.executable, "-m", "orchestrator.cli", "secmaster", "import-csv", str(bad),
                        "--db", str(db), "--publisher", "p", "--dataset", "d"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr == f"{bad}:2: high 1 < low 2\n"
    r = subprocess.run([sys.executable, "-m", "orchestrator.cli", "secmaster", "info", "--db",
                        str(tmp_path / "nope.db")], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "nope.db: no such secmaster" in r.stderr
