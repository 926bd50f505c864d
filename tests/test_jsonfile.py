"""compat.json on disk: texts stored once, nothing lost, valid against its schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from matrix.paths import Layout
from matrix.report import document, jsonfile
from matrix.selection.config import Settings
from matrix.selection.plan import Plan
from tests.conftest import SCHEMA
from tests.test_document import stored  # noqa: F401 - the fixture


@pytest.fixture
def built(stored: tuple[Plan, Layout]) -> dict:  # type: ignore[type-arg]  # noqa: F811
    plan, layout = stored
    return document.build(plan, layout, Settings())


def test_round_trip_gives_the_document_back(built: dict) -> None:  # type: ignore[type-arg]
    assert jsonfile.loads(jsonfile.dumps(built)) == built


def test_each_text_is_stored_once(built: dict) -> None:  # type: ignore[type-arg]
    copies = [dict(c) for c in built["cells"] if c["error_text"]]
    built["cells"] += [dict(c, model="other") for c in copies]  # same texts again
    data = json.loads(jsonfile.dumps(built))
    assert len(data["texts"]) == len(set(data["texts"]))
    assert all(isinstance(c.get("error_text", 0), int) for c in data["cells"])


def test_a_text_holding_a_placeholder_survives(built: dict) -> None:  # type: ignore[type-arg]
    cell = next(c for c in built["cells"] if c["error"])
    cell["error"] = "a message that says {artifact} and {venv} itself"
    assert jsonfile.loads(jsonfile.dumps(built))["cells"] == built["cells"]


def test_the_written_file_matches_the_schema(built: dict) -> None:  # type: ignore[type-arg]
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(json.loads(jsonfile.dumps(built)), schema)


def test_a_broken_file_fails_the_schema(built: dict) -> None:  # type: ignore[type-arg]
    data = json.loads(jsonfile.dumps(built))
    data["cells"][0]["status"] = "fine"
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_schema_version_one_is_read_as_it_is(tmp_path: Path) -> None:
    old = {"schema_version": 1, "cells": [{"error": "inline"}]}
    assert jsonfile.loads(json.dumps(old)) == old
