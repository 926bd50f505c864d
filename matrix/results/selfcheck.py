"""The self-check: every env must read what it wrote itself.

A diagonal cell (producer and consumer the same env) through a native loader
of its format that fails is either explained by a known cause (the zoo's
`unregistered` model, an upstream bug in that release) or it is a suspected
defect of the harness: the report shows it first and the run says so.
"""

from __future__ import annotations

from collections.abc import Iterable

from matrix import axes
from matrix.files import JsonObject
from matrix.results.cells import Cell
from matrix.status import Status

# Outcomes that mean the env could not read or reproduce its own artifact
# (`no-artifact` is a save failure, reported with the producer's notes).
READ_FAILURES = Status.values(lambda s: s.read_failure)


def is_diagonal(cell: Cell) -> bool:
    return cell.producer == cell.consumer and cell.loader in axes.NATIVE_LOADERS.get(
        cell.format, ()
    )


def check(cells: Iterable[Cell]) -> JsonObject:
    diagonal = [c for c in cells if is_diagonal(c)]
    failing = [c for c in diagonal if c.status in READ_FAILURES]
    suspects = [c for c in failing if not c.known]
    return {
        "checked": len(diagonal),
        "failing": len(failing),
        "explained": len(failing) - len(suspects),
        "suspects": [
            {
                "producer": c.producer,
                "model": c.model,
                "policy": c.policy,
                "format": c.format,
                "loader": c.loader,
                "status": c.status,
                "error": c.error,
            }
            for c in suspects
        ],
    }


def summary(result: JsonObject) -> str:
    if result["suspects"]:
        return (
            f"self-check: {len(result['suspects'])} of {result['checked']} cells where an env "
            "reads its own artifact fail with no known cause: suspected harness defects "
            "(see Self-check in the report)"
        )
    explained = f", {result['explained']} failing for a known cause" if result["explained"] else ""
    return f"self-check: every env reads what it wrote ({result['checked']} cells{explained})"
