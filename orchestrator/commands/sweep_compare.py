"""`tickbus sweep compare A B`: two sweeps over the same grid, variant by variant: each one's
metric in A and in B, the delta, which figures changed; the rank correlation of the two surfaces.
Exit 0 when no variant changed, 1 when some did, 2 when the grids differ."""

from __future__ import annotations

import argparse
import json

from orchestrator.commands.runs import _finite, _open
from orchestrator.errors import UsageError


def compare(args: argparse.Namespace, sweep_a: str, sweep_b: str) -> int:
    from recorder.analysis.sweep_compare import GridMismatch, compare_sweeps
    from recorder.analysis.sweeps import UnknownSweepError
    from recorder.report.sweep_table import LABELS, fmt
    from recorder.report.text import table

    metric = args.metric or "sharpe"
    with _open(args.runs_db or "runs.db") as conn:
        try:
            c = compare_sweeps(conn, sweep_a, sweep_b, metric)
        except (UnknownSweepError, GridMismatch) as exc:
            raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps(_finite(c.to_dict()), allow_nan=False))
        return 1 if c.changed else 0
    rho = c.rank_correlation
    label = LABELS.get(metric, metric)
    lines = [f"A  {c.a.sweep_id}  ({c.a.completed:,} completed)", f"B  {c.b.sweep_id}  ({c.b.completed:,} completed)",
             f"{len(c.pairs):,} variants, {len(c.changed):,} changed; rank correlation of {label} (Spearman): "
             f"{'-' if rho is None else f'{rho:.2f}'}", ""]
    names = list(c.a.spec.get("grid") or {})
    rows = [[*(str(p.params.get(n, "")) for n in names),
             fmt(metric, None if p.a is None else p.a.figures.get(metric)),
             fmt(metric, None if p.b is None else p.b.figures.get(metric)), fmt(metric, p.delta(metric)),
             ", ".join(p.changed) or "same"] for p in c.pairs]
    lines += table([*names, f"A {label}", f"B {label}", "delta", "changed"], rows, left=0,
                   align="r" * (len(names) + 3) + "l")
    print("\n".join(lines))
    return 1 if c.changed else 0
