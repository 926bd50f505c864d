"""compat.json on disk: texts stored once, nothing lost, valid against its schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from matrix.paths import Layout
from matrix.report import document, jsonfile
from matrix.report.document import Document
from matrix.selection.config import Settings
from matrix.selection.plan import Plan
from tests.conftest import SCHEMA
from tests.test_document import stored  # noqa: F401 - the fixture


@pytest.fixture
def built(stored: tuple[Plan, Layout]) -> Document:  # noqa: F811
    plan, layout = stored
    return document.build(plan, layout, Settings())


def test_round_trip_gives_the_document_back(built: Document) -> None:
    text = jsonfile.dumps(built)
    assert jsonfile.loads(text) == built.to_dict()
    assert jsonfile.load_document(text) == built


def test_each_text_is_stored_once(built: Document) -> None:
    copies = [c.with_(model="other") for c in built.cells if c.error_text]
    built = built.with_(cells=(*built.cells, *copies))  # the same texts again
    data = json.loads(jsonfile.dumps(built))
    assert len(data["texts"]) == len(set(data["texts"]))
    assert all(isinstance(c.get("error_text", 0), int) for c in data["cells"])


def test_a_text_holding_a_placeholder_survives(built: Document) -> None:
    cells = list(built.cells)
    index = next(i for i, c in enumerate(cells) if c.error)
    cells[index] = cells[index].with_(error="a message that says {artifact} and {venv} itself")
    built = built.with_(cells=tuple(cells))
    assert jsonfile.load_document(jsonfile.dumps(built)).cells == built.cells


def test_the_written_file_matches_the_schema(built: Document) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(jsonfile.dumps(built)), schema)


def test_a_broken_file_fails_the_schema(built: Document) -> None:
    data = json.loads(jsonfile.dumps(built))
    data["cells"][0]["status"] = "fine"
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_schema_version_one_is_read_as_it_is(tmp_path: Path) -> None:
    old = {"schema_version": 1, "cells": [{"error": "inline"}]}
    assert jsonfile.loads(json.dumps(old)) == old
