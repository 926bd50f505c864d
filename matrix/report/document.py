"""Build the `compat.json` document from what the phases stored.

Every planned cell gets exactly one status here. Env-level facts decide
first (an unavailable or broken env), then the producer's manifest (format
not writable, save failed), then whether the consumer runs that load at all
(loader missing, unsafe model refused), and only then the consumer's
measurement, compared with the reference under the tolerance of the
artifact's policy. A cell with no stored measurement yet is `pending`,
listed on its own, never guessed. Silent changes (config or dtype drift,
nondeterminism, a different outcome under the artifact's own policy) are
recorded beside the status.
"""

from __future__ import annotations

import datetime
import platform
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from matrix import __version__, files
from matrix.paths import Layout
from matrix.report import selfcheck
from matrix.results import drift, known, store
from matrix.results.compare import compare_outputs
from matrix.results.status import Status
from matrix.safety import gate, inspections
from matrix.safety.findings import Inspection
from matrix.selection.config import Settings
from matrix.selection.plan import CellKey, Plan, PlannedEnv, artifact_id
from matrix.selection.usermodels import is_user_producer

# compat.json's format (reports/compat.schema.json); 2: texts stored once.
SCHEMA_VERSION = 2


class Stored:
    """Everything on disk the document needs, each file read once, when
    first needed (a single cell reads only its producer and consumer)."""

    def __init__(self, plan: Plan, layout: Layout) -> None:
        self.plan = plan
        self.layout = layout
        self.probe = store.probe_version()
        self.envs = {p.id: p.env for p in plan.envs}
        self.states = {p.id: _state(layout, p) for p in plan.envs}
        self.consumers = {
            p.id: gate.consumer_of(p.env, self.states[p.id].get("freeze") or []) for p in plan.envs
        }
        self._manifests: dict[str, dict[tuple[str, str, str], dict[str, Any]]] = {}
        self._results: dict[str, dict[str, dict[str, Any]]] = {}
        self._arrays: dict[Path, list[np.ndarray] | None] = {}
        self._inspections: dict[str, Inspection | None] = {}

    def manifest(self, producer: str) -> dict[tuple[str, str, str], dict[str, Any]]:
        if producer not in self._manifests:
            self._manifests[producer] = store.by_key(store.read_manifest(self.layout, producer))
        return self._manifests[producer]

    def results(self, consumer: str) -> dict[str, dict[str, Any]]:
        if consumer not in self._results:
            self._results[consumer] = store.read_results(self.layout, consumer)
        return self._results[consumer]

    def record(self, key: CellKey) -> dict[str, Any] | None:
        """The stored measurement of a cell, or None."""
        entry, fingerprint = self.entry(key), self.states[key.consumer].get("fingerprint")
        if entry is None or not fingerprint or entry.get("status") != "saved":
            return None
        digest = store.cell_key(
            entry["sha256"], fingerprint, self.probe, key.loader, self.plan.unsafe
        )
        return self.results(key.consumer).get(digest)

    def inspection(self, entry: dict[str, Any]) -> Inspection | None:
        key = store.inspection_key(entry)
        if key not in self._inspections:
            self._inspections[key] = inspections.read(self.layout, key)
        return self._inspections[key]

    def arrays(self, path: Path, expected_sha: str | None) -> list[np.ndarray] | None:
        """The outputs of an .npz whose sha256 matches, else None."""
        if path not in self._arrays:
            self._arrays[path] = _load_outputs(path, expected_sha)
        return self._arrays[path]

    def entry(self, key: CellKey) -> dict[str, Any] | None:
        return self.manifest(key.producer).get((key.model, key.policy, key.format))


def build(
    plan: Plan, layout: Layout, settings: Settings, when: datetime.datetime | None = None
) -> dict[str, Any]:
    stored = Stored(plan, layout)
    cells: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for key in plan.cells():
        cell = _resolve(key, stored, settings)
        (pending if cell is None else cells).append(
            _portable(cell, layout) if cell else _key_fields(key)
        )
    when = when or datetime.datetime.now(datetime.timezone.utc)
    used = known.explain(cells)
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "when": when.isoformat(timespec="seconds"),
            "host": platform.node(),
            "platform": platform.platform(),
            "tool_version": __version__,
            "probe_version": stored.probe,
            "unsafe": plan.unsafe,
            "selection": {
                "models": list(plan.models),
                "policies": list(plan.policies),
                "formats": list(plan.formats),
                "loaders": list(plan.loaders),
                "user_models": [u.name for u in plan.user_models],
            },
            "tolerances": {
                name: {"atol": tol.atol, "rtol": tol.rtol}
                for name, tol in settings.tolerances.items()
            },
        },
        "envs": [_env_entry(p.id, p.env.python, p.env.tf, stored) for p in plan.envs],
        "producers": plan.producers,
        "artifacts": _artifacts(plan, stored),
        "cells": cells,
        "pending": pending,
        "summary": dict(sorted(Counter(c["status"] for c in cells).items())),
        "causes": {cause_id: cause.to_dict() for cause_id, cause in sorted(used.items())},
        "self_check": selfcheck.check(cells),
    }


def _portable(cell: dict[str, Any], layout: Layout) -> dict[str, Any]:
    """Messages without this machine's folders: a report reads the same
    wherever (and on however many CI machines) it was made."""
    for field in ("error", "error_text", "reason"):
        if isinstance(cell.get(field), str):
            cell[field] = layout.portable(cell[field])
    return cell


def _state(layout: Layout, planned: PlannedEnv) -> dict[str, Any]:
    """An env's stored state; an env the plan knows cannot run here (no GPU,
    no interpreter) is unavailable even if no phase ever wrote its state
    (a CI shard that was never started for it)."""
    state = store.read_env_state(layout, planned.id)
    if not state and planned.unavailable:
        return {
            "status": "unavailable",
            "reason": planned.unavailable,
            "device": planned.env.device,
            "keras_flavour": planned.env.flavour,
        }
    return state


def _env_entry(env_id: str, python: str, tf: str, stored: Stored) -> dict[str, Any]:
    state = stored.states[env_id]
    versions = state.get("versions") or {}
    return {
        "id": env_id,
        "python": versions.get("python", python),
        "tensorflow": versions.get("tensorflow", tf),
        "keras": versions.get("keras"),
        "keras_flavour": versions.get("keras_flavour", state.get("keras_flavour")),
        "device": state.get("device"),
        "gpus": versions.get("gpus", []),
        "numpy": versions.get("numpy"),
        "onednn": versions.get("onednn"),
        "status": state.get("status", "pending"),
        "reason": state.get("reason"),
        "sandbox": state.get("sandbox") or versions.get("sandbox"),
        "interpreter": state.get("interpreter"),
        "fingerprint": state.get("fingerprint"),
        "rebuild_reason": state.get("rebuild_reason"),
        "freeze": state.get("freeze", []),
    }


def _artifacts(plan: Plan, stored: Stored) -> list[dict[str, Any]]:
    rows = []
    for producer, model, policy, fmt in plan.artifacts():
        entry = stored.manifest(producer).get((model, policy, fmt)) or {}
        inspection = stored.inspection(entry) if entry.get("status") == "saved" else None
        row = {
            "id": artifact_id(producer, model, policy, fmt),
            "producer": producer,
            "model": model,
            "policy": policy,
            "format": fmt,
            "status": entry.get("status", "pending"),
            "sha256": entry.get("sha256"),
            "files": entry.get("files", {}),
            "error_type": entry.get("error_type"),
            "error": entry.get("error") or entry.get("reason"),
            "note": entry.get("note"),
            "inspection": inspection.to_dict() if inspection else None,
        }
        if is_user_producer(producer):
            row.update(
                source=entry.get("source"),
                source_sha256=entry.get("source_sha256"),
                reference_env=entry.get("reference_env"),
                reference_error=entry.get("reference_error"),
            )
        rows.append(row)
    return rows


def _key_fields(key: CellKey) -> dict[str, Any]:
    return {
        "producer": key.producer,
        "consumer": key.consumer,
        "model": key.model,
        "policy": key.policy,
        "format": key.format,
        "loader": key.loader,
    }


# What a cell holds beyond its key and status when nothing was measured: every
# cell has every field (compat.json leaves the empty ones out and the reader
# puts these back).
CELL_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(("max_abs", "max_rel", "max_ulp", "error_type", "error", "error_text")),
    **dict.fromkeys(("reason", "seconds", "known", "own_policy", "inference")),
    **dict.fromkeys(("config_drift", "dtype_drift")),
    "nondeterministic": False,
    "policy_sensitive": False,
    "silent_changes": [],
}


def _decided(key: CellKey, status: Status, reason: str, **extra: Any) -> dict[str, Any]:
    return {
        **_key_fields(key),
        **CELL_DEFAULTS,
        "status": status.value,
        "error_type": extra.get("error_type"),
        "error": extra.get("error") or reason,
        "error_text": extra.get("error_text"),
        "reason": reason,
        "seconds": extra.get("seconds"),
    }


def resolve(key: CellKey, stored: Stored, settings: Settings) -> dict[str, Any] | None:
    """One cell as the report gives it (None: no result yet), known cause included."""
    cell = _resolve(key, stored, settings)
    if cell is not None:
        _portable(cell, stored.layout)
        known.explain([cell])
    return cell


def _resolve(key: CellKey, stored: Stored, settings: Settings) -> dict[str, Any] | None:
    env_level = _env_level(key, stored)
    if env_level is not None:
        return env_level
    entry = stored.entry(key)
    if entry is None:
        return None
    if entry["status"] == "not-applicable":
        return _decided(key, Status.NOT_APPLICABLE, entry.get("reason") or "")
    if entry["status"] != "saved":
        return _decided(
            key,
            Status.NO_ARTIFACT,
            "the producer failed to save it",
            error_type=entry.get("error_type"),
            error=entry.get("error"),
            error_text=entry.get("traceback"),
        )
    env = stored.envs[key.consumer]
    skip = gate.skip_reason(
        key.loader,
        key.format,
        env.flavour,
        stored.inspection(entry),
        stored.consumers[key.consumer],
        stored.plan.unsafe,
    )
    if skip:
        return _decided(key, Status.NOT_APPLICABLE, skip)
    record = stored.record(key)
    if record is None:
        return None
    return _measured(key, record, entry, stored, settings)


def _env_level(key: CellKey, stored: Stored) -> dict[str, Any] | None:
    consumer = stored.states[key.consumer]
    if consumer.get("status") == "unavailable":
        return _decided(
            key, Status.UNAVAILABLE, f"consumer {key.consumer}: {consumer.get('reason')}"
        )
    if consumer.get("status") == "env-error":
        return _decided(
            key,
            Status.ENV_ERROR,
            f"consumer {key.consumer}: {_first_line(consumer.get('reason'))}",
            error_text=consumer.get("reason"),
        )
    producer = stored.states.get(key.producer, {})  # user models have no env
    if producer.get("status") == "unavailable":
        return _decided(
            key, Status.UNAVAILABLE, f"producer {key.producer}: {producer.get('reason')}"
        )
    if producer.get("status") == "env-error":
        return _decided(
            key,
            Status.NO_ARTIFACT,
            f"producer env {key.producer} failed: {_first_line(producer.get('reason'))}",
            error_text=producer.get("reason"),
        )
    return None


# What a cell keeps of a measurement beside its headline (own policy, inference-only).
_PART_FIELDS = ("status", "max_abs", "max_rel", "max_ulp", "error_type", "error", "seconds")


def _measured(
    key: CellKey, record: dict[str, Any], entry: dict[str, Any], stored: Stored, settings: Settings
) -> dict[str, Any] | None:
    tolerance = settings.tolerances.get(key.policy) or settings.tolerances["float32"]
    main = _outcome(key, record, entry, stored, tolerance)
    if main is None:
        return None  # the stored files no longer match: recompute, don't guess
    cell = {**main, "nondeterministic": bool(record.get("nondeterministic"))}
    # A `weights` artifact's architecture comes from the zoo's code, not the
    # file: its config is not the file's to keep.
    cell["config_drift"] = (
        None
        if key.format == "weights"
        else drift.config_changes(entry.get("description"), record.get("description"))
    )
    cell["dtype_drift"] = drift.dtype_changes(entry.get("description"), record.get("description"))
    own = record.get("own_policy")
    cell["own_policy"] = None
    cell["policy_sensitive"] = False
    if isinstance(own, dict):
        own_cell = _outcome(key, own, entry, stored, tolerance)
        if own_cell is None:
            return None
        own_cell["dtype_drift"] = drift.dtype_changes(
            entry.get("description"), own.get("description")
        )
        cell["own_policy"] = {k: own_cell[k] for k in (*_PART_FIELDS, "dtype_drift")}
        cell["policy_sensitive"] = own_cell["status"] != main["status"]
    cell["inference"] = None
    inference = record.get("inference")
    if isinstance(inference, dict):
        found = _outcome(key, inference, entry, stored, tolerance)
        if found is None:
            return None
        cell["inference"] = {k: found[k] for k in _PART_FIELDS}
    cell["silent_changes"] = silent_changes(cell)
    return cell


def _outcome(
    key: CellKey, record: dict[str, Any], entry: dict[str, Any], stored: Stored, tolerance: Any
) -> dict[str, Any] | None:
    seconds = _seconds(record)
    if record["status"] == "refused":
        # The probe's half of the gate: a class it would import a module for.
        return _decided(key, Status.NOT_APPLICABLE, record.get("error") or "refused")
    if record["status"] != "predicted":
        status = Status(record["status"])
        return _decided(
            key,
            status,
            record.get("error") or status.value,
            error_type=record.get("error_type"),
            error=record.get("error"),
            error_text=record.get("traceback"),
            seconds=seconds,
        )
    if not entry.get("reference_sha256"):
        return _decided(
            key,
            Status.PREDICT_ERROR,
            entry.get("reference_error") or "no reference to compare with",
            error_type="NoReference",
            seconds=seconds,
        )
    root = stored.layout.artifacts(key.producer)
    reference = stored.arrays(root / entry["reference"], entry["reference_sha256"])
    actual = stored.arrays(
        stored.layout.outputs(key.consumer) / str(record.get("output")),
        record.get("output_sha256"),
    )
    if reference is None or actual is None:
        return None
    result = compare_outputs(reference, actual, tolerance)
    cell = _decided(key, result.status, result.detail or "", seconds=seconds)
    cell.update(max_abs=result.max_abs, max_rel=result.max_rel, max_ulp=result.max_ulp)
    if not result.detail:
        cell.update(error=None, reason=None)
    return cell


def silent_changes(cell: dict[str, Any]) -> list[str]:
    """The kinds of silent change a measured cell shows, for marks and details."""
    kinds = []
    if cell.get("config_drift"):
        kinds.append("config")
    if cell.get("dtype_drift") or (cell.get("own_policy") or {}).get("dtype_drift"):
        kinds.append("dtype")
    if cell.get("nondeterministic"):
        kinds.append("nondeterministic")
    if cell.get("policy_sensitive"):
        kinds.append("policy")
    return kinds


def _seconds(record: dict[str, Any]) -> float | None:
    parts = [record.get("load_seconds"), record.get("predict_seconds")]
    numbers = [p for p in parts if isinstance(p, (int, float))]
    return round(sum(numbers), 4) if numbers else None


def _first_line(text: Any) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0] if lines else ""


def _load_outputs(path: Path, expected_sha: str | None) -> list[np.ndarray] | None:
    try:
        if expected_sha is not None and files.sha256_file(path) != expected_sha:
            return None
        with np.load(path, allow_pickle=False) as data:
            count = len([k for k in data.files if k.startswith("output_")])
            return [data[f"output_{i}"] for i in range(count)]
    except (OSError, ValueError, KeyError):
        return None
