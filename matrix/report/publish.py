"""Publish: the document, its renderings, and what a run tells CI.

Builds `compat.json` from the stored results, adds the changes since a
baseline and the upgrade advice when asked, writes it with `compat.md`,
`compat.html` and `junit.xml` (atomically), appends the run to the history
file, writes a size-capped copy for a CI job summary, and returns the exit
code: 1 when a baseline shows regressions, else 0.
"""

from __future__ import annotations

import datetime
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
    Layout,
)
from matrix.report import advice, answer, changes
from matrix.report.document import Document
from matrix.selection.plan import Plan
from matrix.settings import ReportOptions, Settings

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


def publish(plan: Plan, settings: Settings, layout: Layout, extras: Extras) -> tuple[Document, int]:
    from matrix.report import document as builder
    from matrix.report import html, jsonfile, junit, markdown, svg

    document = builder.build(plan, layout, settings)
    document = document.with_(answers=tuple(answer.answers(document)))
    if extras.baseline is not None:
        found = changes.changes(extras.baseline, document, extras.options.fail_on)
        document = document.with_(changes=found)
    if extras.options.upgrade is not None:
        document = document.with_(advice=advice.advise(document, *extras.options.upgrade))
    text = markdown.render(document)
    files.write_atomic(settings.reports / REPORT_JSON, jsonfile.dumps(document))
    files.write_atomic(settings.reports / REPORT_MD, text)
    files.write_atomic(settings.reports / REPORT_HTML, html.render(document))
    files.write_atomic(settings.reports / REPORT_SVG, svg.render(document))
    files.write_atomic(settings.reports / REPORT_JUNIT, junit.render(document))
    if extras.options.history:
        files.append_line(settings.reports / HISTORY, history_line(document))
    if extras.options.step_summary is not None:
        with extras.options.step_summary.open("a", encoding="utf-8") as summary:
            summary.write(markdown.truncate(text, STEP_SUMMARY_LIMIT))
    regressions = (document.changes or {}).get("regressions", 0)
    return document, 1 if regressions else 0


def history_line(document: Document) -> JsonObject:
    """One line per run, for trends: when, which versions, counts per status."""
    return {
        "when": document.run["when"],
        "recorded": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tool_version": document.run["tool_version"],
        "envs": {
            env["id"]: {k: env.get(k) for k in ("python", "tensorflow", "keras", "status")}
            for env in document.envs
        },
        "cells": len(document.cells),
        "pending": len(document.pending),
        "summary": document.summary,
        "regressions": (document.changes or {}).get("regressions"),
    }


def report_paths(settings: Settings) -> list[Path]:
    names = (REPORT_MD, REPORT_JSON, REPORT_HTML, REPORT_SVG, REPORT_JUNIT)
    return [settings.reports / name for name in names]
