"""Inspections on disk, keyed by content, computed by the worker when missing.

`<output>/inspections/<sha256>.json` holds what the inspector found in one
artifact (file or folder, identified by the sha256 of its manifest entry).
Produce inspects what it saved, the reference stage what the user brought;
consume and the report read the stored record, and inspect again only when
it is missing or from another inspector version.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matrix import files
from matrix.launch import Fault, ProbeCommand, Sink, run_probe
from matrix.paths import PROBES_DIR, Layout
from matrix.safety import worker
from matrix.safety.findings import Finding, Inspection, Kind, Scope, unreadable

START_SECONDS = 60.0
FILE_SECONDS = 120.0


@dataclass(frozen=True)
class InspectTask:
    """One file or folder for the inspector worker (`worker.py` reads these names)."""

    id: str  # the key its inspection is stored under
    path: str
    scratch: str  # a folder of its own for what it unpacks

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "path": self.path, "scratch": self.scratch}


def read(layout: Layout, sha256: str) -> Inspection | None:
    data = files.read_json(layout.inspection(sha256))
    return Inspection.from_dict(data) if isinstance(data, dict) else None


def ensure(
    layout: Layout, targets: Iterable[tuple[str, Path]], readable: Sequence[Path] = ()
) -> dict[str, Inspection]:
    """The inspection of every (sha256, path), running the worker for the
    ones not stored yet; `readable`: folders outside the output folder the
    worker's sandbox may read (a file `check` reads where it lies)."""
    found: dict[str, Inspection] = {}
    missing: dict[str, Path] = {}
    for sha256, path in targets:
        stored = read(layout, sha256)
        if stored is not None:
            found[sha256] = stored
        else:
            missing[sha256] = path
    if missing:
        fresh = _run_worker(layout, missing, readable)
        for sha256, inspection in fresh.items():
            files.write_json(layout.inspection(sha256), inspection.to_dict())
        found.update(fresh)
    return found


class _Collect(Sink):
    def __init__(self, paths: dict[str, Path]) -> None:
        self.paths = paths
        self.found: dict[str, Inspection] = {}

    def event(self, event: dict[str, Any]) -> None:
        if event.get("event") != "done":
            return
        inspection = Inspection.from_dict(event.get("inspection") or {})
        task = str(event.get("task"))
        if inspection is None:
            inspection = Inspection(
                None, (unreadable("the inspector's answer was malformed", task),)
            )
        self.found[task] = inspection

    def fault(self, fault: Fault) -> None:
        where = self.paths[fault.task].name
        if fault.status == "timeout":
            what = f"inspecting it took over {FILE_SECONDS:.0f} s"
            finding = Finding(Kind.RESOURCE, what, where, Scope.EVERYTHING)
        else:
            finding = unreadable(f"the inspector {fault.reason.removeprefix('the probe ')}", where)
            # A crash while reading a file is refused like any unreadable one.
        self.found[fault.task] = Inspection(None, (finding,))


def _run_worker(
    layout: Layout, paths: dict[str, Path], readable: Sequence[Path] = ()
) -> dict[str, Inspection]:
    base = layout.output / "tmp" / "inspect"
    base.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=base))  # stages inspect at once, each in its own
    tasks = [
        InspectTask(sha256, str(path), str(scratch / sha256[:16])) for sha256, path in paths.items()
    ]
    command = ProbeCommand(
        python=Path(sys.executable),
        script=Path(worker.__file__),
        environment={
            "COMPAT_MATRIX_WRITABLE": str(scratch),
            "COMPAT_MATRIX_READABLE": os.pathsep.join(
                str(p)
                for p in (layout.output, Path(worker.__file__).parents[2], PROBES_DIR, *readable)
            ),
        },
        log=layout.log("host", "inspect"),
        workdir=scratch,
        start_timeout=START_SECONDS,
        task_timeout=FILE_SECONDS,
        max_restarts=len(tasks),
        schema_version=worker.SCHEMA_VERSION,
        ready="started",
    )
    sink = _Collect(paths)
    try:
        outcome = run_probe(command, tasks, sink)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for sha256, path in paths.items():
        if sha256 not in sink.found:
            why = outcome.env_error or "the inspector stopped before reaching it"
            sink.found[sha256] = Inspection(None, (unreadable(why.splitlines()[0], path.name),))
    return sink.found
