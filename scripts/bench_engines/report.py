"""The benchmark's report: the machine it ran on and the table of outcomes (scripts/bench.py)."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from bench_engines.model import Outcome

if TYPE_CHECKING:
    from bench import Bench

HERE = Path(__file__).resolve().parent.parent
EXACT_ENGINES = ("numpy", "tickbus-inproc", "tickbus-mp", "tickbus-inproc-trades", "tickbus-inproc-summary")  # decide SMA ties exactly: no tie diffs allowed


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
            "tie diffs", "db B/bar", "rounds/s", "p50/p99/max us"]
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
            _f(o.fills, ",d"), match, _f(cmp.get("tie_diffs"), ",d"),
            _f(o.extra.get("db_bytes_per_bar_strategy"), ",.0f"), _f(d["rounds_per_s"], ",.0f"), lat,
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
        "db B/bar = runs.db bytes (with its WAL) per bar per strategy; tickbus-inproc-trades/-summary record at"
        " `--record trades`/`summary` (in-process).",
    ]
    for o in bench.outcomes:
        if "ratio_to_record_all" in o.extra:
            out.append(f"{o.case.label}: {o.engine} {o.extra['ratio_to_record_all']:.2f}x the bars/s of tickbus-inproc"
                       " (every event recorded)")
    for label, n in bench.ties.items():
        same = [o.extra["fills_equal_inproc"] for o in bench.outcomes
                if o.case.label == label and "fills_equal_inproc" in o.extra]
        out.append(f"{label}: {n} bars where SMA fast == SMA slow exactly (decimal), over all symbols/strategies"
                   + (f"; other tickbus engines' fills identical to tickbus-inproc's: {'yes' if all(same) else 'NO'}"
                      if same else ""))
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
