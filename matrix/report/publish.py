"""Publish: the document, its renderings, and what a run tells CI.

Takes the document built from the stored results, adds the upgrade answer,
the changes since a baseline and the upgrade advice when asked, writes it as
`compat.json` with `compat.md`, `compat.html` and `junit.xml` (atomically),
appends the run to the history files (a line per run; per cell, its
status at each change: report/history.py), writes a size-capped copy for a CI job
summary, and returns the exit code: 1 when a baseline shows regressions,
else 0.
"""

from __future__ import annotations

import datetime
import gzip
from dataclasses import dataclass, field
from pathlib import Path

from matrix import files
from matrix.files import JsonObject
from matrix.paths import (
    HISTORY,
    REPORT_HTML,
    REPORT_JSON,
    REPORT_JUNIT,
    REPORT_MD,
    REPORT_SVG,
)
from matrix.report import advice, answer, changes, history, readers
from matrix.results.document import Document
from matrix.settings import ReportOptions

STEP_SUMMARY_LIMIT = 1_000_000  # GitHub refuses job summaries over 1 MiB


@dataclass(frozen=True)
class Extras:
    """The report options with the baseline read: done before a run starts,
    so a broken baseline stops it before any env does."""

    options: ReportOptions = field(default_factory=ReportOptions)
    baseline: Document | None = None

    @classmethod
    def read(cls, options: ReportOptions) -> Extras:
        baseline = changes.read_baseline(options.baseline) if options.baseline else None
        return cls(options, baseline)


def publish(document: Document, reports: Path, extras: Extras) -> tuple[Document, int]:
    """Write every rendering of the document into `reports`; the document as
    published, and the exit code (1: the baseline shows regressions)."""
    from matrix.report import html, jsonfile, junit, markdown, svg

    document = document.with_(causes=_with_bisections(document))
    document = readers.with_readers(document.with_(answers=tuple(answer.answers(document))))
    if extras.baseline is not None:
        found = changes.changes(extras.baseline, document, extras.options.fail_on)
        document = document.with_(changes=found)
    if extras.options.upgrade is not None:
        document = document.with_(advice=advice.advise(document, *extras.options.upgrade))
    kept = None
    if extras.options.history:
        kept = history.read(reports / history.CELLS_HISTORY)
        found = history.since(kept, document)
        kept = history.add(kept, document)
        seen = history.causes_seen(kept)
        document = document.with_(history={"since_last": found, "causes_seen": dict(seen)})
        document = document.with_(causes=_with_seen(document))
    text = markdown.render(document)
    compat_json, heat_map = jsonfile.dumps(document), svg.render(document)
    _write_json(reports, compat_json)
    files.write_atomic(reports / REPORT_MD, text)
    page = html.render(document, text, compat_json=compat_json, heat_map=heat_map)
    files.write_atomic(reports / REPORT_HTML, page)
    files.write_atomic(reports / REPORT_SVG, heat_map)
    files.write_atomic(reports / REPORT_JUNIT, junit.render(document))
    if kept is not None:
        files.append_line(reports / HISTORY, history_line(document))
        history.write(kept, reports / history.CELLS_HISTORY)
    if extras.options.step_summary is not None:
        with extras.options.step_summary.open("a", encoding="utf-8") as summary:
            summary.write(markdown.truncate(text, STEP_SUMMARY_LIMIT))
    regressions = (document.changes or {}).get("regressions", 0)
    return document, 1 if regressions else 0


def _with_bisections(document: Document) -> dict[str, JsonObject]:
    """Each cause with the patch releases `bisect --record` found for it
    ("fails when saved with keras 3.11.0 or newer (3.10.0 works)")."""
    from matrix import bisect

    recorded = bisect.by_cause()
    return {
        cause_id: {
            **cause,
            **(
                {"bisected": [{k: b[k] for k in ("words", "package", "first", "last", "kind",
                                                 "side")} for b in recorded[cause_id]]}
                if cause_id in recorded
                else {}
            ),
        }
        for cause_id, cause in document.causes.items()
    }  # fmt: skip


def _with_seen(document: Document) -> dict[str, JsonObject]:
    """Each cause with when the history first and last saw it explain a cell."""
    seen = (document.history or {}).get("causes_seen") or {}
    return {k: {**cause, **seen.get(k, {})} for k, cause in document.causes.items()}


# A file a repository can track: a larger compat.json is written gzipped.
LARGEST_JSON = 5_000_000


def _write_json(reports: Path, text: str) -> None:
    """compat.json, or compat.json.gz when it would pass LARGEST_JSON (the
    full preset's is about 17 MB, 1.2 MB gzipped); every reader takes both."""
    data = text.encode("utf-8")
    plain, packed = reports / REPORT_JSON, reports / f"{REPORT_JSON}.gz"
    if len(data) <= LARGEST_JSON:
        files.write_atomic(plain, text)
        packed.unlink(missing_ok=True)
        return
    files.write_bytes_atomic(packed, gzip.compress(data, mtime=0))
    plain.unlink(missing_ok=True)


def history_line(document: Document) -> JsonObject:
    """One line per run, for trends: when, which versions, counts per status."""
    return {
        "when": document.run["when"],
        "recorded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tool_version": document.run["tool_version"],
        "envs": {
            state.id: {
                "python": state.python,
                "tensorflow": state.tensorflow,
                "keras": state.keras,
                "status": state.status,
            }
            for state in document.envs
        },
        "cells": len(document.cells),
        "pending": len(document.pending),
        "summary": document.summary,
        "regressions": (document.changes or {}).get("regressions"),
    }


def report_paths(reports: Path) -> list[Path]:
    names = (REPORT_MD, REPORT_JSON, REPORT_HTML, REPORT_SVG, REPORT_JUNIT)
    return [reports / name for name in names]
