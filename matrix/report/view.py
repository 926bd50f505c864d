"""The table model every renderer shares: labels, grids, failing cells.

Renderers (Markdown, HTML) format these; none recomputes them.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from matrix.escape import shorten
from matrix.results.cells import Cell
from matrix.results.document import Document
from matrix.results.known import EXPLAINABLE
from matrix.selection.env import Env
from matrix.status import Status

SILENT_MARK = "⚠️"
# Beside the statuses: cells of a model made to fail (its known cause is by design).
DESIGN_MARK = "🧩"
DESIGN_MEANING = "a model made to fail (a custom layer nobody registered), counted apart"
# Beside a load-error count: how many of those cells load and predict within
# tolerance with `load_model(path, compile=False)` (the inference-only load).
INFERENCE_MARK = "🔧"
INFERENCE_MEANING = (
    "of the load-errors, loads and predicts within tolerance with "
    "load_model(path, compile=False): only the optimizer, loss or metrics failed"
)
SILENT_MEANING = {
    "config": "the loaded model's config differs from the saved one",
    "dtype": "a loaded weight has another dtype than the saved one",
    "nondeterministic": "two predictions in the same process differ",
    "policy": "loading under the artifact's own global policy gives another status",
    "batch": "one example at a time, or padded with zeros to a larger batch, predicts "
    "otherwise than the whole batch (as a server batches requests)",
}
NOT_FAILING = frozenset(s for s in Status if s.passing or s is Status.NOT_APPLICABLE)
MESSAGE_CHARS = 240
# Paths in messages are already anonymised to "<output>/...", "<envdir>/...";
# the rest of the path names one artifact, which would split a group per file.
_PLACEHOLDER_PATH = re.compile(r"(<[a-z]+>)/[^\s'\"]+")
# Numbers TF makes up per process: traced functions
# (`__inference_signature_wrapper_474517`), anonymous variables
# (`_AnonymousVar1092`), object addresses (`at 0x7f3a2b1c9d50`).
_RUNTIME_NUMBER = re.compile(r"(?<=[A-Za-z_])\d{3,}\b|(?<=0x)[0-9a-f]{6,}\b")
_FLAVOUR_LABEL = {
    "keras2": "Keras 2",
    "keras3": "Keras 3",
    "tf-keras": "tf-keras",
    "standalone-keras": "standalone Keras",
}
_BACKEND_LABEL = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
_RUNTIME_LABEL = {
    "litert": "LiteRT",
    "tflite-runtime": "tflite-runtime",
    "onnxruntime": "onnxruntime",
    "tfjs": "TF.js",
}
_CONVERTER_LABEL = {"onnx": "ONNX", "tfjs": "TF.js"}


@dataclass(frozen=True)
class Grid:
    """One producer x consumer table: counts per status (and silent changes)."""

    format: str
    loader: str
    producers: list[str]
    consumers: list[str]
    counts: dict[tuple[str, str], Counter[str]]

    def at(self, producer: str, consumer: str) -> Counter[str]:
        return self.counts.get((producer, consumer), Counter())


def labels(document: Document) -> dict[str, str]:
    found = env_labels({state.id: state.env for state in document.envs})
    frozen = env_labels({g.producer: g.env for g in document.gold})
    found.update({producer: f"{label}, frozen" for producer, label in frozen.items()})
    found.update({p: p for p in document.producers if p not in found})
    return found


def env_labels(envs: Mapping[str, Env]) -> dict[str, str]:
    """Labels in a user's words: "TF 2.15 (Keras 2)", "TF 2.21 (tf-keras)",
    "LiteRT 2.3", plus whatever else (Python, device, oneDNN off) differs
    between the envs."""
    variants = {_variant(env) for env in envs.values()}
    pythons = {env.python for env in envs.values()}
    found = {}
    for key, env in envs.items():
        label = release_label(env)
        if len(pythons) > 1:
            label += f" py{env.python}"
        if len(variants) > 1 and _variant(env):
            label += " " + " ".join(_variant(env))
        found[key] = label
    return found


def release_label(env: Env) -> str:
    """What an env runs, as its users name it (a pinned Keras by its version)."""
    if env.release.interpreter_only:  # a TFLite runtime: its name and version
        family = env.release.family
        if env.exact:
            return f"{_RUNTIME_LABEL.get(family, family)} {env.exact}"
        if env.release.untabled:
            return f"{_RUNTIME_LABEL.get(family, family)} {env.release.untabled} (untabled)"
        return f"{_RUNTIME_LABEL.get(family, family)} {env.release.minor}"
    if env.release.keras_minor:  # a Keras 3 minor on one of its backends
        backend = _BACKEND_LABEL.get(env.flavour, env.flavour)
        if env.exact:
            return f"Keras {env.exact} ({backend})"
        if env.release.untabled:
            return f"Keras {env.release.untabled} ({backend}, untabled)"
        return f"Keras {env.release.minor} ({backend})"
    keras = f"Keras {env.keras}" if env.keras else _FLAVOUR_LABEL.get(env.flavour, env.flavour)
    if env.exact:
        return f"TF {env.exact} ({keras})"
    if env.release.untabled:  # found on the package index, not in the table
        return f"TF {env.release.untabled} ({keras}, untabled)"
    if env.converter:  # the zoo converted for another runtime
        return f"TF {env.tf} ({keras}) → {_CONVERTER_LABEL.get(env.converter, env.converter)}"
    return f"TF {env.tf} ({keras})"


def _variant(env: Env) -> tuple[str, ...]:
    """What sets an env apart from another of its release and flavour."""
    return (
        *(["GPU"] if env.device == "gpu" else []),
        *(["oneDNN off"] if env.onednn_off else []),
    )


def env_ids(document: Document) -> tuple[list[str], list[str]]:
    """Producers (envs, then user models) and consumers, in plan order. An
    old-era env (TF 1.15-2.4) only saves: it is a row, never a column."""
    every = [state.id for state in document.envs]
    return list(document.producers or every), document.consumers


def grids(document: Document) -> list[Grid]:
    tallies: dict[tuple[str, str], dict[tuple[str, str], Counter[str]]] = defaultdict(
        lambda: defaultdict(Counter)
    )
    designed = by_design(document)
    for cell in document.cells:
        tally = tallies[(cell.format, cell.loader)][(cell.producer, cell.consumer)]
        # A model made to fail is counted apart: it must not make every
        # square it sits in look broken.
        tally[DESIGN_MARK if cell.known in designed else cell.status] += 1
        if cell.silent_changes:
            tally[SILENT_MARK] += 1
        if inference_passes(cell):
            tally[INFERENCE_MARK] += 1
    producers, consumers = env_ids(document)
    found = []
    for fmt in document.run["selection"]["formats"] + _user_formats(document):
        for loader in document.run["selection"]["loaders"]:
            counts = tallies.pop((fmt, loader), None)
            if counts:
                rows = [p for p in producers if any((p, c) in counts for c in consumers)]
                # Only the envs that read this format (a TFLite runtime reads no h5).
                columns = [c for c in consumers if any((p, c) in counts for p in rows)]
                found.append(Grid(fmt, loader, rows, columns, dict(counts)))
    return found


def by_design(document: Document) -> set[str]:
    """The known causes of models made to fail (the zoo's unregistered layer)."""
    return {k for k, cause in (document.causes or {}).items() if cause.get("kind") == "by-design"}


def _user_formats(document: Document) -> list[str]:
    """User models can bring a format the zoo selection left out."""
    selected = set(document.run["selection"]["formats"])
    extra = {a["format"] for a in document.artifacts if a["format"] not in selected}
    return sorted(extra)


def cell_id(cell: Cell) -> str:
    """producer/consumer/model/policy/format/loader: how a cell is named to
    `python -m matrix repro`."""
    return cell.id


def inference_passes(cell: Cell) -> bool:
    """A failing default load whose compile=False load predicts within tolerance."""
    return cell.inference_passes


def ordered(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """Status counts in legend order, the silent-change mark left out."""
    order = [s.value for s in Status]
    return sorted(
        ((s, n) for s, n in counts.items() if s in order), key=lambda item: order.index(item[0])
    )


def failing(document: Document) -> dict[Status, list[Cell]]:
    """Every cell that is neither passing nor not-applicable, by status."""
    found: dict[Status, list[Cell]] = defaultdict(list)
    for cell in document.cells:
        status = cell.state
        if status not in NOT_FAILING:
            found[status].append(cell)
    return found


@dataclass
class ErrorGroup:
    """Failing cells of one status with one known cause, or (unexplained)
    that raised the same message."""

    status: Status
    error_type: str
    message: str
    cells: list[Cell] = field(default_factory=list)
    cause: str | None = None  # the known cause's id

    @property
    def inference_ok(self) -> int:
        return sum(1 for cell in self.cells if inference_passes(cell))

    def values(self, key: str) -> list[str]:
        """The distinct values of `key` over the group, in first-seen order."""
        return list(dict.fromkeys(str(getattr(cell, key)) for cell in self.cells))


def error_groups(cells: list[Cell]) -> list[ErrorGroup]:
    """Cells grouped by (status, error type, message with artifact paths
    shortened), largest group first: a full matrix repeats one cause across
    thousands of cells, and one row per cause is what a reader can take in."""
    groups: dict[tuple[str, str, str], ErrorGroup] = {}
    for cell in cells:
        message = group_message(cell)
        cause = cell.known
        # One row per known cause (its cells' messages vary: LSTM and GRU,
        # one layer name or another); one row per message for the rest.
        key = (cell.status, "", cause) if cause else (cell.status, cell.error_type or "", message)
        if key not in groups:
            groups[key] = ErrorGroup(cell.state, key[1], message, cause=cause)
        groups[key].cells.append(cell)
    return sorted(groups.values(), key=lambda g: (-len(g.cells), g.error_type, g.message))


def group_message(cell: Cell) -> str:
    """A cell's message as groups compare it: artifact paths, numbers TF makes
    up per process and long configs shortened."""
    message = _PLACEHOLDER_PATH.sub(r"\1/…", cell.error or cell.reason or "")
    message = _RUNTIME_NUMBER.sub("N", message)
    # Renderers show the start of a message; cells that agree on it belong together.
    message = _without_long_mappings(" ".join(message.split()))
    return shorten(message + _wrapped_cause(cell), MESSAGE_CHARS)


def unexplained(document: Document) -> list[Cell]:
    """Failing cells no known cause explains: harness defects or upstream
    regressions worth reporting."""
    return [
        cell
        for cells in failing(document).values()
        for cell in cells
        if cell.status in EXPLAINABLE and not cell.known
    ]


def _wrapped_cause(cell: Cell) -> str:
    """Keras wraps a deserializing error as "Error when deserializing class X
    using config={...}" and states the cause on the traceback's last line."""
    last = (cell.error_text or "").rstrip().rsplit("\n", 1)[-1].strip()
    found = last.startswith("Exception encountered:") and last not in (cell.error or "")
    return " " + last if found else ""


def _without_long_mappings(text: str, longest: int = 80) -> str:
    """`{...}` spans longer than `longest` shortened to `{…}`: a long dict in a
    message is a whole model or layer config, which names the model and would
    split one cause into a group per model; the words after it (the cause,
    often) are kept."""
    kept, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "{":
            if depth == 0:
                kept.append(text[start:i])
                start = i
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                span = text[start : i + 1]
                kept.append("{…}" if len(span) > longest else span)
                start = i + 1
    tail = text[start:]
    kept.append("{…}" if depth and len(tail) > longest else tail)
    return "".join(kept)


def silent_details(cell: Cell) -> list[str]:
    """What changed, in words, for a cell with silent changes."""
    what = [f"config: {change}" for change in cell.config_drift or []]
    what += [f"dtype: {change}" for change in cell.dtype_drift or []]
    own = cell.own_policy
    what += [f"dtype under {cell.policy}: {c}" for c in (own.dtype_drift if own else None) or []]
    if cell.nondeterministic:
        what.append("two predictions in one process differ")
    if cell.policy_sensitive and own is not None:
        what.append(f"under global {cell.policy}: {own.status} {own.error or ''}")
    batch = cell.batch or {}
    for way, words in (("one_at_a_time", "one example at a time"),
                       ("padded", f"padded to {batch.get('padded_to')}")):  # fmt: skip
        part = batch.get(way) or {}
        if part.get("status") not in (None, "identical", "close"):
            size = f", max abs {part['max_abs']:.3g}" if part.get("max_abs") is not None else ""
            what.append(
                f"batch: {words}: {part['status']}{size} {part.get('detail') or ''}".strip()
            )
    return what


@dataclass
class Disagreement:
    """Cells of one producer and consumer where the TF2 object API
    (`saved-model`) and the model server's path (`serving`) part ways."""

    producer: str
    consumer: str
    serving: Counter[str] = field(default_factory=Counter)
    saved_model: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(self.serving.values())


def loader_disagreements(document: Document) -> list[Disagreement]:
    """Where one of saved-model and serving passes and the other does not."""
    by_key = {
        (c.producer, c.consumer, c.model, c.policy, c.format): c
        for c in document.cells
        if c.loader == "saved-model"
    }
    found: dict[tuple[str, str], Disagreement] = {}
    for cell in document.cells:
        if cell.loader != "serving":
            continue
        other = by_key.get((cell.producer, cell.consumer, cell.model, cell.policy, cell.format))
        if other is None or cell.state.passing == other.state.passing:
            continue
        if Status.NOT_APPLICABLE.value in (cell.status, other.status):
            continue
        pair = found.setdefault(
            (cell.producer, cell.consumer), Disagreement(cell.producer, cell.consumer)
        )
        pair.serving[cell.status] += 1
        pair.saved_model[other.status] += 1
        failing = other if cell.state.passing else cell
        message = group_message(failing)
        if message and message not in pair.examples:
            pair.examples.append(message)
    return sorted(found.values(), key=lambda d: -d.count)
