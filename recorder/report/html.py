"""`tickbus runs report`: one self-contained HTML file per run.

Self-contained means it opens offline and years later: inline CSS, charts as base64 PNG data
URIs, no script, no font, no link to any network resource. Size is bounded for long runs:
charts are raster images (their size does not grow with bars), at most `MAX_PRICE_CHARTS`
symbols get a price chart and at most `MAX_TRIP_ROWS` round trips are listed (all are in
`tickbus runs show --round-trips --json`).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recorder.analysis.analyse import RunAnalysis
from recorder.report import charts
from recorder.report.metrics import footnotes, metric_rows, symbol_rows
from recorder.report.text import TRIP_HEADER, round_trip_rows, run_header

MAX_PRICE_CHARTS = 40
MAX_TRIP_ROWS = 5000

CSS = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1100px;
       color: #222; padding: 0 12px; }
h1 { font-size: 20px; margin-bottom: 4px; word-break: break-all; }
h2 { font-size: 16px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; font-size: 12.5px; margin: 6px 0; }
th, td { padding: 2px 8px; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; position: sticky; top: 0; }
td.l, th.l { text-align: left; }
.kv td { text-align: left; white-space: normal; }
.kv td:first-child { color: #666; padding-right: 16px; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-size: 12px; }
.completed { background: #2e7d32; } .failed { background: #c62828; } .running { background: #ef6c00; }
.cancelled { background: #6d4c41; }
.neg { color: #b71c1c; }
pre.error { background: #fff3f3; border: 1px solid #f3c0c0; padding: 8px; overflow-x: auto; font-size: 12px; }
img { max-width: 100%; display: block; margin: 8px 0; }
.scroll { max-height: 600px; overflow: auto; border: 1px solid #eee; }
.note { color: #666; font-size: 12px; }
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, left: int = 1) -> str:
    def cell(tag: str, i: int, v: str) -> str:
        cls = ["l"] if i < left else []
        if tag == "td" and v.startswith("-") and i >= left:
            cls.append("neg")
        attr = f' class="{" ".join(cls)}"' if cls else ""
        return f"<{tag}{attr}>{_e(v)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "\n".join("<tr>" + "".join(cell("td", i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _run_section(a: RunAnalysis) -> str:
    rows, error = [], ""
    for line in run_header(a.info, a):
        if line == "error":
            break
        key, _, value = line.partition(" ")
        rows.append(f"<tr><td>{_e(key)}</td><td>{_e(value.strip())}</td></tr>")
    if a.info.error:
        error = f'<h2>Error</h2><pre class="error">{_e(a.info.error.rstrip())}</pre>'
    return f'<table class="kv">{"".join(rows)}</table>{error}'


def _chart_symbols(a: RunAnalysis) -> list[int]:
    """Symbols to chart: the most traded first (then by name), at most MAX_PRICE_CHARTS."""
    counts = np.bincount(a.data.fills.symbol, minlength=len(a.data.symbols))
    order = sorted(range(len(a.data.symbols)), key=lambda k: (-int(counts[k]), a.data.symbols[k]))
    return order[:MAX_PRICE_CHARTS]


def render_html(a: RunAnalysis) -> str:
    """The whole report page. Raises ChartsUnavailable when matplotlib is missing."""
    info = a.info
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>tickbus run {_e(info.run_id)}</title>",
        f"<style>{CSS}</style></head><body>",
        f'<h1>Run {_e(info.run_id)}</h1><span class="status {_e(info.status)}">{_e(info.status)}</span>',
    ]
    if info.status == "running":
        parts.append('<p class="note">The run is still being recorded: these are the events recorded so far.</p>')
    parts += ["<h2>Run</h2>", _run_section(a)]
    parts += ["<h2>Statistics</h2>", _table(*metric_rows(a))]
    parts += ["<h2>Equity and drawdown</h2>", _img(charts.equity_png(a), "equity curve"),
              _img(charts.drawdown_png(a), "drawdown")]
    header, rows = symbol_rows(a)
    if rows:
        parts += ["<h2>Per symbol</h2>", _table(header, rows, left=2)]
    shown = _chart_symbols(a)
    if shown:
        parts.append("<h2>Prices and fills</h2>")
        if len(shown) < len(a.data.symbols):
            parts.append(f'<p class="note">The {len(shown)} most traded of {len(a.data.symbols):,} symbols.</p>')
        parts += [_img(charts.price_png(a, k), f"{a.data.symbols[k]} price and fills") for k in shown]
    n_trips = len(a.round_trips)
    parts.append(f"<h2>Round trips ({n_trips:,})</h2>")
    if n_trips:
        if n_trips > MAX_TRIP_ROWS:
            parts.append(f'<p class="note">The first {MAX_TRIP_ROWS:,} by exit, per strategy and symbol; '
                         f"all are listed by <code>tickbus runs show {_e(info.run_id)} --round-trips --json</code>.</p>")
        parts.append(f'<div class="scroll">{_table(TRIP_HEADER, round_trip_rows(a, MAX_TRIP_ROWS), left=5)}</div>')
    parts += ["<h2>Notes</h2>", "<ul>", *(f"<li>{_e(n)}</li>" for n in footnotes(a)), "</ul>"]
    parts.append(f'<p class="note">tickbus {_e((info.config.get("versions") or {}).get("tickbus", ""))} run report</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(a: RunAnalysis, path: str | Path) -> Path:
    p = Path(path)
    text = render_html(a)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(p)
    return p
