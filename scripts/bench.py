#!/usr/bin/env python3
"""SMA-X side by side: tickbus (multi-process and in-process), backtrader and a numpy reference.

    python scripts/bench.py --quick                  # < 1 min: 10 symbols x 5,000 bars, 1 strategy
    python scripts/bench.py                          # full: 10x10k, 10x100k, 100x10k; 1/4/16 strategies on 10x10k
    python scripts/bench.py --sizes 10x100k --engines numpy,backtrader,inproc --strategies 1
    python scripts/bench.py --json                   # the same figures as one JSON object on stdout

Workload "SMA-X" (the exact rule is written out in scripts/smax.py): per symbol, SMA(fast) vs
SMA(slow) crossover, target position +1/-1, market orders filled at the next bar's open, no
commission; data from scripts/gen_bars.py (one-minute bars priced in cents, seed 42). An
N-strategy case runs N SMA-X instances with different periods (bench_engines.common.strategy_periods)
on one replay.

Every engine runs as a whole separate process, timed by wall clock from spawn to exit, with the
peak RSS of its whole process tree (sum over the process and all its descendants, sampled from
/proc every 50 ms; shared pages count once per process). Engines:
  tickbus-mp      `tickbus run` (recorder on: every event lands in runs.db), scripts/smax.py:SMAX
  tickbus-inproc  the same with --in-process
  backtrader      scripts/bench_engines/bt_smax.py (needs the `bench` extra; skipped if absent)
  numpy           scripts/bench_engines/numpy_smax.py, vectorised, exact (integer cents)
For tickbus, "load" is the `tickbus secmaster import-csv` of the case's CSV (its own process,
done once per data set and shared by both tickbus engines) and is NOT part of its wall time;
"run" is the run's own elapsed_s. For backtrader and numpy, loading the CSV is inside the wall
time and "load" is the runner's own measurement of it. bars/s = symbols * bars / wall seconds.
"x bt" = an engine's bars/s / backtrader's in the same case of the same invocation.

Fills: every engine's fills, normalised to (strategy, symbol, ts of the fill bar, side, qty,
price to 1e-9), are compared with the numpy reference, which applies the rule in exact decimal
arithmetic. A float engine (backtrader) may legitimately differ where fast == slow exactly: its
differing fill is accepted if the SMAs are exactly equal (checked with decimal.Decimal sums of the
two-decimal closes) at its decisive bar t-1 or at the bar t-2 before it (the bars whose
comparisons decided the order); such differences are counted ("tie diffs") and listed, anything
else is a mismatch. tickbus's moving averages are exact (components/indicators/exact.py), so the
tickbus engines must match the reference fill for fill: a tie difference of theirs is a mismatch.
The barrier columns (rounds/s, round latency p50/p99) come from the `barrier` object
of `tickbus run --json` when the run reports one ("-" otherwise): the datafeed's idle barrier,
one every Orchestrator.window timestamps (between two, each strategy synchronises with the
broker only while it has orders working: README, Performance).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_engines.common import (  # noqa: E402
    Bars,
    Fill,
    format_periods,
    load_csv,
    normalise,
    pnl_from_fills,
    read_fills,
    strategy_periods,
)
from bench_engines.numpy_smax import smax as numpy_reference  # noqa: E402

ENGINES = ("numpy", "backtrader", "tickbus-inproc", "tickbus-mp")
EXACT_ENGINES = ("numpy", "tickbus-inproc", "tickbus-mp")  # decide SMA ties exactly: no tie diffs allowed
ALIASES = {
    "numpy": "numpy", "np": "numpy",
    "backtrader": "backtrader", "bt": "backtrader",
    "tickbus-inproc": "tickbus-inproc", "inproc": "tickbus-inproc", "inprocess": "tickbus-inproc",
    "in-process": "tickbus-inproc",
    "tickbus-mp": "tickbus-mp", "mp": "tickbus-mp", "multiprocess": "tickbus-mp", "multi-process": "tickbus-mp",
    "tickbus": "tickbus-*",
}
FULL_SIZES = "10x10000,10x100000,100x10000"
QUICK_SIZES = "10x5000"
SEED = 42
PUBLISHER, DATASET = "bench", "SMAX"
SAMPLE_S = 0.05
MAX_JSON_DIFFS = 500  # differences listed per case in --json (the counts are always complete)
KILL_GRACE_S = 5.0


# ------------------------------------------------------------------------------ process tree
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def _children_by_scan(pid: int) -> list[int]:
    """Fallback for kernels without /proc/PID/task/TID/children: scan every /proc/N/stat."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = _stat(int(name))
        if st is not None and st[0] == pid:
            out.append(int(name))
    return out


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, starttime) of a process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[19])


_HAVE_CHILDREN_FILE = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


def process_tree(root: int) -> list[int]:
    kids = _children if _HAVE_CHILDREN_FILE else _children_by_scan
    seen, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.append(pid)
        todo.extend(kids(pid))
    return seen


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


@dataclass
class ProcResult:
    cmd: list[str]
    rc: int | None
    wall_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str
    timed_out: bool = False
    processes: int = 0  # most processes seen at once in the tree


class _Watch(threading.Thread):
    """Samples the tree's RSS every SAMPLE_S; on timeout stops the tree (SIGTERM, then SIGKILL)."""

    def __init__(self, proc: subprocess.Popen[bytes], t0: float, timeout: float | None) -> None:
        super().__init__(daemon=True)
        self.proc, self.t0, self.timeout = proc, t0, timeout
        self.done = threading.Event()
        self.peak = 0
        self.most = 0
        self.timed_out = False
        self.seen: dict[int, int] = {}  # pid -> starttime, every descendant ever sampled

    def sample(self) -> None:
        pids = process_tree(self.proc.pid)
        total = 0
        for pid in pids:
            total += _rss_bytes(pid)
            if pid not in self.seen:
                st = _stat(pid)
                if st is not None:
                    self.seen[pid] = st[1]
        self.peak = max(self.peak, total)
        self.most = max(self.most, len(pids))

    def run(self) -> None:
        while True:
            self.sample()
            if self.done.wait(SAMPLE_S):
                return
            if self.timeout is not None and time.perf_counter() - self.t0 > self.timeout:
                self.timed_out = True
                self.stop_tree()
                return

    def stop_tree(self) -> None:
        self.sample()  # record the current descendants before the root goes
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM)  # tickbus cancels its run and stops its children
        self.done.wait(KILL_GRACE_S)
        self.kill_leftovers()

    def kill_leftovers(self) -> None:
        """SIGKILL every process of the tree still alive (same pid AND start time: never a reused pid)."""
        for pid, start in list(self.seen.items()):
            st = _stat(pid)
            if st is not None and st[1] == start:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)


def run_process(cmd: list[str], *, timeout: float | None, log: Path, cwd: Path | None = None) -> ProcResult:
    """Run cmd as a whole process; wall time from spawn to exit; peak RSS of its tree."""
    out_path, err_path = log.with_suffix(".out"), log.with_suffix(".err")
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd,
                                start_new_session=True)
        watch = _Watch(proc, t0, timeout)
        watch.start()
        try:
            rc = proc.wait()  # blocking waitpid: exit time to the microsecond
            t1 = time.perf_counter()
        except BaseException:
            watch.timeout = 0.0  # stop the tree at the next sample
            watch.join()
            proc.wait()
            raise
        finally:
            watch.done.set()
            watch.join()
    watch.kill_leftovers()  # e.g. a child that outlived its parent after a timeout
    return ProcResult(cmd, rc, t1 - t0, watch.peak / 1e6, out_path.read_text(errors="replace"),
                      err_path.read_text(errors="replace"), watch.timed_out, watch.most)


def last_json(text: str) -> dict[str, Any] | None:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            with contextlib.suppress(json.JSONDecodeError):
                return json.loads(line)
    return None


# ------------------------------------------------------------------------------ comparison
class Differences:
    """Engine fills vs the reference, with differences at exact SMA ties told apart."""

    def __init__(self, data: dict[str, Bars], periods: list[tuple[int, int]]) -> None:
        self.data, self.periods = data, periods
        self._dec: dict[str, list[Decimal]] = {}

    def _closes(self, sym: str) -> list[Decimal]:
        d = self._dec.get(sym)
        if d is None:  # the CSV's two-decimal text of every close, as exact decimals
            d = self._dec[sym] = [Decimal(f"{c:.2f}") for c in self.data[sym].close.tolist()]
        return d

    def tie(self, sym: str, i: int, fast: int, slow: int) -> bool:
        """Both SMAs defined at bar i and exactly equal: sum_fast / fast == sum_slow / slow."""
        if i < max(fast, slow) - 1:
            return False
        c = self._closes(sym)
        return sum(c[i - fast + 1 : i + 1]) * slow == sum(c[i - slow + 1 : i + 1]) * fast

    def bar_index(self, sym: str, ts: int) -> int | None:
        b = self.data.get(sym)
        if b is None:
            return None
        i = int(np.searchsorted(b.ts, ts))
        return i if i < len(b.ts) and int(b.ts[i]) == ts else None

    def compare(self, ref: list[Fill], got: list[Fill], ties_allowed: bool = True) -> dict[str, Any]:
        """Differences from the reference; `ties_allowed`: differences at exact ties still match."""
        cr, cg = Counter(ref), Counter(got)
        at_ties: list[dict[str, Any]] = []
        other: list[dict[str, Any]] = []
        for which, diff in (("reference only", cr - cg), ("engine only", cg - cr)):
            for fill, n in sorted(diff.items()):
                s, sym, ts, side, qty, price = fill
                i = self.bar_index(sym, ts)
                fast, slow = self.periods[s] if 0 <= s < len(self.periods) else (0, 0)
                tie_bar = None
                if i is not None and fast:
                    tie_bar = next((j for j in (i - 1, i - 2) if j >= 0 and self.tie(sym, j, fast, slow)), None)
                entry = {"which": which, "strategy": s, "periods": [fast, slow], "symbol": sym, "ts_event_ns": ts,
                         "bar": i, "side": side, "qty": qty, "price": price, "count": n, "tie_bar": tie_bar}
                (at_ties if tie_bar is not None else other).append(entry)
        return {
            "fills_match": not other and (ties_allowed or not at_ties),
            "tie_diffs": sum(e["count"] for e in at_ties),
            "unexplained_diffs": sum(e["count"] for e in other),
            "at_ties": at_ties,
            "unexplained": other,
        }


# ------------------------------------------------------------------------------ engines
@dataclass
class Case:
    symbols: int
    bars: int
    strategies: int

    @property
    def periods(self) -> list[tuple[int, int]]:
        return strategy_periods(self.strategies)

    @property
    def label(self) -> str:
        return f"{self.symbols}x{self.bars} S={self.strategies}"


@dataclass
class DataSet:
    symbols: int
    bars: int
    dir: Path
    csv: Path
    data: dict[str, Bars]
    gen_s: float
    csv_bytes: int = 0
    secmaster: Path | None = None
    import_result: ProcResult | None = None
    import_error: str | None = None

    def summary(self) -> dict[str, Any]:
        imp = self.import_result
        return {
            "symbols": self.symbols, "bars": self.bars, "gen_s": round(self.gen_s, 3),
            "csv_mb": round(self.csv_bytes / 1e6, 1),
            "import_s": round(imp.wall_s, 4) if imp and not imp.timed_out else None,
            "import_peak_rss_mb": round(imp.peak_rss_mb, 1) if imp else None,
            "import_error": self.import_error,
        }


@dataclass
class Outcome:
    engine: str
    case: Case
    status: str = "ok"
    wall_s: float | None = None
    run_s: float | None = None
    load_s: float | None = None
    peak_rss_mb: float | None = None
    load_peak_rss_mb: float | None = None
    fills: int | None = None
    pnl: float | None = None
    barrier: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    comparison: dict[str, Any] | None = None
    ratio_to_backtrader: float | None = None
    fill_list: list[Fill] | None = None  # not reported; for engine-to-engine checks

    @property
    def total_bars(self) -> int:
        return self.case.symbols * self.case.bars

    @property
    def bars_per_s(self) -> float | None:
        return self.total_bars / self.wall_s if self.status == "ok" and self.wall_s else None

    def to_dict(self) -> dict[str, Any]:
        b = self.barrier
        rounds_per_s = None
        if b and b.get("rounds") and self.run_s:
            rounds_per_s = round(b["rounds"] / self.run_s, 1)
        cmp = self.comparison or {}
        return {
            "engine": self.engine,
            "symbols": self.case.symbols,
            "bars": self.case.bars,
            "strategies": self.case.strategies,
            "periods": [list(p) for p in self.case.periods],
            "status": self.status,
            "wall_s": _r(self.wall_s, 4),
            "run_s": _r(self.run_s, 4),
            "load_s": _r(self.load_s, 4),
            "bars_per_s": _r(self.bars_per_s, 1),
            "peak_rss_mb": _r(self.peak_rss_mb, 1),
            "load_peak_rss_mb": _r(self.load_peak_rss_mb, 1),
            "ratio_to_backtrader": _r(self.ratio_to_backtrader, 3),
            "fills": self.fills,
            "fills_match": cmp.get("fills_match"),
            "tie_diffs": cmp.get("tie_diffs"),
            "unexplained_diffs": cmp.get("unexplained_diffs"),
            "pnl": _r(self.pnl, 6),
            "barrier": b,
            "rounds_per_s": rounds_per_s,
            **self.extra,
            "differences": (cmp.get("unexplained", []) + cmp.get("at_ties", []))[:MAX_JSON_DIFFS] or None,
        }


def _r(x: float | None, nd: int) -> float | None:
    return None if x is None else round(x, nd)


def python_cmd() -> list[str]:
    return [sys.executable]


def tickbus_cmd(*args: str) -> list[str]:
    # `python -m orchestrator.cli` is the `tickbus` console script without a launcher (e.g. a
    # pyenv shim) in front of it.
    return [sys.executable, "-m", "orchestrator.cli", *args]


def have_backtrader() -> bool:
    try:
        return importlib.util.find_spec("backtrader") is not None
    except (ImportError, ValueError):
        return False


class Bench:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.datasets: dict[tuple[int, int], DataSet] = {}
        self.outcomes: list[Outcome] = []
        self.ties: dict[str, int] = {}

    def log(self, msg: str) -> None:
        if not self.args.silent:
            print(msg, file=sys.stderr, flush=True)

    # --- data
    def dataset(self, k: int, n: int, need_secmaster: bool) -> DataSet:
        ds = self.datasets.get((k, n))
        if ds is None:
            d = self.work / f"{k}x{n}"
            d.mkdir(parents=True, exist_ok=True)
            csv = d / "bars.csv"
            self.log(f"[{k}x{n}] generating {k * n:,} bars (seed {self.args.seed}) ...")
            t0 = time.perf_counter()
            from components.sample_data import write_sample_csv

            write_sample_csv(csv, k, n, self.args.seed)
            gen_s = time.perf_counter() - t0
            ds = self.datasets[(k, n)] = DataSet(k, n, d, csv, load_csv(csv), gen_s, csv.stat().st_size)
        if not ds.data:  # dropped to save memory (see below); back for a later case
            ds.data = load_csv(ds.csv)
        for other, ods in self.datasets.items():  # keep at most this data set in memory
            if other != (k, n):
                ods.data = {}
        if need_secmaster and ds.secmaster is None and ds.import_error is None:
            sm = ds.dir / "secmaster.db"
            self.log(f"[{k}x{n}] tickbus secmaster import-csv ...")
            r = run_process(
                tickbus_cmd("secmaster", "import-csv", str(ds.csv), "--db", str(sm),
                            "--publisher", PUBLISHER, "--dataset", DATASET),
                timeout=self.args.timeout, log=ds.dir / "import")
            ds.import_result = r
            if r.timed_out:
                ds.import_error = "import timeout"
            elif r.rc != 0:
                tail = (r.stderr.strip().splitlines() or ["no output"])[-1]
                ds.import_error = f"import failed (rc={r.rc}): {tail[:200]}"
            else:
                ds.secmaster = sm
        return ds

    # --- one engine on one case
    def command(self, engine: str, case: Case, ds: DataSet, out: Path) -> list[str]:
        """The engine's whole-process command; its fills go to `out` (CSV, or a runs.db for tickbus)."""
        periods = case.periods
        if engine in ("numpy", "backtrader"):
            script = HERE / "bench_engines" / ("numpy_smax.py" if engine == "numpy" else "bt_smax.py")
            return python_cmd() + [str(script), str(ds.csv), "--periods", format_periods(periods),
                                   "--fills-out", str(out)]
        assert ds.secmaster is not None
        cmd = tickbus_cmd("run", "--secmaster", str(ds.secmaster), "--runs-db", str(out), "--json")
        for fast, slow in periods:
            cmd += ["--strategy", f"{HERE / 'smax.py'}:SMAX", "--param", f"fast={fast}", "--param", f"slow={slow}"]
        if engine == "tickbus-inproc":
            cmd.append("--in-process")
        return cmd + (self.args.tickbus_arg or [])

    def run_engine(self, engine: str, case: Case, ds: DataSet, ref: list[Fill], diffs: Differences) -> Outcome:
        o = Outcome(engine, case)
        if engine == "backtrader" and not have_backtrader():
            o.status = "skipped: backtrader not installed (pip install -e '.[bench]')"
            return o
        if engine.startswith("tickbus") and ds.secmaster is None:
            o.status = f"skipped: {ds.import_error}"
            return o
        tb = engine.startswith("tickbus")
        runs: list[tuple[ProcResult, Path]] = []
        for rep in range(self.args.repeat):  # --repeat: keep the fastest (fills are deterministic)
            out = ds.dir / f"{engine}-s{case.strategies}-r{rep}{'.runs.db' if tb else '.fills.csv'}"
            if out.exists():
                out.unlink()
            self.log(f"[{case.label}] {engine}{f' (run {rep + 1}/{self.args.repeat})' if self.args.repeat > 1 else ''} ...")
            r = run_process(self.command(engine, case, ds, out), timeout=self.args.timeout, log=out.with_suffix(""))
            runs.append((r, out))
            if r.timed_out or r.rc != 0:
                break
        r, out = runs[-1] if (runs[-1][0].timed_out or runs[-1][0].rc != 0) else min(runs, key=lambda x: x[0].wall_s)
        o.peak_rss_mb = max(x[0].peak_rss_mb for x in runs)
        o.extra["processes"] = r.processes
        if len(runs) > 1:
            o.extra["wall_s_all"] = [round(x[0].wall_s, 4) for x in runs]
        if r.timed_out:
            o.status = f"timeout (>{self.args.timeout:g} s)"
            self.log(f"[{case.label}] {engine}: TIMEOUT after {self.args.timeout:g} s")
            return o
        res = last_json(r.stdout)
        if r.rc != 0 or res is None:
            tail = (r.stderr.strip().splitlines() or ["no output"])[-1]
            o.status = f"failed (rc={r.rc}): {tail[:200]}"
            self.log(f"[{case.label}] {engine}: FAILED rc={r.rc}\n{r.stderr[-2000:]}")
            return o
        o.wall_s = r.wall_s
        if not tb:
            o.load_s, o.run_s = res.get("load_s"), res.get("run_s")
            got = read_fills(out)
            if engine == "backtrader":
                o.extra["pnl_broker"] = res.get("pnl_broker")
        else:
            if res.get("status") != "completed":
                o.status = f"failed: run {res.get('status')}: {str(res.get('error'))[:200]}"
                return o
            imp = ds.import_result
            o.load_s = imp.wall_s if imp else None
            o.load_peak_rss_mb = imp.peak_rss_mb if imp else None
            o.run_s = res.get("elapsed_s")
            o.barrier = res.get("barrier")
            o.extra.update(run_id=res.get("run_id"), events=res.get("events"))
            got = self.tickbus_fills(out, res)
        if not self.args.keep:  # runs.db files of big cases are large
            for _, x in runs:
                for f in (x, Path(f"{x}-wal"), Path(f"{x}-shm")):
                    with contextlib.suppress(OSError):
                        f.unlink()
        o.fills = len(got)
        o.fill_list = got
        last_close = {sym: float(b.close[-1]) for sym, b in ds.data.items()}
        o.pnl = pnl_from_fills(got, last_close)
        o.comparison = diffs.compare(ref, got, ties_allowed=engine not in EXACT_ENGINES)
        c = o.comparison
        self.log(f"[{case.label}] {engine}: {r.wall_s:.2f} s, {o.bars_per_s:,.0f} bars/s, "
                 f"{o.fills} fills, match={c['fills_match']} (ties {c['tie_diffs']}, unexplained {c['unexplained_diffs']})")
        return o

    @staticmethod
    def tickbus_fills(runs_db: Path, res: dict[str, Any]) -> list[Fill]:
        index = {sid: i for i, sid in enumerate(res.get("strategy_ids") or [])}
        conn = sqlite3.connect(f"file:{runs_db}?mode=ro", uri=True)
        try:
            rows = conn.execute(
                "SELECT strategy_id, symbol, ts_event_ns, side, quantity_filled, fill_price FROM fills WHERE run_id = ?",
                (res["run_id"],),
            ).fetchall()
        finally:
            conn.close()
        return [normalise(index.get(sid, -1), sym, ts, side, q, p) for sid, sym, ts, side, q, p in rows]

    # --- everything
    def run(self, cases: list[Case], engines: list[str]) -> None:
        need_tb = any(e.startswith("tickbus") for e in engines)
        for case in cases:
            ds = self.dataset(case.symbols, case.bars, need_tb)
            periods = case.periods
            ref, ref_pnl, ties = numpy_reference(ds.data, periods)
            n_ties = int(sum(len(v) for v in ties.values()))
            self.ties[case.label] = n_ties
            diffs = Differences(ds.data, periods)
            group = []
            for engine in engines:
                o = self.run_engine(engine, case, ds, ref, diffs)
                o.extra["reference_fills"] = len(ref)
                o.extra["reference_pnl"] = round(ref_pnl, 6)
                o.extra["sma_ties"] = n_ties
                group.append(o)
            bt_speed = next((o.bars_per_s for o in group if o.engine == "backtrader" and o.bars_per_s), None)
            for o in group:
                speed = o.bars_per_s
                if bt_speed and speed:
                    o.ratio_to_backtrader = speed / bt_speed
            tb = {o.engine: o for o in group if o.engine.startswith("tickbus") and o.fill_list is not None}
            if len(tb) == 2:  # the design promise: a multi-process run records what the in-process run does
                same = Counter(tb["tickbus-mp"].fill_list) == Counter(tb["tickbus-inproc"].fill_list)
                tb["tickbus-mp"].extra["fills_equal_inproc"] = same
            for o in group:
                o.fill_list = None
            self.outcomes.extend(group)


# ------------------------------------------------------------------------------ report
def machine() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    cpu = None
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    mem_gb = None
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as f:
        mem_gb = round(int(f.readline().split()[1]) / 1e6, 1)
    git = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                             text=True, timeout=5).stdout.strip() or None
    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_gb": mem_gb,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "loadavg_at_start": list(os.getloadavg()),
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
        "tickbus": ver("tickbus"),
        "git_head": git,
        "numpy": np.__version__,
        "pyzmq": ver("pyzmq"),
        "backtrader": ver("backtrader"),
    }


def _f(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def table(outcomes: list[Outcome]) -> str:
    head = ["case", "engine", "wall s", "load s", "run s", "bars/s", "x bt", "peak RSS MB", "fills", "match",
            "tie diffs", "rounds/s", "p50/p99/max us"]
    rows: list[list[str]] = []
    notes: dict[int, str] = {}  # row -> status text for engines that did not produce figures
    for o in outcomes:
        d = o.to_dict()
        if o.status != "ok":
            notes[len(rows)] = o.status
            rows.append([o.case.label, o.engine] + [""] * (len(head) - 2))
            continue
        cmp = o.comparison or {}
        if cmp.get("fills_match"):
            match = "yes"
        else:
            n = (cmp.get("unexplained_diffs") or 0) + ((cmp.get("tie_diffs") or 0) if o.engine in EXACT_ENGINES else 0)
            match = f"NO ({n} diffs)"
        b = o.barrier
        lat = "/".join(_f(b.get(k), ".0f") for k in ("p50_us", "p99_us", "max_us")) if b else "-"
        rows.append([
            o.case.label, o.engine, _f(o.wall_s, ".2f"), _f(o.load_s, ".2f"), _f(o.run_s, ".2f"),
            _f(o.bars_per_s, ",.0f"), _f(o.ratio_to_backtrader, ".2f"), _f(o.peak_rss_mb, ",.0f"),
            _f(o.fills, ",d"), match, _f(cmp.get("tie_diffs"), ",d"), _f(d["rounds_per_s"], ",.0f"), lat,
        ])
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

    def fmt(r: list[str]) -> str:
        return "  ".join(c.ljust(widths[i]) if i in (0, 1, 9) else c.rjust(widths[i]) for i, c in enumerate(r)).rstrip()

    lines = [fmt(head), "-" * len(fmt(head))]
    for i, r in enumerate(rows):
        if i in notes:
            lines.append(f"{r[0].ljust(widths[0])}  {r[1].ljust(widths[1])}  {notes[i]}")
        else:
            lines.append(fmt(r))
    return "\n".join(lines)


def report_text(bench: Bench, mach: dict[str, Any], total_s: float) -> str:
    out = [
        f"SMA-X benchmark  {mach['cpu']} x{mach['cpus_usable']}, Python {mach['python']}, tickbus {mach['tickbus']}"
        f" ({mach['git_head']}), backtrader {mach['backtrader'] or 'not installed'}, numpy {mach['numpy']}",
        "",
        table(bench.outcomes),
        "",
        "wall = whole process, spawn to exit; bars/s = symbols*bars/wall; x bt = bars/s / backtrader's; peak RSS summed"
        " over the process tree (50 ms samples).",
        "tickbus: load = `secmaster import-csv` (separate process, not in wall), run = the run's elapsed_s;"
        " backtrader/numpy: load (CSV parse) is inside wall.",
    ]
    for label, n in bench.ties.items():
        same = [o.extra["fills_equal_inproc"] for o in bench.outcomes
                if o.case.label == label and "fills_equal_inproc" in o.extra]
        out.append(f"{label}: {n} bars where SMA fast == SMA slow exactly (decimal), over all symbols/strategies"
                   + (f"; tickbus-mp fills identical to tickbus-inproc: {'yes' if same[0] else 'NO'}" if same else ""))
    listed = 0
    for o in bench.outcomes:
        cmp = o.comparison or {}
        for kind in ("unexplained", "at_ties"):
            for e in cmp.get(kind, []):
                if listed == 0:
                    out.append("differences from the numpy reference (exact decimal rule):")
                listed += 1
                if listed > bench.args.max_listed:
                    continue
                why = f"SMAs equal at bar {e['tie_bar']}" if kind == "at_ties" else "UNEXPLAINED"
                out.append(f"  [{o.case.label}] {o.engine}: {e['which']}: strategy {e['strategy']} {tuple(e['periods'])}"
                           f" {e['symbol']} bar {e['bar']} {e['side']} {e['qty']:g} @ {e['price']}"
                           f"{' x' + str(e['count']) if e['count'] > 1 else ''} -- {why}")
    if listed > bench.args.max_listed:
        out.append(f"  ... {listed - bench.args.max_listed} more (see --json)")
    out.append(f"total {total_s:.1f} s; work dir {bench.work}{' (kept)' if bench.args.keep else ' (removed)'}")
    return "\n".join(out)


# ------------------------------------------------------------------------------ main
def parse_size(text: str) -> tuple[int, int]:
    k, sep, n = text.lower().partition("x")
    if not sep:
        raise argparse.ArgumentTypeError(f"size {text!r}: expected SYMBOLSxBARS, e.g. 10x10000 or 10x100k")

    def num(s: str) -> int:
        s = s.strip().replace("_", "").replace(",", "")
        mult = 1
        if s.endswith("k"):
            s, mult = s[:-1], 1000
        elif s.endswith("m"):
            s, mult = s[:-1], 1_000_000
        v = int(float(s) * mult)
        if v < 1:
            raise ValueError
        return v

    try:
        return num(k), num(n)
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r}: expected SYMBOLSxBARS, e.g. 10x10000 or 10x100k") from None


def parse_engines(text: str) -> list[str]:
    chosen: list[str] = []
    for part in text.split(","):
        part = part.strip().lower()
        if not part:
            continue
        if part == "all":
            names = list(ENGINES)
        elif ALIASES.get(part) == "tickbus-*":
            names = ["tickbus-inproc", "tickbus-mp"]
        elif part in ALIASES:
            names = [ALIASES[part]]
        else:
            raise argparse.ArgumentTypeError(f"unknown engine {part!r} (engines: {', '.join(ENGINES)})")
        chosen += [n for n in names if n not in chosen]
    return [e for e in ENGINES if e in chosen]  # fixed order


def build_cases(sizes: list[tuple[int, int]], strategies: list[int], matrix: bool) -> list[Case]:
    """Every size with the first strategy count; the other counts on the first size (all with --matrix)."""
    cases: list[Case] = []
    for i, (k, n) in enumerate(sizes):
        for j, s in enumerate(strategies):
            if matrix or i == 0 or j == 0:
                cases.append(Case(k, n, s))
    return cases


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help=f"{QUICK_SIZES}, 1 strategy, all engines (< 1 min)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--sizes", help=f"SYMBOLSxBARS,... (default {FULL_SIZES}; --quick {QUICK_SIZES})")
    p.add_argument("--strategies", help="strategy counts, e.g. 1,4,16 (default 1,4,16; --quick 1); counts after"
                                        " the first run on the first size only unless --matrix")
    p.add_argument("--matrix", action="store_true", help="every size with every strategy count")
    p.add_argument("--engines", default="all",
                   help=f"comma-separated: {', '.join(ENGINES)} (aliases np, bt, inproc, mp, tickbus, all)")
    p.add_argument("--timeout", type=float, help="seconds per engine run before it is stopped and reported as"
                                                   " timeout (default 900; --quick 40)")
    p.add_argument("--repeat", type=int, default=1, help="run every engine N times, report the fastest (all walls in --json)")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--keep", action="store_true", help="keep the work dir (CSV, secmaster, runs.db, logs)")
    p.add_argument("--workdir", help="work in this directory (implies --keep)")
    p.add_argument("--tickbus-arg", action="append", metavar="ARG",
                   help="extra argument for `tickbus run` (repeatable), e.g. --tickbus-arg=--transport=tcp")
    p.add_argument("--max-listed", type=int, default=10, help="differences listed in the table output")
    p.add_argument("--silent", action="store_true", help="no progress lines on stderr")
    a = p.parse_args(argv)

    try:
        sizes = [parse_size(s) for s in (a.sizes or (QUICK_SIZES if a.quick else FULL_SIZES)).split(",") if s.strip()]
        strategies = [int(s) for s in (a.strategies or ("1" if a.quick else "1,4,16")).split(",") if s.strip()]
        engines = parse_engines(a.engines)
        sizes = list(dict.fromkeys(sizes))
        strategies = list(dict.fromkeys(strategies))
    except (argparse.ArgumentTypeError, ValueError) as exc:
        p.error(str(exc))
    if not sizes or not strategies or not engines or min(strategies) < 1:
        p.error("need at least one size, one strategy count >= 1 and one engine")
    if a.repeat < 1:
        p.error("--repeat must be >= 1")
    if a.timeout is None:
        a.timeout = 40.0 if a.quick else 900.0
    if a.workdir:
        a.keep = True
        work = Path(a.workdir).resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="tickbus-bench-"))

    mach = machine()
    bench = Bench(a, work)
    t0 = time.perf_counter()
    try:
        bench.run(build_cases(sizes, strategies, a.matrix), engines)
    finally:
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    total = time.perf_counter() - t0
    mach["loadavg_at_end"] = list(os.getloadavg())
    ok = all(o.status.startswith(("ok", "skipped", "timeout")) for o in bench.outcomes)
    matched = all((o.comparison or {}).get("fills_match", True) for o in bench.outcomes)
    if a.json:
        print(json.dumps({
            "cases": [o.to_dict() for o in bench.outcomes],
            "machine": mach,
            "workload": {"name": "SMA-X", "seed": a.seed, "spec": "scripts/smax.py",
                         "sma_ties": bench.ties},
            "data": [ds.summary() for ds in bench.datasets.values()],
            "total_s": round(total, 3),
            "work_dir": str(work) if a.keep else None,
            "all_fills_match": matched,
        }))
    else:
        print(report_text(bench, mach, total))
    return 0 if ok and matched else 1


if __name__ == "__main__":
    sys.exit(main())
