"""The report for people: one self-contained HTML file (inline CSS and SVG, no scripts, no
external resources: readable offline, attachable to a ticket) and a Markdown version of the
same tables, both rendered from the JSON report and nothing else.
"""

from taxmeter.replay.render.markdown import render_markdown
from taxmeter.replay.render.page import render_html

__all__ = ["render_html", "render_markdown"]
