"""`tf-compat-matrix check MODEL... --to 2.21`: an answer in seconds, no env built.

Each file is inspected as every file is (by its bytes, in the sandboxed
inspector worker: never loaded, never unpickled, no graph run), then each
target is predicted from the measured cells most like it (`predict.py`).
`--confirm` builds the envs the answer needs and measures the file, then
says where the prediction was wrong.

Exit codes, for CI: 0 every target works through its default path; 1 some
target breaks (the way out is printed); 3 unknown (nothing measured is close
enough to predict, and nothing breaks), so a pipeline may run --confirm; 2
bad usage or a file that is not a model (or is refused).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matrix import axes, files, sniff
from matrix.check import index as indexes
from matrix.check.predict import Prediction, predict
from matrix.escape import md_cell, terminal
from matrix.files import JsonObject
from matrix.paths import Layout
from matrix.report import jsonfile
from matrix.safety import folders, inspections
from matrix.safety.findings import Inspection, Kind
from matrix.safety.limits import DEFAULT as LIMITS
from matrix.settings import ConfigError

WORKS, BREAKS, BAD, UNKNOWN = 0, 1, 2, 3
SCHEMA = "check.schema.json"
# What stops a file before any prediction: it is not what it claims, or the
# inspector could not read it within its limits.
REFUSED = (Kind.RESOURCE, Kind.UNREADABLE, Kind.MISMATCH, Kind.OUTSIDE)


@dataclass(frozen=True)
class Checked:
    path: Path
    format: str | None
    traits: dict[str, Any]
    predictions: tuple[Prediction, ...] = ()
    refused: str | None = None  # why no prediction was made
    notes: tuple[str, ...] = ()

    def to_dict(self) -> JsonObject:
        return {
            "file": str(self.path),
            "format": self.format,
            "traits": self.traits,
            "refused": self.refused,
            "notes": list(self.notes),
            "predictions": [p.to_dict() for p in self.predictions],
        }


_ARGUMENTS: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = (
    (("models",), {"nargs": "+", "metavar": "MODEL",
                   "help": "model files, SavedModel folders, or folders of model files"}),
    (("--to",), {"dest": "to", "required": True, "metavar": "X.Y",
                 "help": "the TensorFlow you move to, e.g. 2.21"}),
    (("--from",), {"dest": "upgrade_from", "metavar": "X.Y",
                   "help": "the TensorFlow that wrote it, where the file does not say"}),
    (("--keras",), {"metavar": "3.X", "help": "the Keras 3 minor you move to, e.g. 3.12"}),
    (("--backend",), {"choices": axes.BACKENDS, "help": "with --keras: its backend"}),
    (("--results",), {"nargs": "+", "metavar": "JSON", "default": [],
                      "help": "your own compat.json files, read before the shipped results"}),
    (("--json",), {"action": "store_true",
                   "help": "print the answer as JSON (reports/check.schema.json)"}),
    (("--markdown",), {"metavar": "FILE",
                       "help": "also write the answer as Markdown (a job summary, a PR comment)"}),
    (("--confirm",), {"action": "store_true",
                      "help": "build the envs the answer needs and measure the file"}),
    (("--output",), {"default": "build/check", "help": "where --confirm measures"}),
    (("--envdir",), {"default": ".nox", "help": "where --confirm's virtualenvs live"}),
)  # fmt: skip


def add_arguments(sub: argparse.ArgumentParser) -> None:
    for flags, options in _ARGUMENTS:
        sub.add_argument(*flags, **options)


def run(args: argparse.Namespace) -> int:
    try:
        index = _index(args.results)
        paths = _models(args.models)
        targets = targets_of(index, args.to, args.keras, args.backend)
    except ConfigError as exc:
        print(f"error: {terminal(exc)}", file=sys.stderr)
        return BAD
    checked = [_check(path, index, targets, args.upgrade_from) for path in paths]
    if args.confirm:
        from matrix.check import confirm

        measured = confirm.measure(checked, targets, Path(args.output), Path(args.envdir))
        checked = [confirm.compared(c, measured) for c in checked]
    if args.json:
        print(json.dumps({"schema_version": 1, "files": [c.to_dict() for c in checked]},
                         indent=2, sort_keys=True))  # fmt: skip
    else:
        print("\n".join(_words(c, index) for c in checked))
    if args.markdown:
        files.write_atomic(Path(args.markdown), markdown(checked, index))
    return exit_code(checked)


_MARK = {"works": "✅ works", "breaks": "❌ breaks", "unknown": "❔ unknown"}


def markdown(checked: list[Checked], index: indexes.Index) -> str:
    """The answer as a Markdown table: a job summary, a pull request comment."""
    rows = ["| file | target | answer | why | way out |", "|---|---|---|---|---|"]
    for c in checked:
        if c.refused:
            rows.append(f"| {md_cell(c.path)} | | refused | {md_cell(c.refused)} | |")
        for p in c.predictions:
            basis = "measured" if p.measured else "predicted"
            cause = index.causes.get(p.cause or "")
            why = f"{cause['title']}" if cause else p.why
            way = p.ways[0]["how"] if p.ways else ""
            rows.append(
                f"| {md_cell(c.path)} | `{p.target}` | {_MARK[p.verdict]} ({basis}) "
                f"| {md_cell(why)} | {md_cell(way)} |"
            )
    return (
        "### tf-compat-matrix check\n\n" + "\n".join(rows) + "\n\n"
        "A prediction is read from the published measurements of files like yours; "
        "`--confirm` measures yours.\n"
    )


def exit_code(checked: list[Checked]) -> int:
    if any(c.refused for c in checked):
        return BAD
    verdicts = {p.verdict for c in checked for p in c.predictions}
    if "breaks" in verdicts:
        return BREAKS
    return UNKNOWN if "unknown" in verdicts else WORKS


def _index(results: list[str]) -> indexes.Index:
    """The user's compat.json files first, then the shipped results."""
    documents = []
    for name in results:
        try:
            documents.append((name, jsonfile.read(Path(name))))
        except (OSError, ValueError, KeyError, EOFError) as exc:
            msg = f"Invalid --results {name}: expected a compat.json of tf-compat-matrix ({exc})"
            raise ConfigError(msg) from exc
    shipped = indexes.read()
    if not documents:
        return shipped
    mine = indexes.build(documents)
    for key, outcomes in shipped.outcomes.items():
        mine.outcomes.setdefault(key, outcomes)
    for name, facts in shipped.envs.items():
        mine.envs.setdefault(name, facts)
    for model, layers in shipped.models.items():
        mine.models.setdefault(model, layers)
    for key, ops in shipped.ops.items():
        mine.ops.setdefault(key, ops)
    for cause, words in shipped.causes.items():
        mine.causes.setdefault(cause, words)
    mine.sources += shipped.sources
    return mine


def _models(given: list[str]) -> list[Path]:
    """Each path named; a folder that is not a SavedModel stands for the
    model files in it (found by their bytes, one level down)."""
    found = []
    for name in given:
        path = Path(name)
        if not path.exists():
            raise ConfigError(f"No such model file or folder: {name}")
        if path.is_dir() and sniff.content_format(path) != "savedmodel":
            inside = sorted(p for p in path.iterdir() if sniff.content_format(p) is not None)
            if not inside:
                raise ConfigError(f"{name}: a folder with no model file in it (h5, .keras, "
                                  "SavedModel or .tflite, by their bytes)")  # fmt: skip
            found += inside
        else:
            found.append(path)
    return found


def targets_of(index: indexes.Index, to: str, keras: str | None, backend: str | None) -> list[str]:
    """The env ids to predict for: the default env of `--to`'s release (or
    of `--keras`'s minor, on `--backend`)."""
    release = axes.keras_key(keras) if keras else to
    if release not in axes.RELEASES:
        known = [k for k, r in axes.RELEASES.items() if not r.interpreter_only]
        raise ConfigError(
            f"Unknown release {release!r} for --to/--keras: expected one of {', '.join(known)}"
        )
    flavour = backend or axes.RELEASES[release].default_flavour
    found = [e.id for e in index.envs.values() if e.release == release and e.flavour == flavour]
    if not found:
        raise ConfigError(
            f"No measured env of {release} ({flavour}) in the results: the shipped index "
            "covers the published reports; pass --results with a compat.json that has it"
        )
    return sorted(found)[:1]


def _check(path: Path, index: indexes.Index, targets: list[str], origin: str | None) -> Checked:
    inspection = _inspect(path)
    fmt = inspection.format
    refused = [f for f in inspection.findings if f.kind in REFUSED]
    if refused or fmt is None:
        why = "; ".join(str(f) for f in refused) or "not a model file (by its bytes)"
        return Checked(path, fmt, dict(inspection.traits), refused=why)
    notes = tuple(_notes(inspection))
    predictions = predict(index, inspection.traits, fmt, targets, from_release=origin)
    return Checked(path, fmt, dict(inspection.traits), tuple(predictions), notes=notes)


def _inspect(path: Path) -> Inspection:
    """The inspector's reading of one file, in its sandboxed worker (which may
    read the file where it lies); a folder holding links or special files is
    refused before anything reads it."""
    unsafe = folders.problems(path, LIMITS)
    if unsafe:
        return Inspection(sniff.content_format(path), tuple(unsafe))
    with tempfile.TemporaryDirectory(prefix="compat-check-") as scratch:
        layout = Layout(Path(scratch), Path(scratch))
        key = files.sha256_text(str(path.resolve()))
        where = path.resolve()
        return inspections.ensure(layout, [(key, where)], readable=[where.parent])[key]


def _notes(inspection: Inspection) -> list[str]:
    """What the file holds that decides a load beyond the prediction."""
    found = []
    for finding in inspection.findings:
        if finding.kind is Kind.CODE:
            found.append(f"holds code ({finding.what}): refused where safe_mode is enforced")
        elif finding.kind in (Kind.MODULE, Kind.CUSTOM):
            found.append(f"{finding.what}: load it with custom_objects naming it")
    return list(dict.fromkeys(found))


def _words(checked: Checked, index: indexes.Index) -> str:
    traits = checked.traits
    head = f"{checked.path} ({checked.format or 'unknown format'}"
    if traits.get("keras_version"):
        head += f", saved by Keras {traits['keras_version']}"
    head += ")"
    if checked.refused:
        return terminal(f"{head}: refused, no prediction: {checked.refused}")
    lines = [head]
    if traits.get("layers"):
        lines.append(f"  layers: {', '.join(traits['layers'])}")
    if traits.get("ops"):
        lines.append(f"  operators: {', '.join(traits['ops'])}")
    lines += [f"  note: {note}" for note in checked.notes]
    for found in checked.predictions:
        basis = "measured" if found.measured else "predicted, not measured"
        lines.append(f"  {found.target}: {found.verdict.upper()} ({basis}): {found.why}")
        cause = index.causes.get(found.cause or "")
        if cause:
            lines.append(f"    cause: {cause['title']} ({' '.join(cause.get('links') or [])})")
        for way in found.ways[:3]:
            costs = "; ".join(way["costs"])
            lines.append(f"    way out: {way['how']} (measured in {way['env']}; costs: {costs})")
        lines += [f"    evidence: {cell}" for cell in found.evidence[:3]]
    return terminal("\n".join(lines))
