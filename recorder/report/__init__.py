"""Presenting analysed runs: terminal text (`text`) and the self-contained HTML report (`html`,
charts by matplotlib in `charts`, an optional extra: `pip install 'tickbus[report]'`)."""

from recorder.report.charts import ChartsUnavailable, require_matplotlib
from recorder.report.html import render_html, write_report

__all__ = ["ChartsUnavailable", "render_html", "require_matplotlib", "write_report"]
