"""`check --confirm`: measure the file in the envs the answer needs, then compare.

Builds only the nearest measured writer's env (the reference: the file's
outputs there are what every target must reproduce) and the targets, runs
the file alone through them (no zoo), and turns each prediction into a
measurement, keeping what was predicted: the output says where the
prediction was wrong.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import replace
from pathlib import Path

from matrix.check.command import Checked
from matrix.check.predict import PASSING, UNDECIDED, Prediction, direct_loader, writer_of
from matrix.report import jsonfile
from matrix.results.cells import Cell


def measure(
    checked: list[Checked], targets: list[str], output: Path, envdir: Path
) -> dict[str, list[Cell]]:
    """The user cells of each file measured by one run, by the file's path."""
    from matrix import cli

    runnable = [c for c in checked if c.predictions]
    if not runnable:
        return {}
    writers = {p.nearest for c in runnable for p in c.predictions if p.nearest}
    envs = sorted({*targets, *(w for w in writers if not w.startswith("gold:"))})
    names = {c.path: f"file{i}" for i, c in enumerate(runnable)}
    args = [
        "run",
        "--envs",
        *envs,
        "--gold",
        "none",
        "--output",
        str(output / "out"),
        "--reports",
        str(output / "reports"),
        "--envdir",
        str(envdir),
        "--no-history",
    ]
    for c in runnable:
        args += ["--user-model", str(c.path), "--name", names[c.path]]
    # The run's progress goes to stderr: stdout is the answer (--json reads it).
    with contextlib.redirect_stdout(sys.stderr):
        code = cli.main(args)
    if code not in (0, 1):
        return {}
    document = jsonfile.read(output / "reports" / "compat.json")
    return {
        str(path): [c for c in document.cells if c.producer == f"user:{name}"]
        for path, name in names.items()
    }


def compared(checked: Checked, measured: dict[str, list[Cell]]) -> Checked:
    """The file's predictions, each replaced by its measurement where one ran."""
    cells = measured.get(str(checked.path))
    if not cells or checked.format is None:
        return checked
    loader = direct_loader(checked.format, writer_of(checked.traits))
    found = []
    for prediction in checked.predictions:
        cell = next((c for c in cells if c.consumer == prediction.target and c.loader == loader),
                    None)  # fmt: skip
        found.append(prediction if cell is None else _measured(prediction, cell))
    return replace(checked, predictions=tuple(found))


def _measured(prediction: Prediction, cell: Cell) -> Prediction:
    if cell.status in UNDECIDED:
        verdict = "unknown"
    else:
        verdict = "works" if cell.status in PASSING else "breaks"
    right = "right" if verdict == prediction.verdict else "wrong"
    why = f"measured: {cell.status} (the prediction, {prediction.verdict}, was {right})"
    return replace(prediction, verdict=verdict, why=why, predicted=prediction.verdict,
                   measured=cell.status, cause=cell.known or prediction.cause)  # fmt: skip
