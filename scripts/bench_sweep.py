#!/usr/bin/env python3
"""Sweep benchmark: SMA-X over an 8 x 8 grid (64 variants), 10 symbols x 2,000 one-minute bars.

    python scripts/bench_sweep.py [--quick] [--json] [--keep]

Each contender is timed as whole processes (wall time, imports included), on the same data:

  sequential   the 64 variants as 64 `tickbus run --in-process` commands, one after the other
               (at the sweep's record level, summary, and at run's default, all)
  local        `tickbus sweep --workers 2`
  dask         `tickbus sweep --scheduler` on `dask scheduler` + 2 `dask worker --nthreads 1` on
               this host (started before the timing; needs the cluster extra)
  backtrader   cerebro.optstrategy over the same grid, maxcpus=2 (needs the bench extra)

and: the per-variant overhead (a sweep of 1-bar variants: the marginal wall time of one more
variant, end to end) and the peak RSS of each local and Dask worker process. `--quick` runs a
2 x 2 grid on 500 bars per symbol (a smoke test of the script). Prints a table, or one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SMAX = f"{ROOT / 'scripts' / 'smax.py'}:SMAX"


def tickbus(*args: str) -> list[str]:
    return [PY, "-m", "orchestrator.cli", *args]


def wall(cmd: list[str], **kw: Any) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, **kw).stdout
    return time.perf_counter() - t0, out


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        return out
    return out + [g for c in out for g in children(c)]


def peak_rss_mb(pid: int) -> float:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def watched(cmd: list[str], match: str) -> tuple[float, str, list[float]]:
    """Run `cmd`; the peak RSS (MB) of each descendant whose command line has `match`."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    peaks: dict[int, float] = {}

    def sample() -> None:
        while proc.poll() is None:
            for c in children(proc.pid):
                try:
                    if match in open(f"/proc/{c}/cmdline").read():
                        peaks[c] = max(peaks.get(c, 0.0), peak_rss_mb(c))
                except OSError:
                    pass
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    t.join()
    if proc.returncode not in (0,):
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-2000:]}")
    return time.perf_counter() - t0, out, sorted(peaks.values())


def make_data(work: Path, symbols: int, bars: int) -> tuple[Path, Path]:
    sys.path.insert(0, str(ROOT))
    from components.sample_data import write_sample_csv

    csv = work / "bars.csv"
    write_sample_csv(csv, symbols, bars, 42)
    db = work / "secmaster.db"
    subprocess.run(tickbus("secmaster", "import-csv", str(csv), "--db", str(db), "--publisher", "bench",
                           "--dataset", "SMAX"), check=True, capture_output=True, cwd=ROOT)
    return csv, db


def sweep_cmd(db: Path, runs: Path, fasts: list[int], slows: list[int], *extra: str) -> list[str]:
    return tickbus("sweep", "--secmaster", str(db), "--runs-db", str(runs), "--strategy", SMAX,
                   "--grid", "fast=" + ",".join(map(str, fasts)), "--grid", "slow=" + ",".join(map(str, slows)),
                   "--json", *extra)


class DaskOnThisHost:
    def __init__(self, work: Path) -> None:
        dask = str(Path(PY).with_name("dask"))
        self.file = work / "scheduler.json"
        self.procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                        "--scheduler-file", str(self.file)], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, start_new_session=True)]
        deadline = time.monotonic() + 60
        while not self.file.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("dask scheduler did not start")
            time.sleep(0.1)
        self.address = json.loads(self.file.read_text())["address"]
        for i in (1, 2):
            home = work / f"worker{i}"
            home.mkdir()
            self.procs.append(subprocess.Popen(
                [dask, "worker", self.address, "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                 "--local-directory", str(home)], cwd=home, env={**os.environ, "TMPDIR": str(home)},
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
            self.worker_pids = list(client.run(os.getpid).values())

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


BT_CODE = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
import backtrader as bt
from bench_engines.bt_smax import ArrayFeed, SMAXStrategy, START_CASH
from bench_engines.common import load_csv

class OptSMAX(SMAXStrategy):
    def notify_order(self, order):
        if order.status == order.Completed:
            self.own_pos[order.data._name] += order.executed.size

data = load_csv(sys.argv[2])
fasts = [int(x) for x in sys.argv[3].split(",")]
slows = [int(x) for x in sys.argv[4].split(",")]
cerebro = bt.Cerebro(stdstats=False, maxcpus=2, optreturn=True, optdatas=True)
cerebro.broker.setcash(START_CASH)
for sym in sorted(data):
    cerebro.adddata(ArrayFeed(bars=data[sym], timeframe=bt.TimeFrame.Minutes, compression=1), name=sym)
cerebro.optstrategy(OptSMAX, fast=fasts, slow=slows)
results = cerebro.run()
print(len(results))
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    p.add_argument("--skip", default="", help="comma-separated: sequential,dask,backtrader")
    a = p.parse_args(argv)
    skip = set(filter(None, a.skip.split(",")))
    symbols, bars = (10, 500) if a.quick else (10, 2000)
    fasts = [5, 10] if a.quick else [5, 10, 15, 20, 25, 30, 35, 40]
    slows = [50, 60] if a.quick else [50, 60, 70, 80, 90, 100, 110, 120]
    n = len(fasts) * len(slows)
    work = Path(tempfile.mkdtemp(prefix="tickbus-bench-sweep-"))
    res: dict[str, Any] = {"variants": n, "symbols": symbols, "bars_per_symbol": bars,
                           "load_before": os.getloadavg(), "cores": os.cpu_count()}
    log = (lambda m: None) if a.json else (lambda m: print(m, file=sys.stderr, flush=True))
    try:
        csv, db = make_data(work, symbols, bars)
        log(f"data: {symbols} x {bars} bars; {n} variants")

        t, out, peaks = watched(sweep_cmd(db, work / "local.db", fasts, slows, "--workers", "2"), "localworker")
        s = json.loads(out)
        assert s["status"] == "completed" and s["completed"] == n, s
        res["local_s"], res["local_worker_peak_rss_mb"] = t, peaks
        log(f"tickbus sweep --workers 2: {t:.2f} s (peak RSS per worker {', '.join(f'{x:.0f}' for x in peaks)} MB)")

        if "sequential" not in skip:
            for level in ("summary", "all"):
                t0 = time.perf_counter()
                for f in fasts:
                    for sl in slows:
                        wall(tickbus("run", "--secmaster", str(db), "--runs-db", str(work / f"seq-{level}.db"),
                                     "--strategy", SMAX, "--param", f"fast={f}", "--param", f"slow={sl}",
                                     "--in-process", "--record", level))
                res[f"sequential_{level}_s"] = time.perf_counter() - t0
                log(f"{n} x tickbus run --in-process --record {level}: {res[f'sequential_{level}_s']:.2f} s")

        if "dask" not in skip:
            cluster = DaskOnThisHost(work)
            try:
                t, out = wall(sweep_cmd(db, work / "dask.db", fasts, slows, "--scheduler", cluster.address))
                s = json.loads(out)
                assert s["status"] == "completed" and s["completed"] == n, s
                res["dask_s"] = t
                res["dask_worker_peak_rss_mb"] = sorted(peak_rss_mb(pid) for pid in cluster.worker_pids)
                log(f"tickbus sweep --scheduler (2 workers): {t:.2f} s")
            finally:
                cluster.stop()

        if "backtrader" not in skip:
            t, _ = wall([PY, "-c", BT_CODE, str(ROOT / "scripts"), str(csv), ",".join(map(str, fasts)),
                         ",".join(map(str, slows))])
            res["backtrader_optstrategy_s"] = t
            log(f"backtrader optstrategy maxcpus=2: {t:.2f} s")

        # per-variant overhead: 1-bar variants, the marginal cost of one more
        first = subprocess.run([PY, "-c", "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("
                                "'SELECT MIN(ts_event) FROM ohlcv').fetchone()[0])", str(db)],
                               capture_output=True, text=True, check=True).stdout.strip()
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(first) // 10**9))
        one_bar = ("--symbols", "SYM000", "--start", iso, "--end", iso, "--workers", "1")
        small = sweep_cmd(db, work / "o1.db", [5], list(range(10, 18)), *one_bar)
        big = sweep_cmd(db, work / "o2.db", list(range(2, 19)), list(range(20, 28)), *one_bar)
        t_small, _ = wall(small)
        t_big, _ = wall(big)
        res["overhead_per_variant_ms"] = (t_big - t_small) / (17 * 8 - 8) * 1000
        import sqlite3
        import statistics

        conn = sqlite3.connect(work / "o2.db")
        inside = [r[0] for r in conn.execute("SELECT elapsed_s FROM sweep_variants")]
        conn.close()
        res["variant_on_worker_median_ms"] = statistics.median(inside) * 1000
        log(f"per-variant overhead (1-bar variants): {res['overhead_per_variant_ms']:.1f} ms end to end, "
            f"{res['variant_on_worker_median_ms']:.1f} ms on the worker (median)")
    finally:
        res["load_after"] = os.getloadavg()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    for key, base in (("sequential_summary_s", "local_s"), ("sequential_all_s", "local_s"),
                      ("backtrader_optstrategy_s", "local_s")):
        if key in res:
            res[f"{key.removesuffix('_s')}_vs_local"] = res[key] / res[base]
    if "dask_s" in res:
        res["dask_vs_local"] = res["dask_s"] / res["local_s"]
    if a.json:
        print(json.dumps(res))
    else:
        print(report(res))
    return 0


def report(r: dict[str, Any]) -> str:
    lines = [f"SMA-X sweep, {r['variants']} variants, {r['symbols']} symbols x {r['bars_per_symbol']:,} bars; "
             f"{r['cores']} cores, load {r['load_before'][0]:.1f} before, {r['load_after'][0]:.1f} after", ""]
    rows = [("tickbus sweep --workers 2", r.get("local_s"), None)]
    for key, label in (("sequential_summary_s", f"{r['variants']} x tickbus run --in-process --record summary"),
                       ("sequential_all_s", f"{r['variants']} x tickbus run --in-process (--record all)"),
                       ("dask_s", "tickbus sweep --scheduler (dask, 2 workers here)"),
                       ("backtrader_optstrategy_s", "backtrader optstrategy, maxcpus=2")):
        if key in r:
            rows.append((label, r[key], r[key] / r["local_s"]))
    for label, t, ratio in rows:
        lines.append(f"{label:<55} {t:8.2f} s" + (f"   {ratio:5.2f}x the sweep's time" if ratio else ""))
    lines.append("")
    lines.append(f"per-variant overhead (1-bar variants): {r['overhead_per_variant_ms']:.1f} ms end to end (marginal), "
                 f"{r['variant_on_worker_median_ms']:.1f} ms of it on the worker (median)")
    lines.append("peak RSS per local worker: " + ", ".join(f"{x:.0f} MB" for x in r["local_worker_peak_rss_mb"]))
    if "dask_worker_peak_rss_mb" in r:
        lines.append("peak RSS per dask worker: " + ", ".join(f"{x:.0f} MB" for x in r["dask_worker_peak_rss_mb"]))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
