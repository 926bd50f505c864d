from __future__ import annotations

from typing import Any

from matrix.report.advice import advise
from matrix.results.document import Document

OLD = "tf2.15-keras2-py3.11-cpu"
NEW = "tf2.21-keras3-py3.11-cpu"
LEGACY = "tf2.21-tf-keras-py3.11-cpu"


def cell(consumer: str, fmt: str, loader: str, status: str, model: str = "mlp") -> dict[str, Any]:
    return {
        "producer": OLD,
        "consumer": consumer,
        "model": model,
        "policy": "float32",
        "format": fmt,
        "loader": loader,
        "status": status,
        "error": f"{status}!",
    }


def document(cells: list[dict[str, Any]]) -> Document:
    formats = ["h5", "keras", "savedmodel"]
    return Document.from_dict(
        {
            "envs": [{"id": OLD}, {"id": NEW}, {"id": LEGACY}],
            "producers": [OLD, NEW, LEGACY],
            "run": {"selection": {"formats": formats}},
            "artifacts": [
                {"producer": OLD, "model": "mlp", "policy": "float32", "format": f} for f in formats
            ],
            "cells": cells,
        }
    )


def test_every_way_out_comes_from_a_measured_cell() -> None:
    found = advise(
        document(
            [
                cell(NEW, "h5", "keras", "identical"),
                cell(NEW, "keras", "keras", "load-error"),
                cell(LEGACY, "keras", "keras", "close"),
                cell(NEW, "savedmodel", "keras", "load-error"),
                cell(NEW, "savedmodel", "saved-model", "identical"),
                cell(NEW, "savedmodel", "tfsm-layer", "drift"),
            ]
        ),
        "2.15",
        "2.21",
    )
    assert found["from_envs"] == [OLD] and found["to_env"] == NEW
    rows = {r["format"]: r for r in found["rows"]}
    assert rows["h5"]["works"] and rows["h5"]["alternatives"] == []
    # Cheapest first: tf-keras keeps the whole model with one package more;
    # re-saving needs the old TensorFlow once more.
    keras_ways = rows["keras"]["alternatives"]
    assert [w["kind"] for w in keras_ways] == ["tf-keras", "resave"]
    assert keras_ways[0]["how"] == "install tf-keras and set `TF_USE_LEGACY_KERAS=1`"
    assert keras_ways[1]["how"] == "re-save it as h5 in TF 2.15"
    assert "needs TF 2.15 once more" in keras_ways[1]["costs"][0]
    assert keras_ways[0]["consumer"] == LEGACY and keras_ways[0]["status"] == "close"
    # The SavedModel's TFSMLayer cell drifted: not a way out.
    served = rows["savedmodel"]["alternatives"]
    assert [w["kind"] for w in served] == ["resave", "saved-model"]
    assert served[1]["keeps"] == "inference only"
    assert found["summary"] == {
        "works": 1, "breaks_with_a_way_out": 2, "breaks": 0, "by_design": 0,
    }  # fmt: skip


def test_a_model_made_to_fail_is_never_a_break() -> None:
    unregistered = {**cell(NEW, "h5", "keras", "load-error", model="unregistered"),
                    "known": "zoo-unregistered"}  # fmt: skip
    doc = document([unregistered]).with_(
        causes={"zoo-unregistered": {"kind": "by-design", "title": "made to fail"}}
    )
    doc = doc.with_(artifacts=(
        {"producer": OLD, "model": "unregistered", "policy": "float32", "format": "h5"},
    ))  # fmt: skip
    found = advise(doc, "2.15", "2.21")
    (row,) = found["rows"]
    assert row["by_design"] and not row["works"]
    assert found["summary"]["by_design"] == 1
    assert found["summary"]["breaks"] == found["summary"]["breaks_with_a_way_out"] == 0


def test_nothing_measured_means_no_way_out() -> None:
    found = advise(document([cell(NEW, "h5", "keras", "crash")]), "2.15", "2.21")
    rows = {r["format"]: r for r in found["rows"]}
    assert rows["h5"]["alternatives"] == [] and not rows["h5"]["works"]
    assert rows["keras"]["direct"]["status"] == "pending"


def test_advice_table_is_a_markdown_block_of_its_own() -> None:
    from matrix.report.markdown import _advice

    doc = document([cell(NEW, "h5", "keras", "identical"), cell(NEW, "keras", "keras", "crash")])
    doc = doc.with_(advice=advise(doc, "2.15", "2.21"))
    assert doc.advice is not None
    labels = {OLD: "TF 2.15 (Keras 2)", NEW: "TF 2.21 (Keras 3)", LEGACY: "TF 2.21 (tf-keras)"}
    text = _advice(doc.advice, labels)
    # A table glued to the paragraph above it is not a table in GitHub's Markdown.
    assert "no measured way out.\n\n| saved in" in text
