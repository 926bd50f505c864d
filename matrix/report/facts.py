"""Numbers in prose, from the published data: named facts and the spans that show them.

A count a README or a doc states about the published reports is written
between markers that name the fact:

    the full preset's <!--fact:full.cells-->170,820<!--/fact--> cells

(GitHub shows only the number). `python -m matrix findings` computes every
named fact from the published `compat.json` files and rewrites each span,
and `--check` (run by the tests) fails where a span disagrees with the data
underneath it, or names a fact that does not exist: hand-written numbers
cannot rot silently.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from matrix.report import jsonfile, view
from matrix.results.document import Document

# The published reports, by the name facts use for them.
PUBLISHED = {
    "default": Path("reports/compat.json"),
    "old": Path("reports/old/compat.json"),
    "full": Path("reports/full/compat.json.gz"),
    # Every converter and runtime of ONNX and TF.js on the whole zoo.
    "deploy": Path("reports/deploy/compat.json"),
    # Four Keras 3 minors (3.12-3.15) reading each other's .keras and weights files.
    "keras": Path("reports/keras/compat.json"),
}
SPAN = re.compile(r"<!--fact:(?P<name>[a-z0-9_.:-]+)-->(?P<shown>.*?)<!--/fact-->", re.S)


def read_published(root: Path) -> dict[str, Document]:
    """The published documents there are (a report folder may hold none yet)."""
    found = {}
    for name, path in PUBLISHED.items():
        where = jsonfile.published(root / path)
        if where.exists():
            found[name] = jsonfile.read(where)
    return found


def facts(documents: Mapping[str, Document]) -> dict[str, str]:
    """Every named fact of the published reports, as prose shows it."""
    found: dict[str, str] = {}
    for name, document in documents.items():
        for key, value in _numbers(document).items():
            found[f"{name}.{key}"] = f"{value:,}" if isinstance(value, int) else str(value)
    return found


def _numbers(document: Document) -> dict[str, int | str]:
    statuses = Counter(c.status for c in document.cells)
    causes = Counter(c.known for c in document.cells if c.known)
    check = document.self_check
    numbers: dict[str, int | str] = {
        "cells": len(document.cells),
        "pending": len(document.pending),
        "envs": len(document.envs),
        "consumers": len(document.consumers),
        "producers": len(document.producers),
        "artifacts": len(document.artifacts),
        "causes": len(causes),
        "unexplained": len(view.unexplained(document)),
        "selfcheck.checked": int(check.get("checked", 0)),
        "selfcheck.failing": int(check.get("failing", 0)),
        "selfcheck.suspects": len(check.get("suspects", ())),
        "probe": str(document.run.get("probe_version", "?"))[:8],
        "when": str(document.run.get("when", "?"))[:10],
    }
    numbers.update({f"status.{s}": n for s, n in statuses.items()})
    numbers.update({f"cause.{c}": n for c, n in causes.items()})
    return numbers


@dataclass(frozen=True)
class Mismatch:
    path: Path
    line: int
    name: str
    shown: str
    data: str | None  # None: no such fact

    def __str__(self) -> str:
        if self.data is None:
            return f"{self.path}:{self.line}: no fact named {self.name!r} (shown: {self.shown})"
        return (
            f"{self.path}:{self.line}: {self.name} is {self.data} in the data, shown {self.shown}"
        )


def check(text: str, known: Mapping[str, str], path: Path) -> list[Mismatch]:
    """Every span of `text` that disagrees with the facts."""
    found = []
    for match in SPAN.finditer(text):
        name, shown = match["name"], match["shown"]
        data = known.get(name)
        if data != shown:
            line = text.count("\n", 0, match.start()) + 1
            found.append(Mismatch(path, line, name, shown, data))
    return found


def rewrite(text: str, known: Mapping[str, str]) -> str:
    """`text` with every span showing its fact (an unknown name is left as it is)."""

    def filled(match: re.Match[str]) -> str:
        value = known.get(match["name"], match["shown"])
        return f"<!--fact:{match['name']}-->{value}<!--/fact-->"

    return SPAN.sub(filled, text)


def span(name: str, known: Mapping[str, str]) -> str:
    """A fact as a generated document writes it: the number in its markers."""
    return f"<!--fact:{name}-->{known[name]}<!--/fact-->"
