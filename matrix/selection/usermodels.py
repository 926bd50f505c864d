"""User models: the user's own .h5, .keras or SavedModel as a row of the matrix.

Declared with `--user-model PATH [--inputs X.npy|X.npz] [--expected Y.npz]
[--custom-objects module.py] [--baseline-env ENV]` or `[[tool.compat-matrix.user-models]]`.
Everything is checked here, before any env starts: a missing file or a
malformed inputs file is a ConfigError naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matrix import sniff
from matrix.paths import user_producer
from matrix.settings import ConfigError, suggest

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEYS = {"path", "name", "inputs", "expected", "custom-objects", "baseline", "policy"}


@dataclass(frozen=True)
class UserModel:
    name: str
    path: Path
    format: str  # h5 | keras | savedmodel
    inputs: Path | None = None
    expected: Path | None = None
    custom_objects: Path | None = None
    baseline: str | None = None  # env id whose outputs are the reference
    policy: str = "float32"  # whose tolerance applies

    @property
    def producer(self) -> str:
        return user_producer(self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path),
            "format": self.format,
            "inputs": str(self.inputs) if self.inputs else None,
            "expected": str(self.expected) if self.expected else None,
            "custom_objects": str(self.custom_objects) if self.custom_objects else None,
            "baseline": self.baseline,
            "policy": self.policy,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UserModel:
        def path(key: str) -> Path | None:
            return Path(data[key]) if data.get(key) else None

        return cls(
            name=data["name"],
            path=Path(data["path"]),
            format=data["format"],
            inputs=path("inputs"),
            expected=path("expected"),
            custom_objects=path("custom_objects"),
            baseline=data.get("baseline"),
            policy=data.get("policy", "float32"),
        )


def parse(entries: Sequence[Mapping[str, Any]], base: Path) -> tuple[UserModel, ...]:
    """Validate declared user models; relative paths are relative to `base`."""
    return tuple(_one(entry, base) for entry in entries)


def check_unique(models: tuple[UserModel, ...]) -> tuple[UserModel, ...]:
    names = [m.name for m in models]
    for name in names:
        if names.count(name) > 1:
            msg = f"Two user models are named {name!r}: give one another name (name = ...)"
            raise ConfigError(msg)
    return models


def _one(entry: Mapping[str, Any], base: Path) -> UserModel:
    if not isinstance(entry, Mapping) or "path" not in entry:
        msg = f"Invalid user model {entry!r}: expected a table with at least path = ..."
        raise ConfigError(msg)
    unknown = set(entry) - _KEYS
    if unknown:
        msg = (
            f"Unknown user-model setting {sorted(unknown)[0]!r}: expected one of "
            f"{', '.join(sorted(_KEYS))}.{suggest(sorted(unknown)[0], _KEYS)}"
        )
        raise ConfigError(msg)
    path = _existing(base, entry["path"], "user model")
    fmt = detect_format(path)
    name = str(entry["name"]) if entry.get("name") else label_for(path)
    if not _NAME.match(name):
        msg = (
            f"Invalid user model name {name!r}: expected letters, digits, '_', '.' "
            f"or '-' (give one with name=)"
        )
        raise ConfigError(msg)
    inputs = _optional(base, entry.get("inputs"), "inputs file")
    expected = _optional(base, entry.get("expected"), "expected-outputs file")
    if expected is not None and inputs is None:
        msg = f"User model {name!r}: expected outputs need the inputs they came from (inputs = ...)"
        raise ConfigError(msg)
    for what, file in (("inputs", inputs), ("expected outputs", expected)):
        if file is not None:
            read_arrays(file, what)
    custom = _optional(base, entry.get("custom-objects"), "custom-objects module")
    if custom is not None and custom.suffix != ".py":
        msg = f"Invalid custom-objects module {custom}: expected a .py file"
        raise ConfigError(msg)
    return UserModel(
        name=name,
        path=path,
        format=fmt,
        inputs=inputs,
        expected=expected,
        custom_objects=custom,
        baseline=_baseline(entry.get("baseline")),
        policy=_policy(entry.get("policy", "float32")),
    )


def label_for(path: Path) -> str:
    """A report label from a file name, whatever bytes or length it has."""
    stem = path.name.split(".")[0] or path.name
    label = re.sub(r"[^A-Za-z0-9_.-]", "_", stem).strip("._-")[:48]
    return label or "model"


def detect_format(path: Path) -> str:
    """The format a user model's row is listed under: what its name claims,
    else what its first bytes are. Whether name and bytes agree, and what the
    file holds, is the inspector's to say (a mismatch is refused there, with
    both named); a file that neither claims nor looks like a model stops here."""
    if path.is_dir():
        found = sniff.content_format(path)
        if found in FOLDER_FORMATS:
            return str(found)
        msg = (
            f"Invalid user model {path}: a folder must be a SavedModel (saved_model.pb "
            "inside), a TF.js model (model.json inside) or an ONNX model with its external "
            "data (one .onnx file inside)"
        )
        raise ConfigError(msg)
    claimed = sniff.claimed_format(path)
    if claimed is not None:
        return claimed
    found = sniff.head_format(path) or sniff.content_format(path)
    if found is not None and found != "zip":
        return found
    msg = (
        f"Invalid user model {path}: expected a .h5, .hdf5, .keras, .tflite or .onnx file, "
        f"or a SavedModel or TF.js folder (or HDF5 / zip / TFLite / ONNX content). "
        f"Received: {path.name!r}"
    )
    raise ConfigError(msg)


# What a user's folder can be, decided by what it holds.
FOLDER_FORMATS = ("savedmodel", "onnx", "tfjs-layers", "tfjs-graph")


def read_arrays(path: Path, what: str) -> list[Any]:
    """Arrays of an .npy or .npz (no pickles), in order: an .npz's `input_0`,
    `input_1`, ... or `output_0`, ... when it has them, else its names sorted."""
    import numpy as np

    try:
        if path.suffix == ".npy":
            return [np.load(path, allow_pickle=False)]
        if path.suffix != ".npz":
            msg = f"Invalid {what} {path}: expected a .npy or .npz file"
            raise ConfigError(msg)
        with np.load(path, allow_pickle=False) as data:
            names = _ordered_names(list(data.files))
            if not names:
                msg = f"Invalid {what} {path}: the .npz holds no arrays"
                raise ConfigError(msg)
            return [data[n] for n in names]
    except ConfigError:
        raise
    except Exception as exc:  # numpy raises many kinds for a bad file
        msg = (
            f"Invalid {what} {path}: expected a numpy .npy/.npz without pickled objects. "
            f"Received error: {exc}"
        )
        raise ConfigError(msg) from exc


def _ordered_names(names: list[str]) -> list[str]:
    for prefix in ("input_", "output_"):
        numbered = [n for n in names if n.startswith(prefix) and n[len(prefix) :].isdigit()]
        if numbered and len(numbered) == len(names):
            return sorted(numbered, key=lambda n: int(n[len(prefix) :]))
    return sorted(names)


def _existing(base: Path, value: Any, what: str) -> Path:
    if not isinstance(value, str) or not value:
        msg = f"Invalid {what} path: expected a string. Received: {value!r}"
        raise ConfigError(msg)
    path = (base / value).resolve()
    if not path.exists():
        msg = f"The {what} {value!r} does not exist (looked at {path})"
        raise ConfigError(msg)
    return path


def _optional(base: Path, value: Any, what: str) -> Path | None:
    return None if value in (None, "") else _existing(base, value, what)


def _baseline(value: Any) -> str | None:
    if value is None:
        return None
    from matrix.selection.env import Env

    try:
        return Env.parse(str(value)).id
    except ValueError as exc:
        raise ConfigError(f"Invalid user-model baseline: {exc}") from exc


def _policy(value: Any) -> str:
    from matrix import axes

    if value not in axes.POLICIES:
        msg = (
            f"Invalid user-model policy {value!r}: expected one of {', '.join(axes.POLICIES)}."
            f"{suggest(value, axes.POLICIES)}"
        )
        raise ConfigError(msg)
    return str(value)
