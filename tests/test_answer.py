"""The answer: first in every report, in plain words, right counts, what to pin,
and the same ways out whichever published report a reader opens."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from matrix.report import answer, facts, markdown
from matrix.report.advice import advise
from matrix.results.document import Document
from tests.test_advice import LEGACY, NEW, OLD, cell

ROOT = Path(__file__).resolve().parent.parent
FREEZE = {
    NEW: ["tensorflow-cpu==2.21.0", "keras==3.15.1", "numpy==2.4.6"],
    LEGACY: [
        "tensorflow-cpu==2.21.0",
        "tensorflow==2.21.0",
        "keras==3.15.1",
        "tf-keras==2.21.0",
        "numpy==2.4.6",
    ],
}


def _document(cells: list[dict[str, Any]], models: tuple[str, ...] = ("mlp",)) -> Document:
    formats = ["h5", "keras"]
    own = [
        {**cell(OLD, f, "keras", "identical", model=m), "consumer": OLD}
        for m in models
        for f in formats
    ]
    return Document.from_dict(
        {
            "envs": [
                {"id": e, "status": "ok", "freeze": FREEZE.get(e, [])} for e in (OLD, NEW, LEGACY)
            ],
            "producers": [OLD, NEW, LEGACY],
            "run": {
                "selection": {
                    "formats": formats,
                    "loaders": ["keras"],
                    "models": [],
                    "policies": [],
                },
                "when": "now",
                "host": "h",
                "platform": "p",
                "tool_version": "0",
                "probe_version": "0",
                "tolerances": {},
            },
            "artifacts": [
                {"producer": OLD, "model": m, "policy": "float32", "format": f}
                for m in models
                for f in formats
            ],
            "cells": own + cells,
            "causes": {
                "zoo-unregistered": {
                    "kind": "by-design",
                    "title": "made to fail",
                    "cause": "c",
                    "way_out": "w",
                    "links": ["https://example.org/1"],
                }
            },
        }
    )


@pytest.fixture
def published() -> Document:
    doc = _document(
        [
            cell(NEW, "h5", "keras", "identical"),
            cell(NEW, "keras", "keras", "load-error"),
            cell(LEGACY, "keras", "keras", "close"),
            {
                **cell(NEW, "h5", "keras", "load-error", model="unregistered"),
                "known": "zoo-unregistered",
            },
            cell(NEW, "keras", "keras", "load-error", model="unregistered"),
        ],
        models=("mlp", "unregistered"),
    )
    return doc.with_(answers=tuple(answer.answers(doc)))


def test_the_report_opens_with_the_answer(published: Document) -> None:
    text = markdown.render(published)
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert sections[0] == "## The answer"
    assert text.index("## The answer") < text.index("compat.svg")  # before any picture
    answer_text = text.split("## The answer", 1)[1].split("\n## ", 1)[0]
    assert "What to pin:" in answer_text


def test_counts_read_right_and_a_model_made_to_fail_is_apart(published: Document) -> None:
    (path,) = [a for a in published.answers if (a["from"], a["to"]) == ("2.15", "2.21")]
    # The unregistered model is not among the models counted.
    assert path["formats"]["h5"] == {**path["formats"]["h5"], "models": 1, "work": 1}
    assert path["formats"]["keras"]["way_out"] == 1
    assert {r["model"] for r in path["by_design"]} == {"unregistered"}
    assert all(r["model"] != "unregistered" for r in path["breaking"])
    text = markdown.render(published)
    assert "✅ 0" not in text and "0/1" not in text  # no tick on zero
    assert "all 1 work" in text and "0 of 1 work · 1 with a way out" in text
    assert "Made to fail, not counted: unregistered" in text


def test_the_best_way_out_and_what_to_pin(published: Document) -> None:
    (path,) = [a for a in published.answers if (a["from"], a["to"]) == ("2.15", "2.21")]
    best = path["formats"]["keras"]["best"]
    assert best["kind"] == "tf-keras" and best["works_for"] == 1
    assert best["keeps"] == "everything" and best["costs"]
    pins = {p["role"]: p for p in path["pins"]}
    assert pins["default"]["install"] == ["tensorflow==2.21.0", "keras==3.15.1"]
    assert pins["way out"]["install"] == ["tensorflow==2.21.0", "tf-keras==2.21.0"]
    assert pins["way out"]["environment"] == {"TF_USE_LEGACY_KERAS": "1"}
    text = markdown.render(published)
    assert 'pip install "tensorflow==2.21.0" "tf-keras==2.21.0"\nexport TF_USE_LEGACY_KERAS=1' in (
        text
    )


def test_ways_out_not_measured_here_are_named(published: Document) -> None:
    without = published.with_(envs=tuple(s for s in published.envs if s.id != LEGACY))
    found = answer.answers(without)
    (path,) = [a for a in found if (a["from"], a["to"]) == ("2.15", "2.21")]
    assert path["unmeasured"] == [LEGACY]
    text = markdown.render(without.with_(answers=tuple(found)))
    assert f"Not measured in this selection, so not offered as ways out: `{LEGACY}`" in text
    assert "python -m matrix run --from 2.15 --to 2.21" in text


def _ways(document: Document) -> dict[tuple[str, ...], dict[tuple[str, ...], str]]:
    """Per upgrade row, each way out and the cell that measured it."""
    found: dict[tuple[str, ...], dict[tuple[str, ...], str]] = {}
    envs = {state.id: state.env for state in document.envs}
    for old, new in answer.main_paths(envs):
        for row in advise(document, old, new)["rows"]:
            key = (old, new, row["producer"], row["model"], row["policy"], row["format"])
            found[key] = {
                (
                    row["producer"],
                    w["consumer"],
                    row["model"],
                    row["policy"],
                    w["format"],
                    w["loader"],
                ): str(w["kind"])
                for w in row["alternatives"]
            }
    return found


def test_published_reports_agree_on_the_ways_out() -> None:
    """An upgrade row two published reports both answer offers the same ways
    out wherever both measured the same cells: the advice never depends on
    which report a reader opened."""
    documents = facts.read_published(ROOT)
    if len(documents) < 2:
        pytest.skip("fewer than two published reports")
    ways = {name: _ways(doc) for name, doc in documents.items()}
    cells = {name: {c.key for c in doc.cells} for name, doc in documents.items()}
    compared = 0
    for a, b in itertools.combinations(documents, 2):
        for row in ways[a].keys() & ways[b].keys():
            shared = cells[a] & cells[b]
            mine = {k: v for k, v in ways[a][row].items() if k in shared}
            theirs = {k: v for k, v in ways[b][row].items() if k in shared}
            assert mine == theirs, f"{a} and {b} disagree on {row}"
            compared += 1
    assert compared > 0
