"""What an inspection finds in a model file, as records that round-trip to JSON.

A finding names what would run code or reach outside the model, where it
sits, and which part of a load would meet it (its scope): the Keras config
(read by `load_model`), the TensorFlow graph (run by every SavedModel loader
and by Keras 2 reviving a SavedModel), or the stored weights (read by every
loader, the weights rebuild included). The gate compares scopes with what a
loader reads; it never looks at a file's name.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from matrix.status import NamedEnum

# Bump when an inspector changes what it finds, so stored inspections are redone.
# 2: the file's traits too (matrix/safety/traits.py), what `check` predicts from.
INSPECTOR_VERSION = "2"


class Kind(str, enum.Enum):
    # Python code runs when the config is deserialized, unless safe_mode stops it:
    # Lambda layers, marshalled functions, functions from outside Keras's own
    # function modules, TFSMLayer (it loads another SavedModel, CVE-2026-1462).
    CODE = "code"
    # A class named with a module outside Keras's packages: Keras versions that
    # import such modules while loading run their import-time code (CVE-2025-1550).
    MODULE = "module"
    # The graph or the file reaches outside the model: file, process or network
    # ops, HDF5 external links or external storage.
    OUTSIDE = "outside"
    # Loading would exhaust the machine: decompression or fill-value bombs,
    # oversized configs, too many members or objects.
    RESOURCE = "resource"
    # The file could not be parsed; what cannot be read cannot be cleared.
    UNREADABLE = "unreadable"
    # The name claims one format and the bytes are another (a `.keras` name
    # over HDF5 is how a Lambda reaches a loader without safe_mode).
    MISMATCH = "mismatch"
    # A custom class: needs custom objects to load, runs no code of the file.
    CUSTOM = "custom"


class Scope(NamedEnum):
    """Which part of a load meets a finding."""

    CONFIG = enum.auto()  # the Keras config load_model reads
    GRAPH = enum.auto()  # the TensorFlow graph every SavedModel loader runs
    WEIGHTS = enum.auto()  # the stored weights every loader reads
    EVERYTHING = enum.auto()  # the whole file (an unreadable or refused one)


# Kinds that only inform; the gate never refuses a load for them.
INFORMATIONAL = frozenset({Kind.CUSTOM})


@dataclass(frozen=True)
class Finding:
    kind: Kind
    what: str  # "Lambda layer 'lambda_1'", "WriteFile op"
    where: str  # "layer 3 of model_config", "function __inference_serve_42"
    scope: Scope
    # For a `module` finding: the name Keras looks the class up by (its
    # registered name) before it imports `module`.
    name: str | None = None
    module: str | None = None

    def __str__(self) -> str:
        return f"{self.what} ({self.where})"

    def to_dict(self) -> dict[str, str | None]:
        return {
            "kind": self.kind.value,
            "what": self.what,
            "where": self.where,
            "scope": self.scope.value,
            "name": self.name,
            "module": self.module,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Finding:
        name, module = data.get("name"), data.get("module")
        return cls(
            Kind(data["kind"]),
            str(data["what"]),
            str(data["where"]),
            Scope(data["scope"]),
            str(name) if name else None,
            str(module) if module else None,
        )


@dataclass(frozen=True)
class Inspection:
    """What the inspector made of one file or folder."""

    format: str | None  # h5 | keras | savedmodel | weights (h5 without a config); None: unknown
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = field(default=())  # what was looked at, for the report
    # What the file says of itself: the Keras that wrote it, its layers, ...
    traits: Mapping[str, Any] = field(default_factory=dict)

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind not in INFORMATIONAL)

    def to_dict(self) -> dict[str, Any]:
        return {
            "inspector": INSPECTOR_VERSION,
            "format": self.format,
            "findings": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
            "traits": dict(self.traits),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Inspection | None:
        """None when the record is missing, malformed or from another inspector."""
        if not isinstance(data, Mapping) or data.get("inspector") != INSPECTOR_VERSION:
            return None
        try:
            return cls(
                data.get("format"),
                tuple(Finding.from_dict(f) for f in data.get("findings", [])),
                tuple(str(n) for n in data.get("notes", [])),
                dict(data.get("traits") or {}),
            )
        except (KeyError, ValueError, TypeError):
            return None


def unreadable(why: str, where: str) -> Finding:
    return Finding(Kind.UNREADABLE, f"cannot be parsed: {why}", where, Scope.EVERYTHING)


def mismatched(what: str, where: str) -> Finding:
    return Finding(Kind.MISMATCH, what, where, Scope.EVERYTHING)


def oversized(what: str, where: str) -> Finding:
    return Finding(Kind.RESOURCE, what, where, Scope.EVERYTHING)
