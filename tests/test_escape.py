from __future__ import annotations

import xml.etree.ElementTree as ET

from tabulate import tabulate

from matrix.escape import md_cell, plain, xml_text

HOSTILE = (
    "bad | pipe\nnew line `tick` <script>alert(1)</script> \x1b[31mred\x1b[0m "
    "nul\x00 @someone [link](javascript:x) **bold** \\| escaped"
)


def test_md_cell_keeps_one_cell_per_value() -> None:
    table = tabulate([[md_cell(HOSTILE), "x"]], headers=["a", "b"], tablefmt="github")
    body = table.splitlines()[2]
    # Unescaped pipes delimit cells: exactly 3 for 2 columns.
    unescaped = [i for i, ch in enumerate(body) if ch == "|" and body[i - 1] != "\\"]
    assert len(unescaped) == 3
    assert len(table.splitlines()) == 3


def test_md_cell_neutralises_html_code_ansi_and_mentions() -> None:
    cell = md_cell(HOSTILE)
    assert "<script>" not in cell and "&lt;script&gt;" in cell
    assert "\x1b" not in cell and "\x00" not in cell
    assert "`" not in cell.replace("\\`", "")
    assert "@someone" not in cell
    assert "\\[link\\]" in cell


def test_md_cell_truncates_long_text() -> None:
    cell = md_cell("x" * 5000, limit=100)
    assert len(cell) <= 100 and cell.endswith("…")


def test_plain_keeps_text_drops_controls() -> None:
    assert plain("a\x1b[1mb\x07c\r\nd") == "abc\nd"


def test_xml_text_always_parses() -> None:
    element = ET.Element("failure", message=xml_text(HOSTILE + "\ud800\ufffe"))
    element.text = xml_text(HOSTILE)
    parsed = ET.fromstring(ET.tostring(element))
    assert parsed.text is not None and "<script>" in parsed.text
