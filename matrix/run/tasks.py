"""What the host asks a probe to do: one typed task per unit of work.

A probe reads its tasks as JSON (`to_dict`); the field names here are the
ones the probes read (`probes/produce.py`, `probes/consume.py`,
`probes/reference.py`, `probes/loading.py`). Every load task carries the
gate's mark: the probe refuses a task the host's safety gate did not clear.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from matrix.files import JsonObject

GATE_OPEN = "open"  # what the probe checks before it loads anything


def _plain(task: object) -> JsonObject:
    out: JsonObject = {}
    for spec in fields(task):  # type: ignore[arg-type]
        value = getattr(task, spec.name)
        if isinstance(value, tuple):
            value = [list(v) if isinstance(v, tuple) else v for v in value]
        elif isinstance(value, Mapping):
            value = dict(value)
        out[spec.name] = value
    return out


@dataclass(frozen=True)
class ProduceTask:
    """Build, train and save one (model, policy) in every format asked."""

    id: str
    model: str
    policy: str
    reference: str  # where to write the reference inputs and outputs
    formats: Mapping[str, str]  # format -> path to save it at
    # Formats this env's Keras cannot write, with why (axes' capabilities).
    cannot_write: Mapping[str, str] = field(default_factory=dict)
    # How this env's TFLite converter takes a Keras model (axes' capabilities).
    tflite_converter: str = "from_keras_model"
    # A converter env's conversion (axes.CONVERTERS `how`): keras-export,
    # tf2onnx, tensorflowjs.
    conversion: str | None = None

    def to_dict(self) -> JsonObject:
        return _plain(self)


@dataclass(frozen=True, kw_only=True)
class LoadTask:
    """What every load needs: the artifact's files as its manifest lists
    them, the loader, and the gate's word."""

    id: str
    model: str
    format: str
    loader: str
    root: str
    path: str
    files: Mapping[str, str]
    custom_objects_module: str | None = None
    safe_mode: bool = True
    gate: str = GATE_OPEN
    # Classes named with a foreign module that the custom objects must
    # resolve, or the probe refuses the load (safety/gate.py).
    must_resolve: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> JsonObject:
        return _plain(self)


@dataclass(frozen=True, kw_only=True)
class ConsumeTask(LoadTask):
    """Load one artifact through one loader, predict, save the outputs;
    `id` is the cell key the result is stored under."""

    producer: str
    policy: str | None  # the artifact's own policy; None for a user model
    artifact_sha256: str
    reference: str | None
    reference_sha256: str | None
    output: str
    output_own: str
    output_inference: str
    output_batch: str | None = None  # a %s pattern: one file per way of batching
    input_names: tuple[str, ...] | None = None
    output_names: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class ReferenceTask(LoadTask):
    """Load a user model in a baseline env and write its reference outputs."""

    inputs: str | None
    write_reference: str
