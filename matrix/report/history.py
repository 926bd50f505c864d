"""Cell history across runs: what changed since the last run, and when each
known cause was first and last seen.

`<reports>/cells-history.json.gz` keeps, for every cell id a run measured,
its status at each change (night number, status, cause) and the last night
it was measured; for every known cause the first and last night it
explained a cell; for every env the night it first ran. It is compact (a
cell that never changes is one entry) and a nightly publishes it as an
artifact beside compat.json. `since` reads the last night before this run:
the report's first section after the answer is "Changed since the last
run": new failures, fixes, envs new to the matrix (a release found on the
index is one), envs gone.

A history that cannot be read (truncated, another schema) is set aside as
`cells-history.json.gz.unreadable` and a new one starts: the report says so.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matrix import files
from matrix.files import JsonObject
from matrix.results.document import Document
from matrix.status import READ_FAILURES, Status

CELLS_HISTORY = "cells-history.json.gz"
SCHEMA_VERSION = 1
PASSING = Status.values(lambda s: s.passing)


@dataclass
class History:
    nights: list[str] = field(default_factory=list)  # each run's `when`
    # cell id -> [last night measured, [[night, status, cause], ...changes]]
    cells: dict[str, list[Any]] = field(default_factory=dict)
    causes: dict[str, list[int]] = field(default_factory=dict)  # id -> [first, last]
    envs: dict[str, list[int]] = field(default_factory=dict)  # id -> [first, last]
    note: str | None = None  # why an older history was set aside

    def to_dict(self) -> JsonObject:
        return {"schema_version": SCHEMA_VERSION, "nights": self.nights, "cells": self.cells,
                "causes": self.causes, "envs": self.envs}  # fmt: skip

    def when(self, night: int) -> str:
        return self.nights[night]


def read(path: Path) -> History:
    if not path.is_file():
        return History()
    try:
        data = json.loads(gzip.decompress(path.read_bytes()))
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"schema_version {data.get('schema_version')!r}")
        return History(list(data["nights"]), dict(data["cells"]), dict(data["causes"]),
                       dict(data["envs"]))  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        aside = path.with_name(path.name + ".unreadable")
        path.replace(aside)
        return History(note=f"{path.name} could not be read ({exc}); set aside as {aside.name}")


def write(history: History, path: Path) -> None:
    text = json.dumps(history.to_dict(), sort_keys=True, separators=(",", ":"))
    files.write_bytes_atomic(path, gzip.compress(text.encode("utf-8"), mtime=0))


def since(history: History, document: Document) -> JsonObject:
    """What changed from the last night recorded to this document."""
    envs = [state.id for state in document.envs]
    found: JsonObject = {
        "previous": history.nights[-1] if history.nights else None,
        "new_failures": [],
        "fixes": [],
        "other": [],
        "new_envs": [e for e in envs if e not in history.envs] if history.nights else [],
        "gone_envs": (
            sorted(
                e
                for e, (_, last) in history.envs.items()
                if last == len(history.nights) - 1 and e not in envs
            )
            if history.nights
            else []
        ),
        "note": history.note,
    }
    if not history.nights:
        return found
    last = len(history.nights) - 1
    for cell in document.cells:
        entry = history.cells.get(cell.id)
        if entry is None or entry[0] != last:
            continue  # not measured last night: nothing to compare with
        before = entry[1][-1][1]
        if before == cell.status:
            continue
        change = {"cell": cell.id, "before": before, "now": cell.status, "cause": cell.known}
        if cell.status in READ_FAILURES and before not in READ_FAILURES:
            found["new_failures"].append(change)
        elif cell.status in PASSING and before in READ_FAILURES:
            found["fixes"].append(change)
        else:
            found["other"].append(change)
    return found


def add(history: History, document: Document) -> History:
    """The history with this document as its newest night."""
    night = len(history.nights)
    history.nights.append(str(document.run.get("when")))
    for cell in document.cells:
        entry = history.cells.setdefault(cell.id, [night, []])
        entry[0] = night
        changes = entry[1]
        if not changes or changes[-1][1] != cell.status or changes[-1][2] != cell.known:
            changes.append([night, cell.status, cell.known])
        if cell.known:
            seen = history.causes.setdefault(cell.known, [night, night])
            seen[1] = night
    for state in document.envs:
        seen = history.envs.setdefault(state.id, [night, night])
        seen[1] = night
    return history


def causes_seen(history: History) -> Mapping[str, JsonObject]:
    """When each known cause was first and last seen explaining a cell."""
    return {
        cause: {"first_seen": history.when(first), "last_seen": history.when(last)}
        for cause, (first, last) in history.causes.items()
    }
