"""Build the `compat.json` document from what the phases stored.

Every planned cell gets exactly one status here. Env-level facts decide
first (an unavailable or broken env), then the producer's manifest (format
not writable, save failed), then the loader's existence, and only then the
consumer's measurement, compared with the reference under the tolerance of
the artifact's policy. A cell with no stored measurement yet is `pending`,
listed on its own, never guessed.
"""

from __future__ import annotations

import datetime
import platform
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from matrix import __version__, files, store
from matrix.compare import compare_outputs
from matrix.config import Settings
from matrix.consume import loader_missing
from matrix.paths import Layout
from matrix.plan import CellKey, Plan, artifact_id
from matrix.status import Status

SCHEMA_VERSION = 1


class _Stored:
    """Everything on disk the document needs, read once."""

    def __init__(self, plan: Plan, layout: Layout) -> None:
        self.layout = layout
        self.probe = store.probe_version()
        self.states = {p.id: store.read_env_state(layout, p.id) for p in plan.envs}
        self.manifests = {p.id: store.read_manifest(layout, p.id) for p in plan.envs}
        self.results = {p.id: store.read_results(layout, p.id) for p in plan.envs}
        self._arrays: dict[Path, list[np.ndarray] | None] = {}

    def arrays(self, path: Path, expected_sha: str | None, prefix: str) -> list[np.ndarray] | None:
        """Numbered arrays of an .npz whose sha256 matches, else None."""
        if path not in self._arrays:
            self._arrays[path] = _load(path, expected_sha, prefix)
        return self._arrays[path]


def build(
    plan: Plan, layout: Layout, settings: Settings, when: datetime.datetime | None = None
) -> dict[str, Any]:
    stored = _Stored(plan, layout)
    cells: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    for key in plan.cells():
        cell = _resolve(key, stored, settings)
        (pending if cell is None else cells).append(cell or _key_fields(key))
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "when": when.isoformat(timespec="seconds"),
            "host": platform.node(),
            "platform": platform.platform(),
            "tool_version": __version__,
            "probe_version": stored.probe,
            "unsafe": False,
            "selection": {
                "models": list(plan.models),
                "policies": list(plan.policies),
                "formats": list(plan.formats),
                "loaders": list(plan.loaders),
            },
            "tolerances": {
                name: {"atol": tol.atol, "rtol": tol.rtol}
                for name, tol in settings.tolerances.items()
            },
        },
        "envs": [_env_entry(p.id, p.env.python, p.env.tf, stored) for p in plan.envs],
        "artifacts": _artifacts(plan, stored),
        "cells": cells,
        "pending": pending,
        "summary": dict(sorted(Counter(c["status"] for c in cells).items())),
    }


def _env_entry(env_id: str, python: str, tf: str, stored: _Stored) -> dict[str, Any]:
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
        "status": state.get("status", "pending"),
        "reason": state.get("reason"),
        "interpreter": state.get("interpreter"),
        "fingerprint": state.get("fingerprint"),
        "rebuild_reason": state.get("rebuild_reason"),
        "freeze": state.get("freeze", []),
    }


def _artifacts(plan: Plan, stored: _Stored) -> list[dict[str, Any]]:
    rows = []
    for producer in plan.envs:
        entries = stored.manifests[producer.id]["artifacts"]
        for model in plan.models:
            for policy in plan.policies:
                for fmt in plan.formats:
                    entry = entries.get(stored.layout.artifact_name(model, policy, fmt), {})
                    rows.append(
                        {
                            "id": artifact_id(producer.id, model, policy, fmt),
                            "producer": producer.id,
                            "model": model,
                            "policy": policy,
                            "format": fmt,
                            "status": entry.get("status", "pending"),
                            "sha256": entry.get("sha256"),
                            "files": entry.get("files", {}),
                            "error_type": entry.get("error_type"),
                            "error": entry.get("error") or entry.get("reason"),
                            "note": entry.get("note"),
                        }
                    )
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


def _decided(key: CellKey, status: Status, reason: str, **extra: Any) -> dict[str, Any]:
    return {
        **_key_fields(key),
        "status": status.value,
        "max_abs": None,
        "max_rel": None,
        "max_ulp": None,
        "error_type": extra.get("error_type"),
        "error": extra.get("error") or reason,
        "error_text": extra.get("error_text"),
        "reason": reason,
        "seconds": extra.get("seconds"),
        "nondeterministic": extra.get("nondeterministic"),
    }


def _resolve(key: CellKey, stored: _Stored, settings: Settings) -> dict[str, Any] | None:
    env_level = _env_level(key, stored)
    if env_level is not None:
        return env_level
    entry = stored.manifests[key.producer]["artifacts"].get(
        stored.layout.artifact_name(key.model, key.policy, key.format)
    )
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
    consumer = stored.states[key.consumer]
    missing = loader_missing(key.loader, consumer.get("keras_flavour", ""))
    if missing:
        return _decided(key, Status.NOT_APPLICABLE, missing)
    fingerprint = consumer.get("fingerprint")
    if not fingerprint:
        return None
    record = stored.results[key.consumer].get(
        store.cell_key(entry["sha256"], fingerprint, stored.probe, key.loader)
    )
    if record is None or not record.get("attempted", True):
        return None if record is None else _measured_fault(key, record)
    return _measured(key, record, entry, stored, settings)


def _env_level(key: CellKey, stored: _Stored) -> dict[str, Any] | None:
    consumer, producer = stored.states[key.consumer], stored.states[key.producer]
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


def _measured_fault(key: CellKey, record: dict[str, Any]) -> dict[str, Any]:
    status = Status(record["status"])
    return _decided(
        key, status, record.get("error") or status.value, error_type=record.get("error_type")
    )


def _measured(
    key: CellKey, record: dict[str, Any], entry: dict[str, Any], stored: _Stored, settings: Settings
) -> dict[str, Any] | None:
    seconds = _seconds(record)
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
    root = stored.layout.artifacts(key.producer)
    reference = stored.arrays(root / entry["reference"], entry["reference_sha256"], "output")
    actual = stored.arrays(
        stored.layout.outputs(key.consumer) / record["output"],
        record.get("output_sha256"),
        "output",
    )
    if reference is None or actual is None:
        return None  # the stored files no longer match: recompute, don't guess
    tolerance = settings.tolerances.get(key.policy) or settings.tolerances["float32"]
    result = compare_outputs(reference, actual, tolerance)
    cell = _decided(
        key,
        result.status,
        result.detail or "",
        seconds=seconds,
        nondeterministic=record.get("nondeterministic"),
    )
    cell.update(max_abs=result.max_abs, max_rel=result.max_rel, max_ulp=result.max_ulp)
    if not result.detail:
        cell.update(error=None, reason=None)
    return cell


def _seconds(record: dict[str, Any]) -> float | None:
    parts = [record.get("load_seconds"), record.get("predict_seconds")]
    numbers = [p for p in parts if isinstance(p, (int, float))]
    return round(sum(numbers), 4) if numbers else None


def _first_line(text: Any) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0] if lines else ""


def _load(path: Path, expected_sha: str | None, prefix: str) -> list[np.ndarray] | None:
    try:
        if expected_sha is not None and files.sha256_file(path) != expected_sha:
            return None
        with np.load(path, allow_pickle=False) as data:
            count = len([k for k in data.files if k.startswith(prefix + "_")])
            return [data[f"{prefix}_{i}"] for i in range(count)]
    except (OSError, ValueError, KeyError):
        return None
