"""Render `compat.html`: the Markdown report and an explorer of every cell, in
one self-contained page that works from file:// with no network.

The page's static part is compat.md itself, as HTML (`html_markdown`), with
the heat-map in place of its image (`html_svg`). Between the report's header
and its first section sits the explorer: search, filters, a model across all
envs, and every cell with its message, traceback and repro command. Its data
is the document as compat.json has it, packed (`html_data`); its script and
style are the files in `html_assets/`, inlined. No text of the document ever
becomes markup: the report goes through markdown-it with `html=False`, the
packed data is base64, and the script writes only text nodes.
"""

from __future__ import annotations

import html
from importlib import resources

from matrix.report import jsonfile, svg
from matrix.report.html_data import CONFIG_ID, DATA_ID, config, pack, script_json
from matrix.report.html_markdown import Converted, convert
from matrix.report.html_svg import PACKED_ID, Picture
from matrix.results.document import Document

# The page's budget: a full preset (170,820 cells) must open fast anywhere.
PAGE_LIMIT = 5_000_000  # bytes of UTF-8
TITLE = "TensorFlow/Keras compatibility matrix"
# In this order: each defines what the next ones use (plain scripts, no modules).
SCRIPTS = ("decode.js", "search.js", "list.js", "grid.js", "panel.js", "main.js")


def render(
    document: Document,
    markdown_text: str,
    *,
    compat_json: str | None = None,
    heat_map: str | None = None,
) -> str:
    """The page of a document whose Markdown report is `markdown_text`
    (`markdown.render(document)`); its compat.json and heat-map as already
    rendered (`jsonfile.dumps`, `svg.render`), or rendered here."""
    picture = Picture(heat_map if heat_map is not None else svg.render(document))
    report = convert(markdown_text, picture.markup)
    packed = pack(compat_json if compat_json is not None else jsonfile.dumps(document))
    blobs = {DATA_ID: packed, PACKED_ID: picture.packed()}
    data = "".join(
        f'<script type="application/octet-stream" id="{key}">{value}</script>\n'
        for key, value in blobs.items()
        if value is not None
    )
    # The data and the script come right after the explorer: the document
    # inflates while the browser still reads the rest of the report.
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{TITLE}</title><style>{asset('explorer.css')}</style></head>\n<body>\n"
        f'<main id="report">\n{report.head}{_contents(report)}{asset("explorer.html")}'
        f'<script type="application/json" id="{CONFIG_ID}">{script_json(config(document))}'
        f"</script>\n{data}<script>{_script()}</script>\n{report.body}</main>\n</body></html>\n"
    )


def fits(page: str) -> bool:
    """Whether a page keeps to the budget that keeps it fast to open."""
    return len(page.encode("utf-8")) <= PAGE_LIMIT


def asset(name: str) -> str:
    return (resources.files("matrix.report") / "html_assets" / name).read_text("utf-8")


def _script() -> str:
    code = "\n".join(asset(name) for name in SCRIPTS)
    if "</script" in code.lower():  # would end the inline element early
        msg = f"html_assets: expected no '</script' in {', '.join(SCRIPTS)}"
        raise ValueError(msg)
    return code


def _contents(report: Converted) -> str:
    links = [("explorer", "Explore every cell"), *report.sections]
    items = "".join(
        f'<li><a href="#{html.escape(anchor)}">{html.escape(title)}</a></li>'
        for anchor, title in links
    )
    return f'<nav class="contents" aria-label="Contents"><ul>{items}</ul></nav>\n'
