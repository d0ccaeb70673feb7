"""Plain-text renderings for the terminal: `runs list`, `runs show`, `runs compare`."""

from __future__ import annotations

import json
from collections.abc import Sequence

from recorder.analysis.analyse import RunAnalysis
from recorder.analysis.catalog import RunInfo
from recorder.analysis.compare import Comparison
from recorder.analysis.summary import RunSummary
from recorder.analysis.timefmt import iso_ns
from recorder.report import fmt
from recorder.report.metrics import footnotes, metric_rows, symbol_rows

TRIP_HEADER = ["strategy", "symbol", "dir", "entry time", "exit time", "entry", "exit", "qty", "gross", "commission", "net"]


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1, align: str = "") -> list[str]:
    """Columns padded to width; the first `left` columns left-aligned, the rest right-aligned,
    unless `align` gives one letter per column ('l' or 'r')."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    align = align or "l" * left + "r" * (len(header) - left)

    def line(r: Sequence[str]) -> str:
        cells = [str(c).ljust(w) if align[i] == "l" else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        return "  ".join(cells).rstrip()

    return [line(header), *(line(r) for r in rows)]


def _short_list(items: Sequence[str], n: int = 3) -> str:
    if len(items) <= n:
        return ",".join(items) or "-"
    return f"{','.join(items[:n])} +{len(items) - n}"


def runs_list(summaries: Sequence[RunSummary]) -> list[str]:
    if not summaries:
        return ["no runs"]
    header = ["run id", "status", "strategies", "symbols", "bars", "fills", "net PnL", "wall time"]
    rows = [
        [s.info.run_id, s.info.shown_status, _short_list(s.info.strategy_ids, 2), _short_list(s.info.symbols),
         fmt.count(s.bars), fmt.count(s.fills), fmt.money(s.net_pnl), fmt.duration(s.info.wall_time_s)]
        for s in summaries
    ]
    return table(header, rows, left=4)


def _spec(spec: object) -> str:
    if not isinstance(spec, dict):
        return str(spec)
    attrs = spec.get("attrs") or {}
    shown = {k: v for k, v in attrs.items() if k not in ("symbols", "db_path")} if isinstance(attrs, dict) else attrs
    text = str(spec.get("base", spec.get("name", "")))
    return f"{text} {json.dumps(shown, default=str)}" if shown else text


#: What a run recorded below `all` lacks (the charts and checks that need it are unavailable).
_NOT_RECORDED = {
    "all": "every event",
    "trades": "no bars and no indicator values (no equity curve, no price charts)",
    "summary": "fills only, no bars, orders or indicator values (no equity curve, no price charts)",
}


def run_header(info: RunInfo, a: RunAnalysis | None = None) -> list[str]:
    """Key-value lines: identity, status (and error), configuration."""
    c = info.config
    lines = [f"run         {info.run_id}", f"name        {info.name}", f"status      {info.status}"]
    gone = info.orchestrator_gone()
    if gone:
        lines[-1] = f"status      abandoned  (left running: {gone}; figures are what was recorded)"
    elif info.status == "running":
        lines[-1] += "  (still being recorded: figures are what is recorded so far)"
    lines.append(f"started     {iso_ns(info.ts_start, fraction=False)}   wall time {fmt.duration(info.wall_time_s)}")
    if a is not None and a.replayed is not None:
        seen = a.replayed
        names = [str(s) for s in seen.get("symbols") or []]
        lines.append(f"data        {len(names)} symbols ({_short_list(names, 6)}), {seen.get('bars') or 0:,} "
                     f"{seen.get('bar_period') or ''} bars replayed, {iso_ns(seen.get('first_bar_ns'))} .. "
                     f"{iso_ns(seen.get('last_bar_ns'))}")
        lines.append(f"recorded    {info.record_level}: {_NOT_RECORDED[info.record_level]}; the figures were "
                     "computed from the replayed bars at the end of the run")
        lines.append(f"fills       {len(a.data.fills):,}")
    elif a is not None:
        bars = a.data.bars
        span = f"{iso_ns(int(bars.ts.min()))} .. {iso_ns(int(bars.ts.max()))}" if len(bars) else "no bars"
        lines.append(f"data        {len(a.data.symbols)} symbols ({_short_list(list(a.data.symbols), 6)}), "
                     f"{len(bars):,} {bars.bar_period or ''} bars, {span}")
        lines.append(f"fills       {len(a.data.fills):,}")
    sweep = c.get("sweep")
    if isinstance(sweep, dict):
        params = " ".join(f"{k}={v}" for k, v in (sweep.get("params") or {}).items())
        lines.append(f"sweep       {sweep.get('sweep_id')} variant {sweep.get('variant')}: {params}")
    how = ", recorded by onesecondtrader" if info.recorded_by_seed else ", in-process" if c.get("in_process") else ", multi-process"
    lines.append(f"mode        {c.get('mode', '?')}{how}")
    start, end = info.range_ns
    if start is not None or end is not None:
        lines.append(f"range       {iso_ns(start) or '(first bar)'} .. {iso_ns(end) or '(last bar)'}")
    if info.recorded_by_seed:
        lines.append(f"strategies  {', '.join(str(s) for s in c.get('strategies') or []) or '-'}")
    comps = c.get("components") or {}
    for st in comps.get("strategies") or []:
        lines.append(f"strategy    {st.get('strategy_id')}: {_spec(st.get('spec'))}")
    if comps.get("broker"):
        lines.append(f"broker      {_spec(comps['broker'])}")
    if comps.get("datafeed"):
        lines.append(f"datafeed    {_spec(comps['datafeed'])}")
    if c.get("versions"):
        lines.append("versions    " + ", ".join(f"{k} {v}" for k, v in c["versions"].items()))
    if info.error:
        lines.append("error")
        lines += ["  " + ln for ln in info.error.rstrip().splitlines()]
    return lines


def round_trip_rows(a: RunAnalysis, limit: int | None = None) -> list[list[str]]:
    return [
        [r["strategy_id"], r["symbol"], r["direction"], r["entry_time"], r["exit_time"], fmt.price(r["entry_price"]),
         fmt.price(r["exit_price"]), fmt.qty(r["quantity"]), fmt.money(r["gross_pnl"]), fmt.money(r["commission"]),
         fmt.money(r["net_pnl"])]
        for r in a.round_trip_records(limit)
    ]


def show(a: RunAnalysis, *, round_trips: bool = False) -> list[str]:
    lines = run_header(a.info, a)
    lines += ["", *table(*metric_rows(a))]
    header, rows = symbol_rows(a)
    if rows:
        lines += ["", "per symbol", *table(header, rows, left=2)]
    if round_trips:
        lines += ["", "round trips", *table(TRIP_HEADER, round_trip_rows(a), left=5)]
    lines += ["", *footnotes(a)]
    return lines


def comparison(c: Comparison, db_a: str, db_b: str) -> list[str]:
    lines = [f"A  {c.run_a.run_id}  ({db_a}, {c.run_a.status})", f"B  {c.run_b.run_id}  ({db_b}, {c.run_b.status})", ""]
    rows = [
        [t.table, fmt.count(t.rows_a), fmt.count(t.rows_b),
         f"not compared: {t.not_compared}" if t.not_compared else "identical" if t.difference is None else t.difference]
        for t in c.tables
    ]
    lines += table(["table", "rows A", "rows B", "first difference"], rows, align="lrrl")
    lines.append("")
    if c.identical:
        compared = [t for t in c.tables if not t.not_compared]
        total = sum(t.rows_a for t in compared)
        skipped = len(c.tables) - len(compared)
        lines.append(f"identical: both runs recorded the same {total:,} events"
                     + (f" (in the {len(compared)} tables both record; {skipped} not compared)" if skipped else ""))
    else:
        n = sum(t.difference is not None for t in c.tables)
        lines.append(f"different: {n} of {len(c.tables)} tables differ")
    return lines
