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
  tickbus-inproc-trades / tickbus-inproc-summary
                  the same in-process run recording less (`--record trades`: no bars, no bars_processed;
                  `--record summary`: fills and the run's figures only); "x all" in the notes is their
                  bars/s over tickbus-inproc's
  backtrader      scripts/bench_engines/bt_smax.py (needs the `bench` extra; skipped if absent)
  numpy           scripts/bench_engines/numpy_smax.py, vectorised, exact (integer cents)
For tickbus, "load" is the `tickbus secmaster import-csv` of the case's CSV (its own process,
done once per data set and shared by both tickbus engines) and is NOT part of its wall time;
"run" is the run's own elapsed_s. For backtrader and numpy, loading the CSV is inside the wall
time and "load" is the runner's own measurement of it. bars/s = symbols * bars / wall seconds.
"x bt" = an engine's bars/s / backtrader's in the same case of the same invocation. "db B/bar" =
the runs.db's bytes (with its WAL) per bar per strategy.

Modules: bench_engines.proctree (whole-process runs, peak RSS), bench_engines.model (cases,
outcomes, the comparison with the reference), bench_engines.report (the table).

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
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_engines.common import (  # noqa: E402
    Fill,
    format_periods,
    load_csv,
    normalise,
    pnl_from_fills,
    read_fills,
)
from bench_engines.model import Case, DataSet, Differences, Outcome  # noqa: E402
from bench_engines.numpy_smax import smax as numpy_reference  # noqa: E402
from bench_engines.proctree import ProcResult, last_json, run_process  # noqa: E402
from bench_engines.report import EXACT_ENGINES, machine, report_text  # noqa: E402

ENGINES = ("numpy", "backtrader", "tickbus-inproc", "tickbus-mp", "tickbus-inproc-trades", "tickbus-inproc-summary")
#: tickbus engines that record less than every event: `tickbus run --record LEVEL` (in-process).
RECORD_LEVELS = {"tickbus-inproc-trades": "trades", "tickbus-inproc-summary": "summary"}
ALIASES = {
    "numpy": "numpy", "np": "numpy",
    "backtrader": "backtrader", "bt": "backtrader",
    "tickbus-inproc": "tickbus-inproc", "inproc": "tickbus-inproc", "inprocess": "tickbus-inproc",
    "in-process": "tickbus-inproc",
    "tickbus-mp": "tickbus-mp", "mp": "tickbus-mp", "multiprocess": "tickbus-mp", "multi-process": "tickbus-mp",
    "tickbus-inproc-trades": "tickbus-inproc-trades", "trades": "tickbus-inproc-trades",
    "tickbus-inproc-summary": "tickbus-inproc-summary", "summary": "tickbus-inproc-summary",
    "tickbus": "tickbus-*",
}
FULL_SIZES = "10x10000,10x100000,100x10000"
QUICK_SIZES = "10x5000"
SEED = 42
PUBLISHER, DATASET = "bench", "SMAX"


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
        if engine.startswith("tickbus-inproc"):
            cmd.append("--in-process")
        if engine in RECORD_LEVELS:
            cmd += ["--record", RECORD_LEVELS[engine]]
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
            db_bytes = sum(f.stat().st_size for f in (out, Path(f"{out}-wal")) if f.exists())
            o.extra["runs_db_bytes"] = db_bytes
            o.extra["db_bytes_per_bar_strategy"] = round(db_bytes / (o.total_bars * case.strategies), 1)
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
            all_speed = next((o.bars_per_s for o in group if o.engine == "tickbus-inproc" and o.bars_per_s), None)
            for o in group:
                speed = o.bars_per_s
                if bt_speed and speed:
                    o.ratio_to_backtrader = speed / bt_speed
                if o.engine in RECORD_LEVELS and all_speed and speed:
                    o.extra["ratio_to_record_all"] = round(speed / all_speed, 3)
            tb = {o.engine: o for o in group if o.engine.startswith("tickbus") and o.fill_list is not None}
            base = tb.get("tickbus-inproc")
            for name, o in tb.items():  # the design promise: every mode and level records the same fills
                if base is not None and o is not base:
                    o.extra["fills_equal_inproc"] = Counter(o.fill_list or []) == Counter(base.fill_list or [])
            for o in group:
                o.fill_list = None
            self.outcomes.extend(group)


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
            names = [e for e in ENGINES if e.startswith("tickbus")]
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
