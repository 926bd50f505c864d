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
    "zip": "a zip without config.json (not a Keras archive)",
    None: "neither HDF5, nor a zip, nor a TFLite flatbuffer, nor a SavedModel folder",
}
# What a name says; a name outside this table claims nothing.
SUFFIXES = {".h5": "h5", ".hdf5": "h5", ".keras": "keras", ".tflite": "tflite"}
MODEL_FORMATS = ("h5", "keras", "savedmodel", "tflite")


def content_format(path: Path) -> str | None:
    """h5, keras, savedmodel, zip (not a Keras archive) or None (unknown)."""
    if path.is_dir():
        return "savedmodel" if any((path / name).is_file() for name in SAVEDMODEL_FILES) else None
    found = head_format(path)
    if found != "keras":
        return found
    try:  # a zip: a Keras archive only with its config.json
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    return "keras" if "config.json" in names else "zip"


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
    """What the name says: a folder claims a SavedModel, a suffix its format."""
    if path.is_dir():
        return "savedmodel"
    return SUFFIXES.get(path.suffix.lower())


def mismatch(path: Path, claimed: str | None, found: str | None) -> str | None:
    """Why a name and its bytes disagree, or None when they agree."""
    if found in MODEL_FORMATS and claimed in (None, found):
        return None
    said = f"its name says {DESCRIPTIONS[claimed]}" if claimed else "its name claims no format"
    return f"{path.name}: {said}, but its bytes are {DESCRIPTIONS[found]}"
