"""Inspect a TensorFlow.js model folder: model.json parsed, never loaded.

A TF.js model is a `model.json` (a Keras config for a layers model, a
GraphDef as JSON for a graph model) and binary weight shards its
`weightsManifest` names by path. TF.js runs no Python; what reaches outside
the folder is a shard path: absolute, a URL, climbing out (`..`), or not a
plain file in the folder, each refused. Weights that declare more bytes
than the shards hold (past the limits' expansion) are a bomb: the runtime
allocates them as declared. A layers model's classes that TF.js does not
ship need a registered JavaScript class (a `custom` finding).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path, PurePosixPath
from typing import Any

from matrix.safety.findings import Finding, Kind, Scope, oversized, unreadable
from matrix.safety.limits import Limits

MODEL_JSON = "model.json"
_DTYPE_BYTES = {"float32": 4, "int32": 4, "bool": 1, "complex64": 8, "string": 1,
                "uint8": 1, "uint16": 2, "float16": 2, "int8": 1, "int16": 2}  # fmt: skip


def read_model_json(folder: Path, limits: Limits) -> dict[str, Any] | None:
    """model.json as an object, or None when it is not one (or too large)."""
    path = folder / MODEL_JSON
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return None
    if not stat.S_ISREG(mode) or path.stat().st_size > limits.config_bytes:
        return None
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def format_of(data: dict[str, Any]) -> str | None:
    """tfjs-layers or tfjs-graph from model.json's content (never its name)."""
    if not isinstance(data.get("weightsManifest"), list):
        return None
    topology = data.get("modelTopology")
    declared = data.get("format")
    if declared == "graph-model" or (isinstance(topology, dict) and "node" in topology):
        return "tfjs-graph"
    keras_config = isinstance(topology, dict) and (
        "class_name" in topology or "model_config" in topology
    )
    if declared == "layers-model" or keras_config:
        return "tfjs-layers"
    return None


def inspect_tfjs(folder: Path, limits: Limits, where: str) -> list[Finding]:
    data = read_model_json(folder, limits)
    if data is None or format_of(data) is None:
        return [unreadable("model.json is not a TF.js model (weightsManifest, modelTopology)",
                           where)]  # fmt: skip
    findings: list[Finding] = []
    stored, declared = 0, 0
    for group in data["weightsManifest"]:
        if not isinstance(group, dict) or not isinstance(group.get("paths"), list):
            return [unreadable("a weightsManifest entry without paths", where)]
        for shard in group["paths"]:
            problem, size = _shard(folder, shard)
            if problem is not None:
                findings.append(Finding(Kind.OUTSIDE, problem, where, Scope.WEIGHTS))
            stored += size
        for weight in group.get("weights") or ():
            declared += _declared(weight)
    if declared > limits.allowed_expansion(stored):
        findings.append(oversized(f"weights declaring {declared} bytes from {stored} stored",
                                  where))  # fmt: skip
    return findings


def _shard(folder: Path, shard: Any) -> tuple[str | None, int]:
    if not isinstance(shard, str) or not shard:
        return f"weight shard {shard!r}: not a path", 0
    name = PurePosixPath(shard)
    if name.is_absolute() or ".." in name.parts or "\\" in shard or ":" in shard:
        return f"weight shard {shard!r}: not a plain path inside the model's folder", 0
    target = folder.joinpath(*name.parts)
    try:
        mode = os.lstat(target).st_mode
    except OSError:
        return f"weight shard {shard!r}: no such file in the model's folder", 0
    if not stat.S_ISREG(mode):
        return f"weight shard {shard!r}: not a plain file", 0
    return None, target.stat().st_size


def _declared(weight: Any) -> int:
    if not isinstance(weight, dict):
        return 0
    count = 1
    for dim in weight.get("shape") or ():
        count *= max(int(dim), 0) if isinstance(dim, int) else 0
    quantized = weight.get("quantization")
    dtype = quantized.get("dtype") if isinstance(quantized, dict) else weight.get("dtype")
    return count * _DTYPE_BYTES.get(str(dtype), 4)


def describe(folder: Path, limits: Limits) -> dict[str, Any]:
    """The folder's traits: its format, converter, layer classes or ops."""
    from matrix.safety.traits import of_config

    data = read_model_json(folder, limits) or {}
    found: dict[str, Any] = {"tfjs_format": format_of(data),
                             "converted_by": data.get("convertedBy"),
                             "generated_by": data.get("generatedBy")}  # fmt: skip
    topology = data.get("modelTopology")
    if found["tfjs_format"] == "tfjs-layers" and isinstance(topology, dict):
        config = topology.get("model_config", topology)
        found.update(of_config(config))
        found["keras_version"] = topology.get("keras_version")
    elif isinstance(topology, dict):
        found["ops"] = sorted({str(n.get("op")) for n in topology.get("node") or ()
                               if isinstance(n, dict)})  # fmt: skip
    return found
