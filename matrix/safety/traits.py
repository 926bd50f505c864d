"""What a model file says of itself, read as the inspector reads it (no TensorFlow).

The Keras and TensorFlow that wrote it (where the file records them), its
layer classes, the classes from outside Keras, Lambda layers, the optimizer
it was compiled with, its dtype policies, and for a TFLite file its
operators (with their versions) and inputs. `check` predicts from these;
they are read after the inspector found the file within its limits, with
the same limits, and parsed, never loaded.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from matrix.safety import protowire
from matrix.safety.limits import Limits

# Classes that wrap or feed the model rather than compute in it.
STRUCTURE = frozenset({"Functional", "Sequential", "Model", "InputLayer"})
# Keys under which a Keras config nests its layers.
_LAYER_KEYS = ("layers", "layer", "forward_layer", "backward_layer", "cell")


def describe(path: Path, fmt: str, limits: Limits) -> dict[str, Any]:
    """The traits of a file whose format the inspector decided."""
    readers = {
        "h5": _hdf5,
        "weights": _hdf5,
        "keras": _archive,
        "savedmodel": _savedmodel,
        "tflite": _tflite,
        "onnx": _onnx,
        "tfjs-layers": _tfjs,
        "tfjs-graph": _tfjs,
    }
    reader = readers.get(fmt)
    if reader is None:
        return {}
    try:
        return {k: v for k, v in reader(path, limits).items() if v not in (None, [], "")}
    except (
        OSError,
        ValueError,
        KeyError,
        TypeError,
        zipfile.BadZipFile,
        RecursionError,
    ):  # ProtoError is a ValueError
        return {}


def of_config(config: Any) -> dict[str, Any]:
    """Layer classes, classes from outside Keras, Lambda, dtype policies of a
    Keras config (a model's, with or without its compile config)."""
    layers: set[str] = set()
    foreign: set[str] = set()
    policies: set[str] = set()
    for node, key in _walk(config):
        class_name = node.get("class_name")
        if not isinstance(class_name, str):
            continue
        module = node.get("module")
        if key in _LAYER_KEYS or key == "":
            layers.add(class_name)
            if isinstance(module, str) and module.split(".", 1)[0] not in _KERAS:
                foreign.add(f"{module}.{class_name}")
        if class_name in ("DTypePolicy", "Policy", "FloatDTypePolicy") and isinstance(
            node.get("config"), dict
        ):
            policies.add(str(node["config"].get("name")))
        config_of = node.get("config")
        if isinstance(config_of, dict) and isinstance(config_of.get("dtype"), str):
            policies.add(config_of["dtype"])
    return {
        "layers": sorted(layers - STRUCTURE),
        "foreign": sorted(foreign),
        "lambda": "Lambda" in layers,
        "policies": sorted(policies),
    }


_KERAS = frozenset({"keras", "tf_keras", "keras_hub", "keras_nlp", "keras_cv", "builtins"})


def _walk(config: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """Every dict of a config, with the key it sits under ("" at the top)."""
    stack: list[tuple[Any, str]] = [(config, "")]
    seen = 0
    while stack and seen < 2_000_000:
        node, key = stack.pop()
        seen += 1
        if isinstance(node, dict):
            yield node, key
            stack.extend((v, k) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, key) for v in node)


def _optimizer(training: Any) -> str | None:
    """The optimizer's class of a Keras 2 training_config or Keras 3 compile_config."""
    if not isinstance(training, dict):
        return None
    found = training.get("optimizer_config") or training.get("optimizer")
    name = found.get("class_name") if isinstance(found, dict) else found
    return str(name) if isinstance(name, str) else None


def _hdf5(path: Path, limits: Limits) -> dict[str, Any]:
    import h5py

    with h5py.File(path, "r") as handle:
        attrs = {k: _text(handle.attrs[k], limits) for k in handle.attrs}
    found: dict[str, Any] = {
        "keras_version": attrs.get("keras_version"),
        "backend": attrs.get("backend"),
    }
    config = _json(attrs.get("model_config"))
    if config is not None:
        found.update(of_config(config))
    found["optimizer"] = _optimizer(_json(attrs.get("training_config")))
    return found


def _archive(path: Path, limits: Limits) -> dict[str, Any]:
    with zipfile.ZipFile(path) as archive:
        members = {info.filename: info for info in archive.infolist()}

        def read(name: str) -> Any:
            info = members.get(name)
            if info is None or info.file_size > limits.config_bytes:
                return None
            with archive.open(info) as member:
                return _json(member.read(limits.config_bytes + 1).decode("utf-8"))

        config, metadata = read("config.json"), read("metadata.json")
    found: dict[str, Any] = of_config(config) if config is not None else {}
    if isinstance(metadata, dict):
        found["keras_version"] = metadata.get("keras_version")
    if isinstance(config, dict):
        found["optimizer"] = _optimizer(config.get("compile_config"))
    return found


def _savedmodel(path: Path, limits: Limits) -> dict[str, Any]:
    found: dict[str, Any] = {}
    graph = path / "saved_model.pb"
    if graph.is_file() and graph.stat().st_size <= limits.proto_bytes:
        meta = protowire.message(graph.read_bytes(), 2)  # SavedModel.meta_graphs[0]
        info = protowire.message(meta, 1) if meta is not None else None  # MetaInfoDef
        if info is not None:
            found["tensorflow_version"] = protowire.text(info, 5) or None
    metadata = path / "keras_metadata.pb"  # Keras 2 and tf-keras SavedModels
    if metadata.is_file() and metadata.stat().st_size <= limits.proto_bytes:
        for node in protowire.messages(metadata.read_bytes(), 1):
            if protowire.text(node, 3) in ("root", ""):
                root = _json(protowire.text(node, 5))
                if isinstance(root, dict):
                    found.update(of_config(root.get("config") or {}))
                    found["keras_version"] = root.get("keras_version")
                    found["optimizer"] = _optimizer(root.get("training_config"))
                break
    return found


def _tflite(path: Path, limits: Limits) -> dict[str, Any]:
    from matrix.safety.tflite import operator_codes

    if path.stat().st_size > limits.proto_bytes:
        return {}
    codes = operator_codes(path)
    return {
        "ops": sorted({f"{custom or builtin}:v{version}" for builtin, custom, version in codes}),
    }


def _onnx(path: Path, limits: Limits) -> dict[str, Any]:
    from matrix import sniff
    from matrix.safety import onnx

    model_file = sniff.onnx_model_file(path) if path.is_dir() else path
    if model_file is None or model_file.stat().st_size > limits.proto_bytes:
        return {}
    return onnx.describe(model_file, limits)


def _tfjs(path: Path, limits: Limits) -> dict[str, Any]:
    from matrix.safety import tfjs

    return tfjs.describe(path, limits)


def _text(value: Any, limits: Limits) -> str | None:
    if isinstance(value, bytes) and len(value) <= limits.config_bytes:
        return value.decode("utf-8", "replace")
    if isinstance(value, str) and len(value) <= limits.config_bytes:
        return value
    return None


def _json(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None
