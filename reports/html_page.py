"""The report's HTML page: the markdown report rendered, tables and figures together.

Every string in the report may come from a record, and a record is data, never markup: raw HTML
in the markdown is shown as text (escaped), and a link or image whose address is not a plain
relative path or an http(s) URL (e.g. `javascript:`) loses its address.
"""
from __future__ import annotations

import html
import re

import markdown
from markdown.treeprocessors import Treeprocessor

STYLE = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; }
th { background: #f3f3f3; }
img { max-width: 100%; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; }
"""
SAFE_ADDRESS = re.compile(r"(https?://[^\s\"'<>]+|[A-Za-z0-9_][A-Za-z0-9_./-]*|#[A-Za-z0-9_-]*)")


class _DropUnsafeAddresses(Treeprocessor):
    def run(self, root):
        for element in root.iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value is not None and not SAFE_ADDRESS.fullmatch(value):
                    del element.attrib[attribute]


def markdown_to_safe_html(text: str) -> str:
    """The markdown as HTML, with raw HTML escaped and unsafe link addresses removed."""
    renderer = markdown.Markdown(extensions=["tables"])
    renderer.preprocessors.deregister("html_block")
    renderer.inlinePatterns.deregister("html")
    renderer.treeprocessors.register(_DropUnsafeAddresses(renderer), "drop_unsafe_addresses", 0)
    return renderer.convert(text)


def html_page(title: str, report_markdown: str) -> str:
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head>\n<body>\n{markdown_to_safe_html(report_markdown)}\n</body></html>\n")
