"""What a model file is, decided by its bytes; and what its name claims.

The two are compared by the caller: a `.keras` name over HDF5 bytes is the
exact shape of a known safe_mode bypass (Keras 2 and tf-keras send any
non-zip file to the legacy h5 loader, which has no safe_mode), so a mismatch
is refused, never resolved in favour of either side.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_LOCAL_HEADER = b"PK\x03\x04"
TFLITE_IDENTIFIER = b"TFL3"  # a FlatBuffer's file identifier, bytes 4-8
SAVEDMODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")

# What each content is called in messages.
DESCRIPTIONS = {
    "h5": "HDF5 (a legacy .h5 model)",
    "keras": "a Keras v3 zip",
    "savedmodel": "a SavedModel folder",
    "tflite": "a TFLite flatbuffer",
    "onnx": "an ONNX model (protobuf)",
    "tfjs-layers": "a TF.js layers model folder",
    "tfjs-graph": "a TF.js graph model folder",
    "zip": "a zip without config.json (not a Keras archive)",
    None: "neither HDF5, nor a zip, nor a TFLite flatbuffer, nor ONNX, nor a SavedModel "
    "or TF.js folder",
}
# What a name says; a name outside this table claims nothing.
SUFFIXES = {".h5": "h5", ".hdf5": "h5", ".keras": "keras", ".tflite": "tflite", ".onnx": "onnx"}
MODEL_FORMATS = ("h5", "keras", "savedmodel", "tflite", "onnx", "tfjs-layers", "tfjs-graph")
# The largest .onnx head read to tell it by content (the whole file is
# parsed later by the inspector, within its limits).
ONNX_PROBE_BYTES = 64 * 2**20


def content_format(path: Path) -> str | None:
    """h5, keras, savedmodel, tflite, onnx, tfjs-layers, tfjs-graph, zip (not
    a Keras archive) or None (unknown). A folder is a SavedModel, a TF.js
    model (its model.json says which), or an ONNX model with its external
    data (exactly one file in it parses as an ONNX model)."""
    if path.is_dir():
        return _folder_format(path)
    found = head_format(path)
    if found is None and _onnx_file(path):
        return "onnx"
    if found != "keras":
        return found
    try:  # a zip: a Keras archive only with its config.json
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    return "keras" if "config.json" in names else "zip"


def _folder_format(path: Path) -> str | None:
    if any((path / name).is_file() for name in SAVEDMODEL_FILES):
        return "savedmodel"
    from matrix.safety import tfjs
    from matrix.safety.limits import DEFAULT

    data = tfjs.read_model_json(path, DEFAULT)
    if data is not None:
        return tfjs.format_of(data)
    return "onnx" if onnx_model_file(path) is not None else None


def onnx_model_file(folder: Path) -> Path | None:
    """The one file of a folder whose bytes are an ONNX model, if exactly one."""
    found = [p for p in sorted(folder.iterdir()) if p.is_file() and not p.is_symlink()
             and _onnx_file(p)]  # fmt: skip
    return found[0] if len(found) == 1 else None


def _onnx_file(path: Path) -> bool:
    from matrix.safety import onnx

    try:
        if path.stat().st_size > ONNX_PROBE_BYTES:
            with path.open("rb") as handle:
                head = handle.read(16)
            # A large file: its first field must be ir_version (tag 0x08).
            return head[:1] == b"\x08"
        return onnx.is_onnx(path.read_bytes())
    except OSError:
        return False


def head_format(path: Path) -> str | None:
    """h5, keras (any zip) or tflite from the first bytes alone (no archive
    is opened)."""
    with path.open("rb") as handle:
        head = handle.read(len(HDF5_SIGNATURE))
    if head == HDF5_SIGNATURE:
        return "h5"
    if head[4:8] == TFLITE_IDENTIFIER:
        return "tflite"
    return "keras" if head.startswith(ZIP_LOCAL_HEADER) else None


def claimed_format(path: Path) -> str | None:
    """What the name says: a folder claims a SavedModel (or, holding a
    model.json, a TF.js model; or an .onnx file, an ONNX model), a suffix
    its format."""
    if path.is_dir():
        if (path / "model.json").exists():
            return None  # its content says which TF.js model
        if any(p.suffix.lower() == ".onnx" for p in path.iterdir()):
            return "onnx"
        return "savedmodel"
    return SUFFIXES.get(path.suffix.lower())


def mismatch(path: Path, claimed: str | None, found: str | None) -> str | None:
    """Why a name and its bytes disagree, or None when they agree."""
    if found in MODEL_FORMATS and claimed in (None, found):
        return None
    said = f"its name says {DESCRIPTIONS[claimed]}" if claimed else "its name claims no format"
    return f"{path.name}: {said}, but its bytes are {DESCRIPTIONS[found]}"
