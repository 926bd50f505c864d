"""JUnit, HTML and the capped job summary, from the stored run of test_document."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

import pytest

from matrix.config import Settings
from matrix.paths import Layout
from matrix.plan import Plan
from matrix.report import document, junit, markdown
from matrix.report import html as html_report
from tests.test_document import HOSTILE, stored  # noqa: F401 - the fixture

Stored = tuple[Plan, Layout]


@pytest.fixture
def doc(stored: Stored) -> dict[str, Any]:  # noqa: F811
    plan, layout = stored
    built = document.build(plan, layout, Settings())
    built["cells"][0]["error"] = HOSTILE + "\x00\x1b[31m\ud800"
    return built


def test_junit_has_one_testcase_per_cell_and_always_parses(doc: dict[str, Any]) -> None:
    root = ET.fromstring(junit.render(doc).encode("utf-8"))
    cases = root.findall(".//testcase")
    assert len(cases) == len(doc["cells"])
    kinds = [[child.tag for child in case] for case in cases]
    assert ["failure"] in kinds  # drift, nan
    assert ["error"] in kinds  # load-error, crash
    assert ["skipped"] in kinds  # not-applicable
    assert [] in kinds  # identical
    assert int(root.get("tests", "0")) == len(cases)
    assert int(root.get("failures", "0")) == sum(
        c["status"] in ("drift", "nan") for c in doc["cells"]
    )


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_html_is_self_contained_and_escaped(doc: dict[str, Any]) -> None:
    page = html_report.render(doc)
    assert "<script" not in page.lower() and "http://" not in page and "https://" not in page
    assert "&lt;script&gt;" in page
    collector = _Collector()
    collector.feed(page)
    heat = [a for t, a in collector.tags if t == "table" and a.get("class") == "heat"]
    assert {(t["data-format"], t["data-loader"]) for t in heat} >= {("h5", "keras")}
    cells = [a for t, a in collector.tags if t == "td" and a.get("data-statuses")]
    assert any("identical" in (a["data-statuses"] or "") for a in cells)


def test_summary_is_capped_with_a_visible_marker(doc: dict[str, Any]) -> None:
    text = markdown.render(doc) * 50
    capped = markdown.truncate(text, 10_000)
    assert len(capped.encode("utf-8")) <= 10_000
    assert capped.endswith(markdown.TRUNCATED)
    assert markdown.truncate("short\n", 10_000) == "short\n"
