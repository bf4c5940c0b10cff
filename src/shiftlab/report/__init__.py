"""Reports of benchmark runs: aggregated tables, statistics, HTML and table exports."""

from shiftlab.report.html import render_html, table_to_latex, table_to_markdown, write_report

__all__ = ["render_html", "table_to_latex", "table_to_markdown", "write_report"]
