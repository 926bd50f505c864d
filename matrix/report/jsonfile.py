"""`compat.json` on disk: a cell table by columns, every distinct text once.

In memory a document's cells are a list of objects with their messages and
tracebacks in full. On disk (`schema_version` 3 and 4, described by
`reports/compat.schema.json`) a full preset's 100,000 cells fit in a file
that can be published:

- `cells` is a table by columns. `cells.count` rows; each column of
  `cells.dense` holds one value per row, each column of `cells.sparse` only
  the rows where the field is set (`at`: the gaps between those rows, the
  first counted from row 0; `values`: the values). Names that repeat
  (producer, consumer, model, policy, format, loader, status, known cause,
  error type) are indexes into `cells.names.<column>`. `own_policy` and
  `inference` measurements are lists in the order of `cells.part_fields`,
  their status and error type indexes like the cells'.
- Long texts (`error`, `error_text`, `reason`, a measurement's `error`) are
  indexes into `texts.texts`; each text is a list of indexes into
  `texts.pieces`, its pieces cut after every newline and comma, so the
  model configs and traceback lines that many texts share are stored once.
  Before a text is stored, this cell's own artifact path and its consumer's
  virtualenv are replaced by `{artifact}` and `{venv}`; reading puts them
  back. A text starts with how to read it: `T` (with this cell's places put
  back) or `R` (as it is: it held a placeholder itself).

`loads` gives the document back as it was in memory, and reads schema 2
(a list of cell objects with text indexes), schema 1 (texts inline) and a
document whose cells are already objects (a baseline a script edited) too.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matrix.files import JsonObject
from matrix.paths import artifacts_folder
from matrix.results.cells import KEY_FIELDS, Cell
from matrix.results.document import SCHEMA_VERSION, Document

# Every field of a cell, as compat.json readers expect it: what is left out
# on disk (empty) comes back with its default.
CELL_DEFAULTS: JsonObject = {
    k: v
    for k, v in Cell("", "", "", "", "", "", "").to_dict().items()
    if k not in (*KEY_FIELDS, "status")
}
TEXT_FIELDS = ("error", "error_text", "reason")
PART_FIELDS = ("own_policy", "inference")
# Columns every row has (all named), and columns whose values are names.
DENSE = (*KEY_FIELDS, "status")
NAMED = (*DENSE, "known", "error_type")
_MEASURED = ("status", "max_abs", "max_rel", "max_ulp", "error_type", "error", "seconds")
PART_ORDER = (*_MEASURED, "dtype_drift")
PART_DEFAULTS: dict[str, JsonObject] = {
    "own_policy": dict.fromkeys((*_MEASURED, "dtype_drift")),
    "inference": dict.fromkeys(_MEASURED),
}
# Left out when a field holds one of these (an empty list can mean "compared,
# nothing changed", which is not the same as null: it stays), except where
# the default itself is the empty list.
_EMPTY: tuple[Any, ...] = (None, False, "")
_EMPTY_LIST_IS_DEFAULT = frozenset(k for k, v in CELL_DEFAULTS.items() if v == [])
_TEMPLATED, _RAW = "T", "R"
# The schema versions whose cells are a table by columns (4 changed the envs only).
COLUMNAR = (3, SCHEMA_VERSION)
_PIECE = re.compile(r"(?<=[\n,])")


def dumps(document: Document) -> str:
    plain = document.to_dict()
    artifacts = _by_artifact(plain["artifacts"])
    texts = _Texts()
    names: dict[str, dict[Any, int]] = {column: {} for column in NAMED}
    rows = plain["cells"]
    dense = {column: [_name(names, column, row[column]) for row in rows] for column in DENSE}
    sparse: dict[str, JsonObject] = {}
    for row_index, row in enumerate(rows):
        places = _places(row, artifacts)
        for key, value in row.items():
            if key in DENSE or _empty(key, value):
                continue
            column = sparse.setdefault(key, {"rows": [], "values": []})
            column["rows"].append(row_index)
            column["values"].append(_stored(key, value, names, texts, places))
    table = {
        "count": len(rows),
        "names": {column: list(found) for column, found in names.items()},
        "part_fields": list(PART_ORDER),
        "dense": dense,
        "sparse": {
            key: {"at": _gaps(column["rows"]), "values": column["values"]}
            for key, column in sorted(sparse.items())
        },
    }
    out = {**plain, "schema_version": SCHEMA_VERSION, "cells": table, "texts": texts.table()}
    return json.dumps(out, sort_keys=True, separators=(",", ":"), allow_nan=False) + "\n"


def load_document(text: str) -> Document:
    """A compat.json as the typed document the renderers read."""
    return Document.from_dict(loads(text))


GZIP_MAGIC = b"\x1f\x8b"


def published(path: Path) -> Path:
    """`path`, or the gzipped copy publish writes instead when the JSON is
    large (report/publish.py), when only that copy exists."""
    packed = path.with_name(path.name.removesuffix(".gz") + ".gz")
    return packed if not path.exists() and packed.exists() else path


def read(path: Path) -> Document:
    """A compat.json file, as written or gzipped (told apart by content)."""
    data = path.read_bytes()
    if data.startswith(GZIP_MAGIC):
        data = gzip.decompress(data)
    return load_document(data.decode("utf-8"))


def loads(text: str) -> JsonObject:
    """A document as it was in memory (cells with their texts in full)."""
    data = json.loads(text)
    if not isinstance(data, dict):
        return data  # type: ignore[no-any-return]
    version = data.get("schema_version")
    if version == 2:  # the previous layout, still read
        return _loads_v2(data)
    if version not in COLUMNAR or not isinstance(data.get("cells"), dict):
        return data  # schema 1 (texts inline), or cells already objects: as it is
    stored = data.pop("texts")
    texts = ["".join(stored["pieces"][i] for i in pieces) for pieces in stored["texts"]]
    table = data["cells"]
    names: dict[str, list[Any]] = table["names"]
    count = table["count"]
    rows: list[JsonObject] = [
        {column: names[column][table["dense"][column][i]] for column in DENSE} for i in range(count)
    ]
    for key, column in table["sparse"].items():
        row_index = 0
        for gap, value in zip(column["at"], column["values"], strict=True):
            row_index += gap
            rows[row_index][key] = value
    artifacts = _by_artifact(data["artifacts"])
    cells = []
    for row in rows:
        places = _places(row, artifacts)
        cell = {**CELL_DEFAULTS, **row}
        for key in TEXT_FIELDS:
            if isinstance(row.get(key), int):
                cell[key] = _text(texts[row[key]], places)
        for key in ("known", "error_type"):
            if isinstance(row.get(key), int):
                cell[key] = names[key][row[key]]
        for part in PART_FIELDS:
            if isinstance(row.get(part), list):
                cell[part] = _unpart(part, row[part], names, texts, places)
        cells.append(cell)
    data["cells"] = cells
    return data


def _stored(
    key: str, value: Any, names: dict[str, dict[Any, int]], texts: _Texts, places: dict[str, str]
) -> Any:
    """A sparse column's value as the file holds it."""
    if key in TEXT_FIELDS:
        return texts.index(value, places)
    if key in NAMED:
        return _name(names, key, value)
    if key in PART_FIELDS:
        return _part(value, names, texts, places)
    return value


def _part(
    value: Mapping[str, Any],
    names: dict[str, dict[Any, int]],
    texts: _Texts,
    places: dict[str, str],
) -> list[Any]:
    out: list[Any] = []
    for key in PART_ORDER:
        found = value.get(key)
        if key in ("status", "error_type") and found is not None:
            found = _name(names, key, found)
        elif key == "error" and isinstance(found, str) and found:
            found = texts.index(found, places)
        out.append(found)
    while out and out[-1] is None:
        out.pop()
    return out


def _unpart(
    part: str,
    stored: Sequence[Any],
    names: Mapping[str, list[Any]],
    texts: Sequence[str],
    places: dict[str, str],
) -> JsonObject:
    value: JsonObject = dict(PART_DEFAULTS[part])
    for key, found in zip(PART_ORDER, stored, strict=False):  # trailing nulls left out
        if key in ("status", "error_type") and found is not None:
            value[key] = names[key][found]
        elif key == "error" and isinstance(found, int):
            value[key] = _text(texts[found], places)
        elif key in value or found is not None:
            value[key] = found
    return value


def _loads_v2(data: JsonObject) -> JsonObject:
    texts: list[str] = data.pop("texts", [])
    artifacts = _by_artifact(data["artifacts"])
    cells = []
    for cell in data["cells"]:
        places = _places(cell, artifacts)
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
        cells.append({**CELL_DEFAULTS, **cell})
    data["cells"] = cells
    return data


class _Texts:
    """Distinct texts, each cut into pieces stored once."""

    def __init__(self) -> None:
        self.texts: dict[str, int] = {}
        self.pieces: dict[str, int] = {}

    def index(self, value: str, places: dict[str, str]) -> int:
        if any(placeholder in value for placeholder in places):
            return self.texts.setdefault(_RAW + value, len(self.texts))
        for placeholder, real in sorted(places.items(), key=lambda item: -len(item[1])):
            value = value.replace(real, placeholder)
        return self.texts.setdefault(_TEMPLATED + value, len(self.texts))

    def table(self) -> JsonObject:
        cut = [
            [
                self.pieces.setdefault(piece, len(self.pieces))
                for piece in _PIECE.split(text)
                if piece
            ]
            for text in self.texts
        ]
        return {"pieces": list(self.pieces), "texts": cut}


def _by_artifact(artifacts: Sequence[Mapping[str, Any]]) -> dict[tuple[str, ...], Any]:
    return {(a["producer"], a["model"], a["policy"], a["format"]): a for a in artifacts}


def _places(cell: Mapping[str, Any], artifacts: Mapping[tuple[str, ...], Any]) -> dict[str, str]:
    """The strings a cell's texts are made portable against."""
    places = {"{venv}": "<envdir>/" + cell["consumer"].removesuffix("-onednn-off")}
    artifact = artifacts.get((cell["producer"], cell["model"], cell["policy"], cell["format"]))
    if artifact and artifact.get("files"):
        path = min(artifact["files"], key=len).split("/", 1)[0]
        places["{artifact}"] = f"<output>/{artifacts_folder(cell['producer'])}/{path}"
    return places


def _name(names: dict[str, dict[Any, int]], column: str, value: Any) -> int:
    return names[column].setdefault(value, len(names[column]))


def _gaps(rows: Sequence[int]) -> list[int]:
    return [b - a for a, b in zip((0, *rows), rows, strict=False)]


def _text(stored: str, places: dict[str, str]) -> str:
    value = stored[1:]
    if stored.startswith(_TEMPLATED):
        for placeholder, real in places.items():
            value = value.replace(placeholder, real)
    return value


def _empty(key: str, value: Any) -> bool:
    if key in _EMPTY_LIST_IS_DEFAULT and value == []:
        return True
    return any(value is e or (type(value) is type(e) and value == e) for e in _EMPTY)
