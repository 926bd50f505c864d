"""compat.md as HTML: the static part of compat.html, the Markdown report itself.

markdown-it (CommonMark and GFM tables) with `html=False`, so no text of the
report ever becomes markup: exception messages can hold `<script>`. Headings
get GitHub's ids, so a link to `compat.md#the-upgrade-answer` works as
`#the-upgrade-answer`; a repro command opens its cell in the explorer. The
status symbols become badges with a text label: Debian's Chromium has no
emoji font, and no status may be told by colour alone.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any
from urllib.parse import quote

from markdown_it import MarkdownIt
from markdown_it.token import Token

from matrix.paths import REPORT_MD, REPORT_SVG
from matrix.report import view
from matrix.status import SYMBOLS, Status

# Each status's short text label in a badge; the badge's title is its word.
# The letters of the measured outcomes are the heat-map's (svg.LETTERS).
SHORT: dict[Status, str] = {
    Status.IDENTICAL: "I",
    Status.CLOSE: "C",
    Status.DRIFT: "D",
    Status.NAN: "N",
    Status.LOAD_ERROR: "L",
    Status.PREDICT_ERROR: "P",
    Status.CRASH: "X",
    Status.TIMEOUT: "T",
    Status.NOT_APPLICABLE: "–",
    Status.NO_ARTIFACT: "S",
    Status.ENV_ERROR: "E",
    Status.UNAVAILABLE: "U",
}
# The marks compat.md counts beside the statuses (view's `*_MARK`): their
# badge's title and text. A mark added there later gets its name's initial.
_MARK_WORDS = {
    "SILENT": ("silent change", "s"),
    "INFERENCE": ("loads with compile=False", "c"),
    "DESIGN": ("made to fail", "d"),
}


def _marks() -> dict[str, tuple[str, str, str]]:
    """Symbol -> (css class, title, text) for every symbol compat.md writes."""
    found = {symbol: (f"st-{s.value}", s.value, SHORT[s]) for s, symbol in SYMBOLS.items()}
    for name, symbol in vars(view).items():
        if name.endswith("_MARK") and isinstance(symbol, str):
            kind = name.removesuffix("_MARK")
            title, text = _MARK_WORDS.get(kind, (kind.lower().replace("_", " "), kind[0].lower()))
            found[symbol] = ("mark", title, text)
    found["❗"] = ("mark", "regression", "!")
    return found


MARKS = _marks()
_VARIATION = "\ufe0f"  # emoji presentation selector: part of the symbol, or left after it
_SYMBOL = re.compile(
    "(" + "|".join(re.escape(s.rstrip(_VARIATION)) for s in sorted(MARKS, key=len, reverse=True))
    + ")" + _VARIATION + "?"
)  # fmt: skip
_BY_BASE = {symbol.rstrip(_VARIATION): mark for symbol, mark in MARKS.items()}

REPRO = "python -m matrix repro "  # how compat.md names a cell to reproduce
Figure = Callable[[str], str]  # the image's alt text -> the markup in its place


@dataclass(frozen=True)
class Converted:
    """The report as HTML, cut before its first section so the explorer can
    sit between its header and the rest, with its sections' ids and titles."""

    head: str
    body: str
    sections: tuple[tuple[str, str], ...]  # (id, title) of each level-2 heading


def convert(markdown_text: str, figure: Figure) -> Converted:
    parser = _parser(figure)
    env: dict[str, Any] = {}
    tokens = parser.parse(markdown_text, env)
    sections = tuple(_name_headings(tokens))
    _local_links(tokens)
    cut = next(
        (i for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h2"),
        len(tokens),
    )
    render = parser.renderer.render
    return Converted(
        render(tokens[:cut], parser.options, env),
        render(tokens[cut:], parser.options, env),
        sections,
    )


def slug(text: str) -> str:
    """GitHub's heading id (github-slugger): lower case; letters, marks,
    digits, "_", "-" and spaces kept, the rest dropped; spaces as hyphens.
    "TF 2.15 → TF 2.16" gives "tf-215--tf-216", and "⚠️ Silent"
    keeps the emoji's variation selector (a mark), as GitHub does."""
    kept = (c for c in text.lower() if c in "-_ " or unicodedata.category(c)[0] in "LMN")
    return "".join(kept).replace(" ", "-")


def badges(text: str) -> str:
    """Escaped text with each status symbol as a badge."""
    return _SYMBOL.sub(_badge, html.escape(text, quote=False))


def _badge(found: re.Match[str]) -> str:
    css, title, label = _BY_BASE[found.group(1)]
    return f'<b class="{css}" title="{html.escape(title)}">{html.escape(label)}</b>'


def _parser(figure: Figure) -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    parser.add_render_rule(
        "text", lambda self, tokens, idx, options, env: badges(tokens[idx].content)
    )
    parser.add_render_rule("image", _image(figure))
    parser.add_render_rule("code_inline", _code)
    # A wrapper lets a wide table scroll on its own and be skipped by layout
    # while off screen (content-visibility does not apply to table boxes).
    parser.add_render_rule(
        "table_open", lambda self, tokens, idx, options, env: '<div class="table"><table>\n'
    )
    parser.add_render_rule(
        "table_close", lambda self, tokens, idx, options, env: "</table></div>\n"
    )
    return parser


def _image(figure: Figure) -> Callable[..., str]:
    def render(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        if token.attrGet("src") == REPORT_SVG:
            return figure(token.content)
        return str(self.image(tokens, idx, options, env))

    return render


def _code(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    """A repro command links to its cell in the explorer (`#cell=<id>`)."""
    code = str(self.code_inline(tokens, idx, options, env))
    command = tokens[idx].content
    if not command.startswith(REPRO):
        return code
    target = "#cell=" + quote(command.removeprefix(REPRO), safe="/:")
    return f'<a href="{html.escape(target)}" title="Open this cell in the explorer">{code}</a>'


def _name_headings(tokens: Sequence[Token]) -> list[tuple[str, str]]:
    """Give every heading GitHub's id (repeats numbered -1, -2, ...); the
    level-2 ones, for the page's contents."""
    seen: dict[str, int] = {}
    sections = []
    for opening, inline in pairwise(tokens):
        if opening.type != "heading_open":
            continue
        title = "".join(child.content for child in inline.children or ())
        base = slug(title)
        count = seen.get(base, 0)
        seen[base] = count + 1
        anchor = f"{base}-{count}" if count else base
        opening.attrSet("id", anchor)
        if opening.tag == "h2":
            sections.append((anchor, _SYMBOL.sub("", title).strip()))
    return sections


def _local_links(tokens: Sequence[Token]) -> None:
    """Links into compat.md point into this page."""
    for token in tokens:
        for child in token.children or ():
            href = child.attrGet("href") if child.type == "link_open" else None
            if isinstance(href, str) and href.startswith(REPORT_MD + "#"):
                child.attrSet("href", href.removeprefix(REPORT_MD))
