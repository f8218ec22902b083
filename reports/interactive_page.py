"""The report's HTML page, made to explore: the page html_page.py renders, with a table of contents
beside it and each figure that has an interactive chart shown as that chart (its PNG one click away).

plotly.js is inlined, so the page works offline and from a file, with no network.
"""
from __future__ import annotations

import re

from plotly.offline import get_plotlyjs

from reports.html_page import html_page

STYLE = """
nav.toc { position: fixed; top: 0; left: 0; width: 250px; height: 100vh; overflow-y: auto; padding: 1em;
          box-sizing: border-box; background: #fafafa; border-right: 1px solid #ddd; font-size: 0.85em; }
nav.toc a { display: block; margin: 0.35em 0; color: #235; text-decoration: none; }
nav.toc a:hover { text-decoration: underline; }
body { margin-left: 280px; }
.chart { margin: 1em 0; }
.chart .png { font-size: 0.8em; }
"""
HEADING = re.compile(r"<h2>(.*?)</h2>", re.S)
FIGURE = re.compile(r'<p><img alt="[^"]*" src="([^"]+)" ?/?></p>')


def interactive_page(title: str, report_markdown: str, charts: dict[str, str]) -> str:
    """`charts`: a figure's path as the report links it -> the chart's HTML (interactive_charts.py)."""
    page = html_page(title, report_markdown)
    headings = []

    def anchor(match: re.Match) -> str:
        headings.append(match.group(1))
        return f'<h2 id="section-{len(headings)}">{match.group(1)}</h2>'

    page = HEADING.sub(anchor, page)
    page = FIGURE.sub(lambda m: _chart(m.group(0), m.group(1), charts), page)
    toc = "".join(f'<a href="#section-{n}">{text}</a>' for n, text in enumerate(headings, 1))
    page = page.replace("<body>", f'<body>\n<nav class="toc"><b>Contents</b>{toc}</nav>', 1)
    return page.replace("</head>", f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head>", 1)


def _chart(image: str, path: str, charts: dict[str, str]) -> str:
    if path not in charts:
        return image
    return f'<div class="chart">{charts[path]}<a class="png" href="{path}">PNG for papers</a></div>'
