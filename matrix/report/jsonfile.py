"""`compat.json` on disk: every distinct text once, cells without empty fields.

In memory a document's cells carry their messages and tracebacks in full.
On disk (`schema_version` 2, described by `reports/compat.schema.json`) the
long texts of cells (`error`, `error_text`, `reason`, and the `error` of
their `own_policy` and `inference` measurements) live once each in `texts`,
and a cell holds their index. Before a text is stored, this cell's own
artifact path and its consumer's virtualenv are replaced by `{artifact}`
and `{venv}`, so a traceback that differs between cells only by those reads
as one; `load` puts them back, so nothing is lost. Fields that are null,
false or empty are left out. A full preset's 100,000 cells fit in a file
that can be published.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from matrix.files import JsonObject
from matrix.paths import USER_PREFIX, is_user_producer
from matrix.report.document import SCHEMA_VERSION, Document
from matrix.results.cells import KEY_FIELDS, Cell

# Every field of a cell, as compat.json readers expect it: what is left out
# on disk (empty) comes back with its default.
CELL_DEFAULTS: JsonObject = {
    k: v
    for k, v in Cell("", "", "", "", "", "", "").to_dict().items()
    if k not in (*KEY_FIELDS, "status")
}
TEXT_FIELDS = ("error", "error_text", "reason")
PART_FIELDS = ("own_policy", "inference")
# Left out when a field holds one of these (an empty list can mean "compared,
# nothing changed", which is not the same as null: it stays).
_EMPTY: tuple[Any, ...] = (None, False, "")
_MEASURED = ("status", "max_abs", "max_rel", "max_ulp", "error_type", "error", "seconds")
PART_DEFAULTS: dict[str, JsonObject] = {
    "own_policy": dict.fromkeys((*_MEASURED, "dtype_drift")),
    "inference": dict.fromkeys(_MEASURED),
}
# A stored text starts with how to read it: T, with this cell's places put
# back ({artifact}, {venv}); R, exactly as it is (it held a placeholder itself).
_TEMPLATED, _RAW = "T", "R"


def dumps(document: Document) -> str:
    texts: dict[str, int] = {}
    artifacts: dict[tuple[str, ...], Any] = {
        (a["producer"], a["model"], a["policy"], a["format"]): a for a in document.artifacts
    }
    plain = document.to_dict()
    cells = [_compact(cell, texts, _places(cell, artifacts)) for cell in plain["cells"]]
    out = {**plain, "schema_version": SCHEMA_VERSION, "cells": cells, "texts": list(texts)}
    return json.dumps(out, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"


def load_document(text: str) -> Document:
    """A compat.json as the typed document the renderers read."""
    return Document.from_dict(loads(text))


def loads(text: str) -> JsonObject:
    """A document as it was in memory (cells with their texts in full).

    Reads schema 1 (texts inline) as it is."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("schema_version") != SCHEMA_VERSION:
        return data  # type: ignore[no-any-return]
    texts: list[str] = data.pop("texts", [])
    artifacts: dict[tuple[str, ...], Any] = {
        (a["producer"], a["model"], a["policy"], a["format"]): a for a in data["artifacts"]
    }
    data["cells"] = [
        {**CELL_DEFAULTS, **_expand(cell, texts, _places(cell, artifacts))}
        for cell in data["cells"]
    ]
    return data


def _places(cell: Mapping[str, Any], artifacts: Mapping[tuple[str, ...], Any]) -> dict[str, str]:
    """The strings a cell's texts are made portable against."""
    places = {"{venv}": "<envdir>/" + cell["consumer"].removesuffix("-onednn-off")}
    artifact = artifacts.get((cell["producer"], cell["model"], cell["policy"], cell["format"]))
    if artifact and artifact.get("files"):
        path = min(artifact["files"], key=len).split("/", 1)[0]
        root = "<output>/user/" if is_user_producer(cell["producer"]) else "<output>/artifacts/"
        producer = cell["producer"].removeprefix(USER_PREFIX)
        places["{artifact}"] = f"{root}{producer}/{path}"
    return places


def _compact(cell: Mapping[str, Any], texts: dict[str, int], places: dict[str, str]) -> JsonObject:
    out: JsonObject = {}
    for key, value in cell.items():
        if key in TEXT_FIELDS and isinstance(value, str) and value:
            out[key] = _index(value, texts, places)
        elif key in PART_FIELDS and isinstance(value, dict):
            out[key] = {
                k: _index(v, texts, places) if k in TEXT_FIELDS and isinstance(v, str) and v else v
                for k, v in value.items()
                if not _empty(v)
            }
        elif not _empty(value):
            out[key] = value
    return out


def _expand(cell: JsonObject, texts: list[str], places: dict[str, str]) -> JsonObject:
    for key in TEXT_FIELDS:
        if isinstance(cell.get(key), int) and not isinstance(cell.get(key), bool):
            cell[key] = _text(texts[cell[key]], places)
    for part in PART_FIELDS:
        found = cell.get(part)
        if isinstance(found, dict):
            for key in TEXT_FIELDS:
                if isinstance(found.get(key), int):
                    found[key] = _text(texts[found[key]], places)
            cell[part] = {**PART_DEFAULTS[part], **found}
    return cell


def _index(value: str, texts: dict[str, int], places: dict[str, str]) -> int:
    if any(placeholder in value for placeholder in places):
        return texts.setdefault(_RAW + value, len(texts))
    for placeholder, real in sorted(places.items(), key=lambda item: -len(item[1])):
        value = value.replace(real, placeholder)
    return texts.setdefault(_TEMPLATED + value, len(texts))


def _text(stored: str, places: dict[str, str]) -> str:
    value = stored[1:]
    if stored.startswith(_TEMPLATED):
        for placeholder, real in places.items():
            value = value.replace(placeholder, real)
    return value


def _empty(value: Any) -> bool:
    return any(value is e or (type(value) is type(e) and value == e) for e in _EMPTY)
