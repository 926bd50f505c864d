"""Inspect a .tflite model: every operator code, every tensor's declared size.

A TFLite flatbuffer holds no Python: its operators are builtin kernels, or
custom ops the interpreter must have registered. The one way a model reaches
outside itself is the Flex delegate, which runs TensorFlow ops by name
(`FlexWriteFile`, ...) where the interpreter links it (TensorFlow's own
`tf.lite.Interpreter` does): such ops are judged as the same ops in a
SavedModel graph. A model whose tensors declare more memory than the limits
allow is a bomb: the interpreter would allocate it on `allocate_tensors`.
The flatbuffer is read with the strict reader (`flatbuffer.py`).
"""

from __future__ import annotations

from pathlib import Path

from matrix.safety.findings import Finding, Kind, Scope, oversized, unreadable
from matrix.safety.flatbuffer import Buffer, FlatBufferError, Table
from matrix.safety.limits import Limits
from matrix.safety.savedmodel import REACHING_OPS
from matrix.sniff import TFLITE_IDENTIFIER

CUSTOM_OPERATOR = 32  # BuiltinOperator.CUSTOM in the TFLite schema
FLEX_PREFIX = "Flex"  # a custom op the Flex delegate runs as a TensorFlow op
# Bytes per element of each TensorType (schema order); 4 for any unknown type.
_TYPE_BYTES = (4, 2, 4, 1, 8, 8, 1, 2, 8, 1, 2, 8, 4, 8, 4, 16, 4, 1, 2, 8)

# Model fields (schema.fbs): operator_codes 1, subgraphs 2, buffers 4.
# OperatorCode: deprecated_builtin_code 0, custom_code 1, version 2, builtin_code 3.
# SubGraph: tensors 0, operators 3. Tensor: shape 0, type 1.


def inspect_tflite(path: Path, limits: Limits, where: str) -> list[Finding]:
    size = path.stat().st_size
    if size > limits.proto_bytes:
        return [oversized(f"a {size}-byte model, over the {limits.proto_bytes}-byte limit", where)]
    data = path.read_bytes()
    try:
        buffer = Buffer(data)
        if buffer.identifier() != TFLITE_IDENTIFIER:
            return [unreadable("no TFLite file identifier", where)]
        model = buffer.root()
        return [
            *_operator_findings(model, where),
            *_size_findings(model, size, limits, where),
            *_buffer_findings(model, size, where),
        ]
    except FlatBufferError as exc:
        return [unreadable(str(exc), where)]


def operator_codes(path: Path) -> list[tuple[int, str | None, int]]:
    """(builtin code, custom code, version) of each operator a model uses."""
    model = Buffer(path.read_bytes()).root()
    return [_code(op) for op in model.tables(1)]


def _code(op: Table) -> tuple[int, str | None, int]:
    # Old files keep the code in the byte field; new ones in the int32 one.
    builtin = max(op.scalar(0, "u8"), op.scalar(3, "i32"))
    return builtin, op.string(1), op.scalar(2, "i32", default=1)


def _operator_findings(model: Table, where: str) -> list[Finding]:
    found = []
    for builtin, custom, _version in (_code(op) for op in model.tables(1)):
        if builtin != CUSTOM_OPERATOR or custom is None:
            continue
        if custom.startswith(FLEX_PREFIX) and custom[len(FLEX_PREFIX) :] in REACHING_OPS:
            op = custom[len(FLEX_PREFIX) :]
            what = f"{custom} op (TensorFlow's {op} through the Flex delegate: it reaches "
            what += f"{REACHING_OPS[op]})"
            found.append(Finding(Kind.OUTSIDE, what, f"operator codes of {where}", Scope.GRAPH))
        else:
            what = f"custom op {custom!r}: loads only where the interpreter registers it"
            found.append(Finding(Kind.CUSTOM, what, f"operator codes of {where}", Scope.GRAPH))
    return found


def _buffer_findings(model: Table, stored: int, where: str) -> list[Finding]:
    """Buffers kept after the flatbuffer (models over 2 GB) must lie in the file."""
    for index, buffer in enumerate(model.tables(4)):
        offset, size = buffer.scalar(1, "i64"), buffer.scalar(2, "i64")
        if offset > 1 and (offset < 0 or size < 0 or offset + size > stored):
            what = f"buffer {index} points at bytes {offset}-{offset + size}, past {stored}"
            return [unreadable(what, f"buffers of {where}")]
    return []


def _size_findings(model: Table, stored: int, limits: Limits, where: str) -> list[Finding]:
    """Tensors whose declared sizes add up to more than a model of this file
    size could need: the interpreter allocates them all."""
    declared = 0
    for subgraph in model.tables(2):
        for tensor in subgraph.tables(0):
            elements = 1
            for dim in tensor.ints(0):
                elements *= max(dim, 1)  # -1: a dynamic dimension, resized to the input
            kind = tensor.scalar(1, "u8")
            declared += elements * (_TYPE_BYTES[kind] if kind < len(_TYPE_BYTES) else 4)
    allowed = limits.allowed_expansion(stored)
    if declared > allowed:
        what = f"tensors declaring {declared} bytes, over the {allowed} bytes allowed"
        return [oversized(what, f"tensors of {where}")]
    return []
