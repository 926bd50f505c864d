"""publish(): every report file from one document, and the exit code CI reads."""

from __future__ import annotations

import json

from matrix.paths import REPORT_HTML, REPORT_JSON, REPORT_JUNIT, REPORT_MD, REPORT_SVG, Layout
from matrix.report import jsonfile
from matrix.report.publish import Extras, publish, report_paths
from matrix.results import document as builder
from matrix.results.document import Document
from matrix.selection.plan import Plan
from matrix.settings import ReportOptions, Settings
from tests.conftest import assert_valid_report
from tests.test_document import stored  # noqa: F401 - the fixture


def document_of(plan: Plan, layout: Layout) -> Document:
    return builder.build(plan, layout, Settings())


def test_every_report_is_written_and_the_history_grows(
    stored: tuple[Plan, Layout],  # noqa: F811
) -> None:
    plan, layout = stored
    settings = Settings(reports=layout.output / "reports")
    document, code = publish(document_of(plan, layout), settings.reports, Extras())
    assert code == 0
    names = {p.name for p in report_paths(settings.reports)}
    assert names == {REPORT_MD, REPORT_JSON, REPORT_HTML, REPORT_SVG, REPORT_JUNIT}
    assert all(p.is_file() and p.stat().st_size for p in report_paths(settings.reports))
    assert_valid_report(settings.reports / REPORT_JSON)
    written = jsonfile.load_document((settings.reports / REPORT_JSON).read_text("utf-8"))
    assert written.cells == document.cells
    publish(document_of(plan, layout), settings.reports, Extras())
    history = (settings.reports / "history.jsonl").read_text("utf-8").splitlines()
    assert len(history) == 2 and json.loads(history[0])["cells"] == len(document.cells)


def test_a_baseline_with_regressions_fails_the_run(
    stored: tuple[Plan, Layout],  # noqa: F811
) -> None:
    plan, layout = stored
    settings = Settings(reports=layout.output / "reports")
    extras = Extras(ReportOptions(history=False))
    document, _ = publish(document_of(plan, layout), settings.reports, extras)
    # The baseline saw every failing cell pass: each failure now is a regression.
    passing = tuple(c.with_(status="identical") for c in document.cells)
    baseline = layout.output / "baseline.json"
    baseline.write_text(jsonfile.dumps(document.with_(cells=passing)), encoding="utf-8")
    extras = Extras.read(ReportOptions(baseline=baseline, history=False))
    changed, code = publish(document_of(plan, layout), settings.reports, extras)
    assert code == 1
    assert changed.changes is not None and changed.changes["regressions"] > 0
    assert "## Changes since" in (settings.reports / REPORT_MD).read_text("utf-8")
    assert not (settings.reports / "history.jsonl").exists()
