"""compat.json on disk: texts stored once, nothing lost, valid against its schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from matrix.paths import Layout
from matrix.report import jsonfile
from matrix.results import document
from matrix.results.document import Document
from matrix.selection.plan import Plan
from matrix.settings import Settings
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
    copies = [c.with_(model="other") for c in built.cells if c.error]
    built = built.with_(cells=(*built.cells, *copies))  # the same texts again
    data = json.loads(jsonfile.dumps(built))
    texts = [tuple(pieces) for pieces in data["texts"]["texts"]]
    assert len(texts) == len(set(texts))
    assert len(data["texts"]["pieces"]) == len(set(data["texts"]["pieces"]))
    indexes = data["cells"]["sparse"]["error"]["values"]
    assert copies and len(indexes) == 2 * len(copies) and len(set(indexes)) <= len(copies)
    assert all(isinstance(index, int) for index in indexes)


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
    data["cells"]["names"]["status"][0] = "fine"
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, schema)


def test_schema_version_one_is_read_as_it_is(tmp_path: Path) -> None:
    old = {"schema_version": 1, "cells": [{"error": "inline"}]}
    assert jsonfile.loads(json.dumps(old)) == old


def test_schema_version_two_is_read_back_whole(built: Document) -> None:
    """The previous layout: a list of cell objects, texts a flat list."""
    texts: dict[str, int] = {}
    cells = []
    for cell in built.to_dict()["cells"]:
        kept = {k: v for k, v in cell.items() if not (v is None or v is False or v == "")}
        for key in ("error", "error_text", "reason"):
            if isinstance(kept.get(key), str):
                kept[key] = texts.setdefault("R" + kept[key], len(texts))
        cells.append(kept)
    old = {**built.to_dict(), "schema_version": 2, "cells": cells, "texts": list(texts)}
    assert jsonfile.loads(json.dumps(old))["cells"] == built.to_dict()["cells"]


def test_columns_make_a_large_run_small(built: Document) -> None:
    """Cells cost their changing fields, not their keys: 20 times the cells
    take far less than 20 times the bytes of one run written as objects."""
    many = built.with_(cells=tuple(c.with_(model=f"m{i}") for i in range(20) for c in built.cells))
    as_objects = len(json.dumps(many.to_dict()["cells"]))
    assert len(jsonfile.dumps(many)) < as_objects / 3
    assert jsonfile.loads(jsonfile.dumps(many)) == many.to_dict()


def test_a_document_with_cells_as_objects_is_read_as_it_is(built: Document) -> None:
    """A baseline a script loaded, edited and dumped with json: read as it is."""
    edited = jsonfile.loads(jsonfile.dumps(built))
    assert jsonfile.loads(json.dumps(edited)) == edited
