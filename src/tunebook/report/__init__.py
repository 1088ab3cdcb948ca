"""Renderers: analysis data → self-contained HTML, PNG files, Markdown/CSV tables."""

from tunebook.report.html import render_html, write_report
from tunebook.report.tables import tracking_csv, tracking_markdown

__all__ = ["render_html", "tracking_csv", "tracking_markdown", "write_report"]
