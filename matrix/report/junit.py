"""Render `junit.xml`: one testcase per cell, for CI dashboards.

drift and nan are failures (an assertion about outputs); load-error,
predict-error, crash, timeout, no-artifact and env-error are errors;
not-applicable and unavailable are skipped. Every piece of text goes through
`xml_text`, so the document parses whatever the messages contained.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict

from matrix.report.document import Document
from matrix.report.escape import shorten, xml_text
from matrix.results.cells import Cell
from matrix.status import Status

_FAILURES = Status.values(lambda s: s.junit == "failure")
_ERRORS = Status.values(lambda s: s.junit == "error")
_SKIPPED = Status.values(lambda s: s.junit == "skipped")


def render(document: Document) -> str:
    by_producer: dict[str, list[Cell]] = defaultdict(list)
    for cell in document.cells:
        by_producer[cell.producer].append(cell)
    root = ET.Element("testsuites", {"name": "tf-compat-matrix", **_counts(list(document.cells))})
    for producer, cells in by_producer.items():
        suite = ET.SubElement(
            root,
            "testsuite",
            {
                "name": xml_text(f"compat.{producer}"),
                "timestamp": xml_text(document.run["when"]),
                "hostname": xml_text(document.run["host"]),
                **_counts(cells),
            },
        )
        for cell in cells:
            _testcase(suite, cell)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _counts(cells: list[Cell]) -> dict[str, str]:
    statuses = [c.status for c in cells]
    seconds = sum(c.seconds or 0.0 for c in cells)
    return {
        "tests": str(len(statuses)),
        "failures": str(sum(s in _FAILURES for s in statuses)),
        "errors": str(sum(s in _ERRORS for s in statuses)),
        "skipped": str(sum(s in _SKIPPED for s in statuses)),
        "time": f"{seconds:.3f}",
    }


def _testcase(suite: ET.Element, cell: Cell) -> None:
    name = f"{cell.model}-{cell.policy}.{cell.format} [{cell.loader}] @ {cell.consumer}"
    case = ET.SubElement(
        suite,
        "testcase",
        classname=xml_text(f"compat.{cell.producer}"),
        name=xml_text(name),
        time=f"{cell.seconds or 0.0:.3f}",
    )
    status = cell.status
    message = xml_text(shorten(str(cell.error or cell.reason or status), 500))
    if status in _FAILURES:
        element = ET.SubElement(case, "failure", message=message, type=status)
        element.text = xml_text(
            f"max abs {cell.max_abs}, max rel {cell.max_rel}, max ULP {cell.max_ulp}"
        )
    elif status in _ERRORS:
        element = ET.SubElement(
            case, "error", message=message, type=xml_text(cell.error_type or status)
        )
        element.text = xml_text(cell.error_text or cell.error or status)
    elif status in _SKIPPED:
        ET.SubElement(case, "skipped", message=message)
