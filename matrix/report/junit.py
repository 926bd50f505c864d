"""Render `junit.xml`: one testcase per cell, for CI dashboards.

drift and nan are failures (an assertion about outputs); load-error,
predict-error, crash, timeout, no-artifact and env-error are errors;
not-applicable and unavailable are skipped. Every piece of text goes through
`xml_text`, so the document parses whatever the messages contained.

A failing cell with a known cause carries that cause (id, title, upstream
link) and its error's last line; the whole traceback is kept for cells
nobody has explained, the ones a CI reader must open. Every traceback
stays in `compat.json`. (With every traceback the full preset's file was
238 MB, more than CI dashboards read.)
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from matrix.escape import shorten, xml_text
from matrix.results.cells import Cell
from matrix.results.document import Document
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
            _testcase(suite, cell, document.causes.get(cell.known or ""))
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


def _testcase(suite: ET.Element, cell: Cell, cause: Mapping[str, Any] | None) -> None:
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
    explained = _explained(cell.known, cause)
    if status in _FAILURES:
        element = ET.SubElement(case, "failure", message=message, type=status)
        element.text = xml_text(
            f"max abs {cell.max_abs}, max rel {cell.max_rel}, max ULP {cell.max_ulp}"
            + (f"\n{explained}" if explained else "")
        )
    elif status in _ERRORS:
        element = ET.SubElement(
            case, "error", message=message, type=xml_text(cell.error_type or status)
        )
        if explained:
            last = shorten(_last_line(cell.error_text or cell.error or status), 300)
            element.text = xml_text(f"{last}\n{explained}")
        else:
            element.text = xml_text(cell.error_text or cell.error or status)
    elif status in _SKIPPED:
        ET.SubElement(case, "skipped", message=message)


def _explained(known: str | None, cause: Mapping[str, Any] | None) -> str | None:
    if known is None:
        return None
    title = (cause or {}).get("title")
    links = (cause or {}).get("links") or []
    return (
        f"known cause {known}"
        + (f": {title}" if title else "")
        + (f" ({links[0]})" if links else "")
        + "; its way out and the whole traceback: compat.md, compat.json"
    )


def _last_line(text: str) -> str:
    """The exception line a traceback ends with."""
    lines = [line for line in str(text).splitlines() if line.strip()]
    return lines[-1] if lines else str(text)
