"""A cell of the matrix, resolved: one artifact, one consumer env, one loader.

`Cell` is what the report and every rendering read, built once from the
stored records (`results/resolve.py`), explained by a known cause
(`known.py`), and written to `compat.json` (`to_dict` / `from_dict`).
Beside its headline status a cell keeps up to two more measurements
(`Part`): the load under the artifact's own policy, and the compile=False
retry of a failed `keras` load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from matrix.files import JsonObject
from matrix.results.compare import Distances
from matrix.results.records import RecordError, is_user_producer
from matrix.selection.plan import CellKey
from matrix.status import Status

KEY_FIELDS = ("producer", "consumer", "model", "policy", "format", "loader")


@dataclass(frozen=True)
class Part(Distances):
    """A measurement beside the cell's headline one."""

    status: str
    error_type: str | None = None
    error: str | None = None
    seconds: float | None = None
    dtype_drift: tuple[str, ...] | None = None  # own policy only

    @property
    def passing(self) -> bool:
        return Status(self.status).passing

    @classmethod
    def from_dict(cls, data: object) -> Part:
        if not isinstance(data, Mapping) or not isinstance(data.get("status"), str):
            msg = "cell part: expected an object with a status"
            raise RecordError(msg)
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("dtype_drift") is not None:
            values["dtype_drift"] = tuple(values["dtype_drift"])
        return cls(**values)

    def to_dict(self) -> JsonObject:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.dtype_drift is not None:
            out["dtype_drift"] = list(self.dtype_drift)
        return out


@dataclass(frozen=True)
class Cell(CellKey, Distances):
    """Its key (producer, consumer, model, policy, format, loader), its
    status, and how far its outputs are from the reference."""

    status: str
    reason: str | None = None
    error_type: str | None = None
    error: str | None = None  # the message's first line, or the reason
    error_text: str | None = None  # the full traceback
    seconds: float | None = None
    nondeterministic: bool = False
    config_drift: tuple[str, ...] | None = None
    dtype_drift: tuple[str, ...] | None = None
    own_policy: Part | None = None
    policy_sensitive: bool = False
    inference: Part | None = None
    silent_changes: tuple[str, ...] = ()
    # One example at a time and padded to a larger batch, against the whole
    # batch: {"one_at_a_time": {"status", "max_abs"} | {"error"}, "padded": ..., "padded_to"}.
    batch: JsonObject | None = None
    known: str | None = None  # the id of the known cause that explains it

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        return (self.producer, self.consumer, self.model, self.policy, self.format, self.loader)

    @property
    def id(self) -> str:
        """producer/consumer/model/policy/format/loader: how `repro` names it."""
        return "/".join(self.key)

    @property
    def state(self) -> Status:
        return Status(self.status)

    @property
    def from_user(self) -> bool:
        return is_user_producer(self.producer)

    @property
    def inference_passes(self) -> bool:
        """A failing default load whose compile=False load predicts within tolerance."""
        return self.inference is not None and self.inference.passing

    def with_(self, **changes: Any) -> Cell:
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, data: object) -> Cell:
        if not isinstance(data, Mapping):
            msg = "cell: expected a JSON object"
            raise RecordError(msg)
        missing = [k for k in (*KEY_FIELDS, "status") if not isinstance(data.get(k), str)]
        if missing:
            msg = f"cell: {', '.join(missing)} missing or not text"
            raise RecordError(msg)
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in data.items() if k in known and v is not None}
        for name in ("config_drift", "dtype_drift", "silent_changes"):
            if name in values:
                values[name] = tuple(values[name])
        for name in ("own_policy", "inference"):
            if name in values:
                values[name] = Part.from_dict(values[name])
        return cls(**values)

    def to_dict(self) -> JsonObject:
        out: JsonObject = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, Part):
                value = value.to_dict()
            elif isinstance(value, tuple):
                value = list(value)
            out[spec.name] = value
        return out
