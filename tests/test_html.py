"""compat.html without a browser: what it embeds, what it escapes, how big it gets."""

from __future__ import annotations

import gzip
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from matrix.paths import REPORT_SVG, Layout
from matrix.report import answer, html_data, html_markdown, html_svg, jsonfile, markdown, svg, view
from matrix.report import html as html_report
from matrix.results import document
from matrix.results.document import Document
from matrix.selection.plan import Plan
from matrix.settings import Settings
from matrix.status import SYMBOLS, Status
from tests.test_document import HOSTILE, stored  # noqa: F401 - the fixture

REPORTS = Path(__file__).resolve().parent.parent / "reports"
ATTACK = '<script>alert("x")</script><img src=x onerror="window.pwned=1">'


@pytest.fixture
def doc(stored: tuple[Plan, Layout]) -> Document:  # noqa: F811
    plan, layout = stored
    built = document.build(plan, layout, Settings())
    first = built.cells[0].with_(
        error=HOSTILE + "\x00\x1b[31m\ud800", error_text=f"Traceback:\n  {ATTACK}\n"
    )
    return built.with_(cells=(first, *built.cells[1:]))


def page_of(doc: Document) -> str:
    return html_report.render(doc, markdown.render(doc))


def published(path: Path) -> Document:
    """A published report as `publish` renders it: its upgrade answer made anew
    (a stored one may predate what today's Markdown shows of it)."""
    raw = path.read_bytes()
    found = jsonfile.load_document((gzip.decompress(raw) if path.suffix == ".gz" else raw).decode())
    return found.with_(answers=tuple(answer.answers(found)))


def embedded(page: str, element_id: str) -> str:
    found = re.search(rf'<script type="[^"]+" id="{element_id}">([^<]*)</script>', page)
    assert found, f"no element #{element_id}"
    return found.group(1)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags_of(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


def test_the_page_embeds_every_cell_in_full(doc: Document) -> None:
    page = page_of(doc)
    text = html_data.unpack(embedded(page, html_data.DATA_ID))
    assert text == jsonfile.dumps(doc)
    again = jsonfile.load_document(text)
    assert again.cells == doc.cells and again.causes == doc.causes
    assert any(c.error_text and ATTACK in c.error_text for c in again.cells)


def test_the_config_tells_the_script_the_formats_constants(doc: Document) -> None:
    found = json.loads(embedded(page_of(doc), html_data.CONFIG_ID))
    assert found["format"]["dense"] == list(jsonfile.DENSE)
    assert found["format"]["cell_defaults"] == jsonfile.CELL_DEFAULTS
    assert [s["value"] for s in found["statuses"]] == [s.value for s in Status]
    assert found["labels"] == view.labels(doc)


def test_no_text_of_the_document_becomes_markup(doc: Document) -> None:
    page = page_of(doc)
    scripts = [a for t, a in tags_of(page) if t == "script"]
    # The config, the packed document, the explorer's own code: nothing else.
    assert [a.get("type") for a in scripts] == [
        "application/json",
        "application/octet-stream",
        None,
    ]
    assert not [a for t, a in tags_of(page) if any(k.startswith("on") for k in a)]
    assert not [a for t, a in tags_of(page) if t == "img" and a.get("src") == "x"]
    assert "boom | &lt;script&gt;x&lt;/script&gt;" in page
    assert "<script>x</script>" not in page and 'alert("x")' not in page
    assert "<" not in embedded(page, html_data.CONFIG_ID)


def test_script_json_cannot_end_its_element() -> None:
    text = html_data.script_json({"a": "</script><!-- & \u2028"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"a": "</script><!-- & \u2028"}


def test_markdown_markup_stays_text() -> None:
    converted = html_markdown.convert(
        "# Title\n\n<b>bold</b> [x](javascript:alert(1)) <img src=x onerror=alert(1)>\n\n"
        "| a |\n|---|\n| <script>alert(1)</script> |\n",
        lambda alt: "",
    )
    out = converted.head + converted.body
    assert "<b>" not in out and "<script>" not in out and "<img" not in out
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert 'href="javascript' not in out
    assert '<div class="table"><table>' in out


def test_a_repro_command_links_to_its_cell() -> None:
    converted = html_markdown.convert("# T\n\n`python -m matrix repro a/b/c` and `plain`\n", str)
    assert (
        '<a href="#cell=a/b/c" title="Open this cell in the explorer">'
        "<code>python -m matrix repro a/b/c</code></a> and <code>plain</code>"
    ) in converted.head


def test_headings_get_githubs_ids_and_links_stay_in_the_page() -> None:
    converted = html_markdown.convert(
        "# Top\n\nSee [the answer](compat.md#the-upgrade-answer).\n\n## The upgrade answer\n\n"
        "## Producer × consumer, per format and loader\n\n### ✅ `identical` (5)\n\n"
        "### ✅ `identical` (5)\n",
        lambda alt: "",
    )
    out = converted.head + converted.body
    assert '<a href="#the-upgrade-answer">' in out
    assert '<h2 id="the-upgrade-answer">' in out
    assert '<h2 id="producer--consumer-per-format-and-loader">' in out
    assert '<h3 id="-identical-5">' in out and '<h3 id="-identical-5-1">' in out
    assert html_markdown.slug("⚠️ Silent changes (3)") == "\ufe0f-silent-changes-3"
    assert html_markdown.slug("TF 2.15 (Keras 2) → TF 2.16") == "tf-215-keras-2--tf-216"
    assert converted.sections[0] == ("the-upgrade-answer", "The upgrade answer")
    assert converted.head.startswith('<h1 id="top">') and "<h2" not in converted.head


def test_every_link_into_the_page_has_its_target(doc: Document) -> None:
    page = page_of(doc)
    ids = set(re.findall(r'\sid="([^"]+)"', page))
    links = set(re.findall(r'href="#([^"]*)"', page))
    cells = {link for link in links if link.startswith("cell=")}
    assert "how-this-was-measured" in links or len(links) > 3
    assert links - cells <= ids, links - cells - ids
    # A repro command opens its cell in the explorer.
    assert {link.removeprefix("cell=") for link in cells} <= {c.id for c in doc.cells}


def test_statuses_need_no_emoji_font(doc: Document) -> None:
    """Debian's Chromium has no emoji font: every status symbol of compat.md
    is a badge with a text label, and nothing on the page comes from an
    emoji block."""
    page = page_of(doc)
    emoji = {c for c in page if 0x1F000 <= ord(c) <= 0x1FAFF or 0x2300 <= ord(c) <= 0x27BF}
    assert emoji == set()
    for status in Status:
        shown = html_markdown.badges(f"{SYMBOLS[status]} {status.value}")
        assert shown.startswith(f'<b class="st-{status.value}" title="{status.value}">')
    assert '<b class="st-identical" title="identical">I</b>' in page
    assert len(set(html_markdown.SHORT.values())) == len(Status)


def test_the_heat_map_is_inline_when_small(doc: Document) -> None:
    page = page_of(doc)
    assert '<span class="heat-map" role="img"' in page and "<svg " in page
    assert f'src="{REPORT_SVG}"' not in page
    assert html_data.DATA_ID in page and f'id="{html_svg.PACKED_ID}"' not in page


def test_a_large_heat_map_is_packed_as_an_image(
    doc: Document, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(html_svg, "INLINE_LIMIT", 100)
    page = page_of(doc)
    assert "<svg " not in page
    assert re.search(
        r'<img class="heat-map" alt="[^"]+" data-packed="compat-svg" width="\d+"', page
    )
    assert f'<noscript><img class="heat-map" src="{REPORT_SVG}"' in page
    assert html_data.unpack(embedded(page, html_svg.PACKED_ID)) == svg.render(doc)


def test_only_a_plain_drawing_goes_inline() -> None:
    plain = '<svg xmlns="http://www.w3.org/2000/svg" width="9"><rect x="1"/><text>a</text></svg>'
    assert html_svg.only_drawing(plain)
    for bad in (
        plain.replace("<rect", "<script>alert(1)</script><rect"),
        plain.replace('x="1"', 'onload="alert(1)"'),
        plain.replace("<rect", '<a href="javascript:alert(1)"><rect/></a><rect'),
        plain.replace("<rect", "<foreignObject/><rect"),
        plain.replace('x="1"', 'fill="url(http://example.org/p.svg#p)"'),
        "<svg><unclosed>",
    ):
        assert not html_svg.only_drawing(bad)
        assert not html_svg.Picture(bad).inline


def test_the_page_is_the_same_bytes_every_time(doc: Document) -> None:
    assert page_of(doc) == page_of(doc)


def test_the_size_limit_is_checked() -> None:
    assert html_report.fits("x" * html_report.PAGE_LIMIT)
    assert not html_report.fits("é" * (html_report.PAGE_LIMIT // 2 + 1))  # bytes, not characters


@pytest.mark.skipif(not (REPORTS / "compat.json").exists(), reason="no published report")
def test_the_default_presets_page_fits() -> None:
    report = published(REPORTS / "compat.json")
    page = page_of(report)
    assert html_report.fits(page)
    cells = jsonfile.load_document(html_data.unpack(embedded(page, html_data.DATA_ID))).cells
    assert len(cells) == len(report.cells)


@pytest.mark.skipif(not (REPORTS / "full/compat.json.gz").exists(), reason="no full report")
def test_the_full_presets_page_fits() -> None:
    """170,820 cells: the page must stay under the limit (about 3.4 MB)."""
    page = page_of(published(REPORTS / "full/compat.json.gz"))
    assert html_report.fits(page), f"{len(page.encode('utf-8'))} bytes"
    assert "<svg " not in page  # its 2 MB heat-map is packed, not inline
