"""Inspect an .onnx model: parsed field by field, never loaded.

An ONNX file is a protobuf `ModelProto` (onnx/onnx.proto): its graph's nodes
are operators of named domains that a runtime has kernels for. It holds no
Python, with two ways out of the file: an operator of a domain the runtime
only has with a custom-op library (`ai.onnx.contrib` is onnxruntime-
extensions', whose `PyOp` runs Python), and tensors whose bytes live in
*external data* files named by a path, which a runtime opens relative to the
model. A path that is absolute, climbs out (`..`) or is not a plain file
beside the model is refused; so are tensors whose declared sizes pass the
limits (a runtime allocates them when it loads), and anything that does
not parse. Subgraphs (If, Loop, Scan bodies) are read like the main graph.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from matrix.safety import protowire
from matrix.safety.findings import Finding, Kind, Scope, oversized, unreadable
from matrix.safety.limits import Limits

# ModelProto: ir_version 1, producer_name 2, producer_version 3, graph 7,
# opset_import 8. GraphProto: node 1, initializer 5, sparse_initializer 15.
# NodeProto: op_type 4, domain 7, attribute 5. AttributeProto: t 5, g 6,
# tensors 10, graphs 11. TensorProto: dims 1, data_type 2, name 8,
# raw_data 9, external_data 13 (key 1, value 2), data_location 14.
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training",
                              "ai.onnx.preview.training", "com.microsoft"})  # fmt: skip
PYTHON_DOMAINS = frozenset({"ai.onnx.contrib"})  # onnxruntime-extensions: PyOp runs Python
EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
# Bytes per element of TensorProto.DataType (0 undefined .. 23); 8 for unknown ones.
_TYPE_BYTES = dict(enumerate(
    (0, 4, 1, 1, 2, 2, 4, 8, 8, 1, 2, 8, 4, 8, 8, 16, 2, 1, 1, 1, 1, 1, 1, 1)))  # fmt: skip
MAX_DEPTH = 32  # nested subgraphs


@dataclass
class Model:
    """What a parse found: operators by domain, opsets, tensors' sizes."""

    ir_version: int = 0
    producer: str = ""
    opsets: dict[str, int] = field(default_factory=dict)
    ops: set[tuple[str, str]] = field(default_factory=set)  # (domain, op_type)
    declared_bytes: int = 0
    external: list[tuple[str, int, int]] = field(default_factory=list)  # (location, offset, length)
    nodes: int = 0


def is_onnx(data: bytes) -> bool:
    """Whether bytes parse as a ModelProto with an IR version and a graph."""
    try:
        numbers = {number for number, _, _ in protowire.fields(data)}
    except protowire.ProtoError:
        return False
    return 1 in numbers and 7 in numbers


def parse(data: bytes, limits: Limits) -> Model:
    """The model's operators, opsets and tensors; ProtoError if malformed."""
    model = Model()
    for number, wire, value in protowire.fields(data):
        if number == 1 and wire == protowire.VARINT:
            model.ir_version = int(value)
        elif number == 2 and isinstance(value, memoryview):
            model.producer = bytes(value).decode("utf-8", "replace")
        elif number == 8 and isinstance(value, memoryview):
            domain = protowire.text(value, 1)
            versions = [int(v) for n, w, v in protowire.fields(value)
                        if n == 2 and w == protowire.VARINT]  # fmt: skip
            model.opsets[domain] = versions[-1] if versions else 0
    graph = protowire.message(data, 7)
    if graph is None:
        raise protowire.ProtoError("no graph")
    _graph(graph, model, limits, 0)
    return model


def _graph(graph: memoryview, model: Model, limits: Limits, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise protowire.ProtoError(f"subgraphs nested deeper than {MAX_DEPTH}")
    for tensor in [*protowire.messages(graph, 5), *_sparse_values(graph)]:
        _tensor(tensor, model)
    for node in protowire.messages(graph, 1):
        model.nodes += 1
        if model.nodes > limits.members:
            raise _TooMany(f"more than {limits.members} nodes")
        model.ops.add((protowire.text(node, 7), protowire.text(node, 4)))
        for attribute in protowire.messages(node, 5):
            for tensor in [*protowire.messages(attribute, 5), *protowire.messages(attribute, 10)]:
                _tensor(tensor, model)
            for sub in [*protowire.messages(attribute, 6), *protowire.messages(attribute, 11)]:
                _graph(sub, model, limits, depth + 1)


def _sparse_values(graph: memoryview) -> Iterator[memoryview]:
    for sparse in protowire.messages(graph, 15):  # SparseTensorProto: values 1, indices 2
        yield from protowire.messages(sparse, 1)
        yield from protowire.messages(sparse, 2)


class _TooMany(protowire.ProtoError):
    """Past a count limit (a resource finding, not a malformed file)."""


def _tensor(tensor: memoryview, model: Model) -> None:
    dims: list[int] = []
    data_type, location = 0, 0
    external: dict[str, str] = {}
    for number, wire, value in protowire.fields(tensor):
        if number == 1 and wire == protowire.VARINT:
            dims.append(int(value))
        elif number == 1 and isinstance(value, memoryview):  # packed
            dims += _packed(value)
        elif number == 2 and wire == protowire.VARINT:
            data_type = int(value)
        elif number == 14 and wire == protowire.VARINT:
            location = int(value)
        elif number == 13 and isinstance(value, memoryview):
            external[protowire.text(value, 1)] = protowire.text(value, 2)
    count = 1
    for dim in dims:
        count *= max(dim, 0)
    model.declared_bytes += count * _TYPE_BYTES.get(data_type, 8)
    if location == EXTERNAL:
        offset, length = _number(external.get("offset")), _number(external.get("length"))
        model.external.append((external.get("location", ""), offset, length))


def _packed(value: memoryview) -> list[int]:
    found, position = [], 0
    while position < len(value):
        number, position = protowire._varint(value, position)
        found.append(number)
    return found


def _number(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError as exc:
        raise protowire.ProtoError(f"external data offset/length {text!r} is not a number") from exc


def inspect_onnx(path: Path, model_file: Path, limits: Limits, where: str) -> list[Finding]:
    """Findings of an .onnx file (`path`: the file, or the folder holding it
    and its external data; `model_file`: the .onnx itself)."""
    size = model_file.stat().st_size
    if size > limits.proto_bytes:
        return [oversized(f"a {size}-byte model, over the {limits.proto_bytes}-byte limit", where)]
    try:
        model = parse(model_file.read_bytes(), limits)
    except _TooMany as exc:
        return [oversized(str(exc), where)]
    except (protowire.ProtoError, RecursionError) as exc:
        return [unreadable(f"not a well-formed ONNX ModelProto ({exc})", where)]
    findings = _operator_findings(model, where)
    folder = path if path.is_dir() else None
    stored = size
    for location, offset, length in model.external:
        problem, bytes_there = _external(folder, location, offset, length)
        if problem is not None:
            findings.append(Finding(Kind.OUTSIDE, problem, where, Scope.WEIGHTS))
        stored += bytes_there
    if model.declared_bytes > limits.allowed_expansion(stored):
        findings.append(oversized(
            f"tensors declaring {model.declared_bytes} bytes from {stored} stored",
            where))  # fmt: skip
    return findings


def _operator_findings(model: Model, where: str) -> list[Finding]:
    found = []
    for domain, op in sorted(model.ops):
        if domain in PYTHON_DOMAINS:
            found.append(Finding(Kind.CODE, f"{op} op of {domain} (onnxruntime-extensions, "
                                 "which runs Python for PyOp)", where, Scope.GRAPH))  # fmt: skip
        elif domain not in STANDARD_DOMAINS:
            found.append(Finding(Kind.CUSTOM, f"{op} op of the custom domain {domain!r}",
                                 where, Scope.GRAPH))  # fmt: skip
    return found


def _external(
    folder: Path | None, location: str, offset: int, length: int
) -> tuple[str | None, int]:
    """Why an external data file is refused (None: it is fine), and its size."""
    name = PurePosixPath(location)
    if not location or name.is_absolute() or ".." in name.parts or "\\" in location:
        return f"external data at {location!r}: not a plain path inside the model's folder", 0
    if folder is None:
        return (f"external data at {location!r}: a lone .onnx file has no folder to keep it "
                "(give the folder)"), 0  # fmt: skip
    target = folder.joinpath(*name.parts)
    try:
        mode = os.lstat(target).st_mode
    except OSError:
        return f"external data at {location!r}: no such file in the model's folder", 0
    if not stat.S_ISREG(mode):
        return f"external data at {location!r}: not a plain file", 0
    size = target.stat().st_size
    if offset < 0 or length < 0 or offset + length > size:
        return f"external data at {location!r}: bytes {offset}+{length} past its {size}", 0
    return None, size


def describe(model_file: Path, limits: Limits) -> dict[str, object]:
    """The file's traits: its opsets, producer, operators (what `check` and
    the report read)."""
    model = parse(model_file.read_bytes(), limits)
    return {
        "onnx_ir_version": model.ir_version,
        "onnx_producer": model.producer,
        "opsets": {k or "ai.onnx": v for k, v in sorted(model.opsets.items())},
        "ops": sorted(f"{d or 'ai.onnx'}:{op}" for d, op in model.ops),
    }
