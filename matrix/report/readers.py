"""Who reads a file: for every artifact, the Keras versions (and backends)
that load it with `load_model` (or `load_weights`) and predict the same.

A file saved by a newer Keras that production's older one cannot read is the
breakage of the Keras 3 era; the range of readers answers "which Keras may
serve this file" without reading the grids: "Keras 3.12.4-3.15.1 on
TensorFlow, JAX; not Keras 3.3.3; tf-keras 2.16-2.21".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from matrix.axes import version_tuple
from matrix.files import JsonObject
from matrix.results.cells import Cell
from matrix.results.document import Document

# How each Keras is named in a sentence.
LINES = {"keras3": "Keras", "tf-keras": "tf-keras", "keras2": "Keras 2 (tf.keras)",
         "standalone-keras": "standalone Keras"}  # fmt: skip
BACKENDS = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}


@dataclass
class Readers:
    """Of one artifact: every Keras that tried to load it, by line, passing or not."""

    passing: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))
    failing: dict[str, set[tuple[str, str]]] = field(default_factory=lambda: defaultdict(set))

    def statement(self) -> str:
        """ "Keras 3.12.4-3.15.1 on TensorFlow, 3.15.1 on JAX (not 3.3.3 on
        TensorFlow); tf-keras 2.21.0": per Keras and backend, the oldest and
        newest reader, and the versions that tried and failed."""
        parts = []
        for line in sorted(set(self.passing) | set(self.failing), key=_line_order):
            passing = self.passing.get(line, set())
            failing = self.failing.get(line, set()) - passing
            name = LINES.get(line, line)
            spans = [
                _span({v for v, b in passing if b == backend})
                + (f" on {BACKENDS.get(backend, backend)}" if line == "keras3" else "")
                for backend in sorted({b for _, b in passing}, key=_backend_order)
            ]
            text = f"{name} {', '.join(spans)}" if spans else f"no {name}"
            if failing:
                refused = [
                    f"{v} on {BACKENDS.get(b, b)}" if line == "keras3" else v
                    for v, b in sorted(failing, key=lambda vb: (version_tuple(vb[0]), vb[1]))
                ]
                text += f" ({'not ' if spans else 'tried: '}{', '.join(refused)})"
            parts.append(text)
        return "; ".join(parts)

    def to_dict(self) -> JsonObject:
        found: JsonObject = {}
        for line, passing in self.passing.items():
            versions = sorted({v for v, _ in passing}, key=version_tuple)
            found[line] = {
                "oldest": versions[0],
                "newest": versions[-1],
                "backends": sorted({b for _, b in passing}),
            }
        return found


def _span(versions: set[str]) -> str:
    ordered = sorted(versions, key=version_tuple)
    return ordered[0] if len(ordered) == 1 else f"{ordered[0]}-{ordered[-1]}"


def _backend_order(backend: str) -> int:
    return list(BACKENDS).index(backend) if backend in BACKENDS else len(BACKENDS)


def _line_order(line: str) -> int:
    order = ["keras3", "tf-keras", "keras2", "standalone-keras"]
    return order.index(line) if line in order else len(order)


def readers(document: Document) -> dict[tuple[str, str, str, str], Readers]:
    """Per artifact (producer, model, policy, format): who read it through
    Keras (`load_model`, or `load_weights` for a weights file)."""
    envs = {state.id: state for state in document.envs}
    found: dict[tuple[str, str, str, str], Readers] = defaultdict(Readers)
    for cell in document.cells:
        state = envs.get(cell.consumer)
        if cell.loader != "keras" or state is None or not cell.state.measured:
            continue
        version, backend = state.keras, state.env.backend
        if version is None or backend is None:
            continue
        who = (version, backend)
        side = found[(cell.producer, cell.model, cell.policy, cell.format)]
        (side.passing if _reads(cell) else side.failing)[state.env.keras_line].add(who)
    return dict(found)


def _reads(cell: Cell) -> bool:
    """It loads with the loader's defaults and predicts the same."""
    return cell.state.passing


def with_readers(document: Document) -> Document:
    """The document with each artifact's readers (compat.json's `readers`)."""
    found = readers(document)
    artifacts = []
    for artifact in document.artifacts:
        key = (artifact["producer"], artifact["model"], artifact["policy"], artifact["format"])
        side = found.get(key)
        artifacts.append({**artifact, "readers": side.to_dict()} if side else artifact)
    return document.with_(artifacts=tuple(artifacts))
