"""`tickbus sweep report`: one self-contained HTML file per sweep, from runs.db alone.

Same conventions as the run report (html.py): inline CSS, charts as base64 PNG data URIs, no
link to any network resource. One small inline script sorts the variants' table by a click on a
column header (the page reads the same without it). Equity curves are the thinned curves each
variant's figures keep (recorder/metrics.py), so a sweep recorded at `summary` charts them too.
"""

from __future__ import annotations

import html
import json
import sqlite3
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from recorder.analysis import sweep_checks as C
from recorder.analysis.sweep_surface import Surface, build, figure
from recorder.analysis.sweeps import SweepInfo, get_sweep, variants
from recorder.analysis.timefmt import iso_ns
from recorder.layout import METRIC_COLUMNS
from recorder.metrics import stored_equity
from recorder.report import sweep_charts as SC
from recorder.report.html import CSS, _img
from recorder.report.sweep_table import LABELS, fmt, ranking

MAX_PAIRS = 15  # heatmaps drawn (the first pairs in grid order); the data has them all
TOP_CURVES = 5

SORT_JS = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.style.cursor = "pointer";
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0], rows = Array.from(body.rows);
    var numeric = th.dataset.num === "1", dir = th.dataset.dir === "asc" ? "desc" : "asc";
    table.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = dir;
    function key(r) {
      var t = r.cells[col].textContent.replace(/[,%]/g, "");
      if (!numeric) return t;
      var x = parseFloat(t); return isNaN(x) ? null : x;
    }
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === null) return 1; if (y === null) return -1;
      var c = x < y ? -1 : x > y ? 1 : 0; return dir === "asc" ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

EXTRA_CSS = """
tr.peak td { background: #fff1f0; }
.pair { display: flex; gap: 12px; } .pair > div { flex: 1; min-width: 0; }
th[data-dir="asc"]::after { content: " \\25B2"; } th[data-dir="desc"]::after { content: " \\25BC"; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _kv(rows: list[tuple[str, str]]) -> str:
    return '<table class="kv">' + "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>"


def _plain_table(header: list[str], rows: list[list[str]], left: int = 1) -> str:
    def cell(tag: str, i: int, v: str) -> str:
        cls = ' class="l"' if i < left else (' class="neg"' if tag == "td" and v.startswith("-") and v != "-" else "")
        return f"<{tag}{cls}>{_e(v)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "\n".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _when(ns: Any) -> str:
    return "-" if ns is None else iso_ns(int(ns))


def settings_rows(info: SweepInfo) -> list[tuple[str, str]]:
    spec, s = info.spec, info.spec.get("settings") or {}
    rows = [("sweep", info.sweep_id), ("name", info.name), ("status", info.shown_status),
            ("variants", f"{info.variants:,}: {info.completed:,} completed, {info.failed:,} failed"),
            ("strategy", f"{spec.get('strategy')} {json.dumps(spec.get('fixed') or {})}"),
            ("grid", "  ".join(f"{k}={','.join(map(str, v))}" for k, v in (spec.get("grid") or {}).items())
             + f"  ({spec.get('grid_size', 0):,} points)")]
    if s.get("where"):
        rows.append(("where", str(s["where"])))
    search = (spec.get("search") or {}).get("method") or ("random" if s.get("random") else "grid")
    rows.append(("search", search + (f", {s['random']} points" if s.get("random") else "")
                 + (f", {s.get('trials')} trials" if s.get("trials") else "")
                 + (f", seed {spec.get('seed')}" if spec.get("seed") is not None else "")))
    data = spec.get("data") or {}
    rows.append(("data", f"{len(data.get('symbols') or [])} symbols ({', '.join((data.get('symbols') or [])[:10])}), "
                         f"{data.get('bars', 0):,} bars per variant; start {s.get('start') or '-'}, end {s.get('end') or '-'}"))
    for key in ("commission_per_unit", "publisher", "dataset", "record", "sort"):
        if s.get(key) is not None:
            rows.append((key.replace("_", " "), str(s[key])))
    hold = spec.get("holdout")
    if hold:
        rows.append(("holdout", f"{hold.get('given')}: in sample until {_when(hold.get('split_ns'))}, "
                                f"top {hold.get('top')} run from then on"))
    wf = spec.get("walk_forward")
    if wf:
        rows.append(("walk-forward", f"{len(wf.get('bounds') or [])} windows"))
    if info.error:
        rows.append(("error", info.error))
    return rows


def _ranking_table(s: Surface, names: list[str], oos: dict[int, Any]) -> str:
    r = ranking(s, names, oos)
    last = len(r.header) - 2  # status and run id: text, left

    def attr(i: int, v: str | None) -> str:
        if i >= last:
            return ' class="l"'
        return ' class="neg"' if v is not None and v.startswith("-") and v != "-" else ""

    head = "".join(f'<th data-num="{int(n)}"{attr(i, None)}>{_e(h)}</th>' for i, (h, n) in enumerate(zip(r.header, r.numeric)))
    body = []
    for row, peak in zip(r.rows, r.peaks):
        cells = "".join(f"<td{attr(i, v)}>{_e(v)}</td>" for i, v in enumerate(row))
        shade = ' class="peak"' if peak else ""
        body.append(f"<tr{shade}>{cells}</tr>")
    return (f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead><tbody>\n'
            + "\n".join(body) + "\n</tbody></table></div>")


def _surface_section(s: Surface) -> list[str]:
    label = LABELS.get(s.metric, s.metric)
    more = METRIC_COLUMNS[s.metric]
    peak_runs = {r.run_id for r in s.peaks()}
    parts = [f"<h2>{_e(label)} over the grid</h2>",
             f'<p class="note">Each cell shows the {"best" if s.how == "best" else "median"} {_e(label)} of the variants '
             "with those two values (over every value of the other parameters); red outlines: isolated peaks.</p>"]
    if not s.axes:
        return parts + ['<p class="note">No grid parameter varies.</p>']
    pairs = list(combinations(s.axes, 2))
    if len(pairs) > MAX_PAIRS:
        parts.append(f'<p class="note">The first {MAX_PAIRS} of {len(pairs)} pairs.</p>')
    for hm in s.heatmaps[:MAX_PAIRS]:
        peaks = {(a, b) for row, b in zip(hm.cells, hm.ys) for c, a in zip(row, hm.xs) if c.run_id in peak_runs}
        parts.append(_img(SC.heatmap_png(hm, f"{label}: {hm.y} by {hm.x}", peaks, more_is_better=more),
                          f"{label} heatmap {hm.x} x {hm.y}"))
    if len(s.axes) == 1:
        ln = s.lines[0]
        parts.append(_img(SC.line_png(ln, f"{label} by {ln.param}", s.robustness_line(ln.param)), f"{label} by {ln.param}"))
    return parts


def _robustness_section(s: Surface) -> list[str]:
    label = LABELS.get(s.metric, s.metric)
    parts = ["<h2>Robustness</h2>",
             f'<p class="note">Each variant\'s {_e(label)} next to the median of its grid neighbours (one step in one '
             "parameter). An isolated peak is in the top decile while its neighbour median is no better than the "
             "sweep's median: likely an overfit spike, not a plateau.</p>"]
    peaks = s.peaks()
    if peaks:
        rows = [[" ".join(f"{k}={v}" for k, v in p.params.items()), fmt(s.metric, p.value), fmt(s.metric, p.neighbour_median),
                 str(len(p.neighbours)), p.run_id or "-"] for p in peaks]
        parts.append(_plain_table(["isolated peak", label, "neighbour median", "neighbours", "run id"], rows))
    else:
        parts.append('<p class="note">No isolated peak.</p>')
    more = METRIC_COLUMNS[s.metric]
    for x, y in list(combinations(s.axes, 2))[:MAX_PAIRS]:
        hm = s.robustness_heatmap(x, y)
        parts.append(_img(SC.heatmap_png(hm, f"neighbour median of {label}: {y} by {x}", more_is_better=more),
                          f"robustness heatmap {x} x {y}"))
    return parts


def _curves(conn: sqlite3.Connection, vs: list[Any], label: Any) -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for v in vs:
        curve = stored_equity(conn, v.run_id) if v.run_id else None
        if curve is not None:
            out.append((label(v), *curve))
    return out


def _params(v: Any) -> str:
    return " ".join(f"{k}={x}" for k, x in v.params.items())


def _holdout_section(conn: sqlite3.Connection, info: SweepInfo, metric: str) -> list[str]:
    pairs = C.holdout(conn, info.sweep_id, metric)
    if not pairs:
        return []
    label = LABELS.get(metric, metric)
    rho = C.rank_correlation(pairs, metric)
    keys = ("net_pnl", "sharpe", "sortino", "max_drawdown", "fills", "win_rate")
    header = ["params", *(f"IS {LABELS[k]}" for k in keys), *(f"OOS {LABELS[k]}" for k in keys), "IS run", "OOS run"]
    rows = []
    for p in pairs:
        o = p.out_of_sample
        rows.append([_params(p.in_sample), *(fmt(k, p.in_sample.figures.get(k)) for k in keys),
                     *(fmt(k, None if o is None else o.figures.get(k)) for k in keys),
                     p.in_sample.run_id or "-", "-" if o is None else (o.run_id or o.status)])
    hold = info.spec.get("holdout") or {}
    parts = ["<h2>In sample vs out of sample</h2>",
             f'<p class="note">Ranked on the in-sample period (until {_e(_when(hold.get("split_ns")))}); the top '
             f"{len(pairs)} run again from the split on. Spearman rank correlation of {_e(label)}, in sample vs out of "
             f"sample: <b>{'-' if rho is None else f'{rho:.2f}'}</b>.</p>",
             f'<div class="scroll">{_plain_table(header, rows)}</div>',
             _img(SC.pairs_png([(str(i), figure(p.in_sample, metric), None if p.out_of_sample is None else
                                 figure(p.out_of_sample, metric)) for i, p in enumerate(pairs, 1)], label,
                               f"{label}: in sample vs out of sample (by in-sample rank)"), "in vs out of sample")]
    outs = [p.out_of_sample for p in pairs if p.out_of_sample is not None]
    curves = _curves(conn, outs, lambda v: f"OOS {_params(v)}")
    if curves:
        parts.append(_img(SC.curves_png(curves, "Equity out of sample"), "out-of-sample equity"))
    return parts


def _walk_forward_section(conn: sqlite3.Connection, info: SweepInfo, metric: str, best: Any) -> list[str]:
    windows = C.walk_forward(conn, info.sweep_id, info.spec, metric)
    if not windows:
        return []
    label = LABELS.get(metric, metric)
    rows = []
    for w in windows:
        rows.append([str(w.window), _when(w.start_ns), _when(w.end_ns),
                     "-" if w.best is None else _params(w.best), "-" if w.best is None else fmt(metric, figure(w.best, metric)),
                     "-" if w.next_run is None else _params(w.next_run),
                     "-" if w.next_run is None else fmt(metric, figure(w.next_run, metric)),
                     "-" if w.next_run is None else fmt("net_pnl", w.next_run.figures.get("net_pnl")),
                     "-" if w.next_run is None else (w.next_run.run_id or w.next_run.status)])
    header = ["window", "from", "to", "best in window", f"its {label}", "run here (previous best)", f"OOS {label}",
              "OOS net PnL", "OOS run"]
    parts = ["<h2>Walk-forward</h2>",
             '<p class="note">In each window the grid is ranked on that window; its best variant runs on the next window. '
             "The stitched out-of-sample equity joins those runs, against the single best full-period variant (by "
             f"{_e((info.spec.get('settings') or {}).get('sort') or 'net_pnl')}, as the windows are ranked) over the same span.</p>", _plain_table(header, rows, left=1)]
    ts, net = C.stitch(conn, [w.next_run.run_id if w.next_run else None for w in windows])
    curves = [("walk-forward (stitched out of sample)", ts, net)]
    if best is not None and len(windows) > 1:
        bts, bnet = C.rebased(conn, best.run_id, windows[1].start_ns)
        curves.append((f"best full-period variant {_params(best)}", bts, bnet))
    parts.append(_img(SC.curves_png(curves, "Walk-forward: stitched out-of-sample equity",
                                    marks=[w.start_ns for w in windows[1:]]), "walk-forward equity"))
    return parts


def render_sweep_html(conn: sqlite3.Connection, sweep_id: str, metric: str = "sharpe") -> str:
    """The whole page. Raises ChartsUnavailable when matplotlib is missing."""
    info = get_sweep(conn, sweep_id)
    ranked = variants(conn, info.sweep_id, metric)
    s = build(info.sweep_id, info.spec, ranked, metric)
    names = list((info.spec.get("grid") or {}) or s.axes)
    oos = C.out_of_sample(conn, info.sweep_id, metric)
    label = LABELS.get(metric, metric)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>tickbus sweep {_e(info.sweep_id)}</title>", f"<style>{CSS}{EXTRA_CSS}</style></head><body>",
             f'<h1>Sweep {_e(info.sweep_id)}</h1><span class="status {_e(info.shown_status)}">{_e(info.shown_status)}</span>',
             "<h2>Settings</h2>", _kv(settings_rows(info)),
             f"<h2>Variants ({len(ranked):,}), ranked by {_e(label)}</h2>",
             '<p class="note">Click a column header to sort. Shaded rows: isolated peaks. The same table: '
             f"<code>tickbus sweep show {_e(info.sweep_id)} --sort {_e(metric)}</code>.</p>",
             _ranking_table(s, names, oos)]
    parts += _surface_section(s)
    parts += _robustness_section(s)
    values = [x for v in ranked if (x := figure(v, metric)) is not None]
    parts += [f"<h2>Distribution of {_e(label)}</h2>",
              _img(SC.histogram_png(values, label, f"{label} over {len(values):,} variants"), f"{label} distribution")]
    top = [v for v in ranked if figure(v, metric) is not None][:TOP_CURVES]
    curves = _curves(conn, top, lambda v: f"#{v.variant} {_params(v)}")
    parts.append(f"<h2>Equity of the top {len(top)}</h2>")
    if curves:
        parts.append(_img(SC.curves_png(curves, f"Equity of the top {len(top)} by {label}"), "top equity curves"))
    else:
        parts.append('<p class="note">No stored equity curve for these variants.</p>')
    parts += _holdout_section(conn, info, metric)
    sort = str((info.spec.get("settings") or {}).get("sort") or "net_pnl")
    full = [v for v in variants(conn, info.sweep_id, sort) if figure(v, sort) is not None]
    parts += _walk_forward_section(conn, info, metric, full[0] if full else None)
    parts += [f"<script>{SORT_JS}</script>", "</body></html>"]
    return "\n".join(parts)


def write_sweep_report(conn: sqlite3.Connection, sweep_id: str, path: str | Path, metric: str = "sharpe") -> Path:
    p = Path(path)
    text = render_sweep_html(conn, sweep_id, metric)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(p)
    return p
