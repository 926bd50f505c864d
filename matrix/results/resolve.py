"""Resolve: one status for every ledger cell, from what the phases stored.

Env-level facts decide first (an unavailable or broken consumer or
producer), then what the ledger decided before any load (format not
writable, save failed, loader missing, unsafe model refused), and only then
the consumer's stored measurement, compared with the reference under the
tolerance of the artifact's policy. A cell with no stored measurement yet is
pending (None), never guessed. Silent changes (config or dtype drift,
nondeterminism, a different outcome under the artifact's own policy) are
recorded beside the status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np

from matrix import files
from matrix.files import JsonObject
from matrix.paths import Layout
from matrix.results import drift, store
from matrix.results.cells import Cell, Part
from matrix.results.compare import compare_outputs
from matrix.results.ledger import Fate, PlannedCell
from matrix.results.records import ArtifactEntry, EnvState, Measurement, Result
from matrix.selection.plan import CellKey
from matrix.settings import Settings, Tolerance
from matrix.status import Status


class Resolver:
    """Resolves ledger cells against the store: each consumer's results and
    each outputs file read once, when first needed."""

    def __init__(self, layout: Layout, settings: Settings, states: Mapping[str, EnvState]) -> None:
        self.layout = layout
        self.settings = settings
        self.states = states
        self._results: dict[str, dict[str, Result]] = {}
        self._arrays: dict[Path, list[np.ndarray] | None] = {}

    def cell(self, planned: PlannedCell) -> Cell | None:
        """The cell as the report gives it; None: no result yet."""
        key = planned.key
        env_level = self._env_level(key)
        if env_level is not None:
            return env_level
        entry = planned.entry
        if planned.fate is Fate.NO_ENTRY or entry is None:
            return None
        if planned.fate is Fate.NOT_WRITTEN:
            return _decided(key, Status.NOT_APPLICABLE, entry.reason or "")
        if planned.fate is Fate.SAVE_FAILED:
            return _decided(
                key,
                Status.NO_ARTIFACT,
                "the producer failed to save it",
                error_type=entry.error_type,
                error=entry.error,
                error_text=entry.traceback,
            )
        if planned.fate in (Fate.NO_LOADER, Fate.REFUSED):
            return _decided(key, Status.NOT_APPLICABLE, planned.reason or "")
        if planned.digest is None:
            return None
        result = self._results_of(key.consumer).get(planned.digest)
        if result is None:
            return None
        return self._measured(key, result, entry)

    def _results_of(self, consumer: str) -> dict[str, Result]:
        if consumer not in self._results:
            self._results[consumer] = store.read_results(self.layout, consumer)
        return self._results[consumer]

    def _arrays_of(self, path: Path, expected_sha: str | None) -> list[np.ndarray] | None:
        """The outputs of an .npz whose sha256 matches, else None."""
        if path not in self._arrays:
            self._arrays[path] = _load_outputs(path, expected_sha)
        return self._arrays[path]

    def _env_level(self, key: CellKey) -> Cell | None:
        """A cell decided by its envs alone: a consumer that is unavailable or
        broken, a producer that is (so nothing was saved). User models and
        gold producers have no env state."""
        # (role, env id, status a broken env gives the cell, how its reason reads)
        roles = (
            ("consumer", key.consumer, Status.ENV_ERROR, "consumer {env}: {why}"),
            ("producer", key.producer, Status.NO_ARTIFACT, "producer env {env} failed: {why}"),
        )
        for role, env_id, broken, words in roles:
            state = self.states.get(env_id)
            if state is None:
                continue
            if state.status == "unavailable":
                return _decided(key, Status.UNAVAILABLE, f"{role} {env_id}: {state.reason}")
            if state.status == "env-error":
                reason = words.format(env=env_id, why=_first_line(state.reason))
                return _decided(key, broken, reason, error_text=state.reason)
        return None

    def _measured(self, key: CellKey, result: Result, entry: ArtifactEntry) -> Cell | None:
        tolerance = self.settings.tolerance_for(key.policy, key.format)
        main = self._outcome(key, result.measured, entry, tolerance)
        if main is None:
            return None  # the stored files no longer match: recompute, don't guess
        measured = result.measured
        own = result.own_policy
        own_part, sensitive = None, False
        if own is not None:
            own_cell = self._outcome(key, own, entry, tolerance)
            if own_cell is None:
                return None
            own_part = _part(own_cell, drift.dtype_changes(entry.description, own.description))
            sensitive = own_cell.status != main.status
        inference_part = None
        if result.inference is not None:
            found = self._outcome(key, result.inference, entry, tolerance)
            if found is None:
                return None
            inference_part = _part(found)
        # A `weights` artifact's architecture comes from the zoo's code, not the
        # file: its config is not the file's to keep.
        config = (
            None
            if key.format == "weights"
            else drift.config_changes(entry.description, measured.description)
        )
        cell = main.with_(
            batch=self._batch(key, measured, tolerance),
            nondeterministic=bool(measured.nondeterministic),
            config_drift=_tuple(config),
            dtype_drift=_tuple(drift.dtype_changes(entry.description, measured.description)),
            own_policy=own_part,
            policy_sensitive=sensitive,
            inference=inference_part,
        )
        return cell.with_(silent_changes=tuple(silent_changes(cell)))

    def _batch(
        self, key: CellKey, measured: Measurement, tolerance: Tolerance
    ) -> JsonObject | None:
        """Each way of batching against the whole batch's own outputs (not the
        reference: a server's batching is judged against the same env)."""
        if not measured.batch or not measured.predicted:
            return None
        outputs = self.layout.outputs(key.consumer)
        whole = self._arrays_of(outputs / str(measured.output), measured.output_sha256)
        found: JsonObject = {"padded_to": measured.batch.get("padded_to")}
        for way in BATCH_WAYS:
            part = measured.batch.get(way) or {}
            if part.get("error") or not part.get("output"):
                found[way] = {"error": part.get("error") or "not run"}
                continue
            arrays = _load_outputs(outputs / str(part["output"]), part.get("output_sha256"))
            if whole is None or arrays is None:
                found[way] = {"error": "its outputs file is missing or changed"}
                continue
            compared = compare_outputs(whole, arrays, tolerance)
            found[way] = {"status": compared.status.value, "max_abs": compared.max_abs,
                          **({"detail": compared.detail} if compared.detail else {})}  # fmt: skip
        return found

    def _outcome(
        self, key: CellKey, measured: Measurement, entry: ArtifactEntry, tolerance: Tolerance
    ) -> Cell | None:
        seconds = measured.seconds
        if measured.status == "refused":
            # The probe's half of the gate: a class it would import a module for.
            return _decided(key, Status.NOT_APPLICABLE, measured.error or "refused")
        if not measured.predicted:
            status = Status(measured.status)
            return _decided(
                key,
                status,
                measured.error or status.value,
                error_type=measured.error_type,
                error=measured.error,
                error_text=measured.traceback,
                seconds=seconds,
            )
        if not entry.reference_sha256:
            return _decided(
                key,
                Status.PREDICT_ERROR,
                entry.reference_error or "no reference to compare with",
                error_type="NoReference",
                seconds=seconds,
            )
        root = self.layout.artifacts(key.producer)
        reference = self._arrays_of(root / entry.reference, entry.reference_sha256)
        actual = self._arrays_of(
            self.layout.outputs(key.consumer) / str(measured.output), measured.output_sha256
        )
        if reference is None or actual is None:
            return None
        compared = compare_outputs(reference, actual, tolerance)
        cell = _decided(key, compared.status, compared.detail or "", seconds=seconds)
        cell = cell.with_(
            max_abs=compared.max_abs, max_rel=compared.max_rel, max_ulp=compared.max_ulp
        )
        if not compared.detail:
            cell = cell.with_(error=None, reason=None)
        return cell


def silent_changes(cell: Cell) -> list[str]:
    """The kinds of silent change a measured cell shows, for marks and details."""
    kinds = []
    if cell.config_drift:
        kinds.append("config")
    if cell.dtype_drift or (cell.own_policy is not None and cell.own_policy.dtype_drift):
        kinds.append("dtype")
    if cell.nondeterministic:
        kinds.append("nondeterministic")
    if cell.policy_sensitive:
        kinds.append("policy")
    if batch_differs(cell):
        kinds.append("batch")
    return kinds


# How a server batches what a user sends (probes/consume.py batch_check).
BATCH_WAYS = ("one_at_a_time", "padded")


def batch_differs(cell: Cell) -> bool:
    """A way of batching that ran and predicts otherwise than the whole batch."""
    batch = cell.batch or {}
    return any(
        (batch.get(way) or {}).get("status") not in (None, "identical", "close")
        for way in BATCH_WAYS
    )


def _decided(key: CellKey, status: Status, reason: str, **extra: Any) -> Cell:
    return Cell(
        key.producer,
        key.consumer,
        key.model,
        key.policy,
        key.format,
        key.loader,
        status=status.value,
        error_type=extra.get("error_type"),
        error=extra.get("error") or reason,
        error_text=extra.get("error_text"),
        reason=reason,
        seconds=extra.get("seconds"),
    )


def _part(cell: Cell, dtype_drift: list[str] | None = None) -> Part:
    """What a cell keeps of a measurement beside its headline one."""
    shared = {f.name: getattr(cell, f.name) for f in fields(Part) if f.name != "dtype_drift"}
    return Part(**shared, dtype_drift=_tuple(dtype_drift))


def _tuple(found: list[str] | None) -> tuple[str, ...] | None:
    return None if found is None else tuple(found)


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
