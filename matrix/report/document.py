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
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from matrix import __version__, axes, files
from matrix.files import JsonObject
from matrix.paths import Layout
from matrix.report import selfcheck
from matrix.results import drift, known, store
from matrix.results.cells import KEY_FIELDS, Cell, Part
from matrix.results.compare import compare_outputs
from matrix.results.records import (
    ArtifactEntry,
    EnvState,
    Measurement,
    RecordError,
    Result,
    is_user_producer,
)
from matrix.safety import gate, inspections
from matrix.safety.findings import Inspection
from matrix.selection.plan import CellKey, Plan, PlannedEnv, artifact_id
from matrix.settings import Settings
from matrix.status import Status

# compat.json's format (reports/compat.schema.json); 2: texts stored once;
# 3: cells as a table by columns, texts cut into shared pieces.
SCHEMA_VERSION = 3


@dataclass(frozen=True)
class Document:
    """The report's content: what every rendering reads, and compat.json holds."""

    run: JsonObject  # when, where, versions, selection, tolerances
    envs: tuple[JsonObject, ...]
    producers: tuple[str, ...]
    artifacts: tuple[JsonObject, ...]
    cells: tuple[Cell, ...]
    pending: tuple[JsonObject, ...]  # the keys of cells with no result yet
    summary: Mapping[str, int]
    causes: Mapping[str, JsonObject]  # the known causes that explain a cell, by id
    self_check: JsonObject
    answers: tuple[JsonObject, ...] = ()
    gold: tuple[JsonObject, ...] = ()  # each gold producer's provenance
    advice: JsonObject | None = None
    changes: JsonObject | None = None
    schema_version: int = SCHEMA_VERSION

    def with_(self, **changes: Any) -> Document:
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, data: object) -> Document:
        if not isinstance(data, Mapping) or not isinstance(data.get("cells"), list):
            msg = "compat.json: expected an object with a list of cells"
            raise RecordError(msg)
        return cls(
            run=dict(data.get("run") or {}),
            envs=tuple(data.get("envs") or ()),
            producers=tuple(data.get("producers") or ()),
            artifacts=tuple(data.get("artifacts") or ()),
            cells=tuple(Cell.from_dict(c) for c in data["cells"]),
            pending=tuple(data.get("pending") or ()),
            summary=dict(data.get("summary") or {}),
            causes=dict(data.get("causes") or {}),
            self_check=dict(data.get("self_check") or selfcheck.check(())),
            answers=tuple(data.get("answers") or ()),
            gold=tuple(data.get("gold") or ()),
            advice=data.get("advice"),
            changes=data.get("changes"),
            schema_version=int(data.get("schema_version") or SCHEMA_VERSION),
        )

    def to_dict(self) -> JsonObject:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["cells"] = [c.to_dict() for c in self.cells]
        for name in ("envs", "producers", "artifacts", "pending", "answers", "gold"):
            out[name] = list(out[name])
        for name in ("summary", "causes"):
            out[name] = dict(out[name])
        for name in ("advice", "changes"):  # only when asked for
            if out[name] is None:
                del out[name]
        return out


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
            p.id: gate.consumer_of(p.env, self.states[p.id].freeze) for p in plan.envs
        }
        self._manifests: dict[str, dict[tuple[str, str, str], ArtifactEntry]] = {}
        self._results: dict[str, dict[str, Result]] = {}
        self._arrays: dict[Path, list[np.ndarray] | None] = {}
        self._inspections: dict[str, Inspection | None] = {}

    def manifest(self, producer: str) -> dict[tuple[str, str, str], ArtifactEntry]:
        if producer not in self._manifests:
            self._manifests[producer] = store.read_manifest(self.layout, producer).by_key()
        return self._manifests[producer]

    def results(self, consumer: str) -> dict[str, Result]:
        if consumer not in self._results:
            self._results[consumer] = store.read_results(self.layout, consumer)
        return self._results[consumer]

    def record(self, key: CellKey) -> Result | None:
        """The stored result of a cell, or None."""
        entry, fingerprint = self.entry(key), self.states[key.consumer].fingerprint
        if entry is None or not fingerprint or not entry.saved or entry.sha256 is None:
            return None
        digest = store.cell_key(entry.sha256, fingerprint, self.probe, key.loader, self.plan.unsafe)
        return self.results(key.consumer).get(digest)

    def inspection(self, entry: ArtifactEntry) -> Inspection | None:
        key = store.inspection_key(entry)
        if key not in self._inspections:
            self._inspections[key] = inspections.read(self.layout, key)
        return self._inspections[key]

    def arrays(self, path: Path, expected_sha: str | None) -> list[np.ndarray] | None:
        """The outputs of an .npz whose sha256 matches, else None."""
        if path not in self._arrays:
            self._arrays[path] = _load_outputs(path, expected_sha)
        return self._arrays[path]

    def entry(self, key: CellKey) -> ArtifactEntry | None:
        return self.manifest(key.producer).get((key.model, key.policy, key.format))


def build(
    plan: Plan, layout: Layout, settings: Settings, when: datetime.datetime | None = None
) -> Document:
    stored = Stored(plan, layout)
    cells: list[Cell] = []
    pending: list[JsonObject] = []
    for key in plan.cells():
        cell = _resolve(key, stored, settings)
        if cell is None:
            pending.append(dict(zip(KEY_FIELDS, _key(key), strict=True)))
        else:
            cells.append(_portable(cell, layout))
    when = when or datetime.datetime.now(datetime.timezone.utc)
    explained, used = known.explain(cells)
    return Document(
        run={
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
        envs=tuple(_env_entry(p.id, p.env.python, p.env.tf, stored) for p in plan.envs),
        producers=tuple(plan.producers),
        artifacts=tuple(_artifacts(plan, stored)),
        cells=tuple(explained),
        pending=tuple(pending),
        summary=dict(sorted(Counter(c.status for c in explained).items())),
        causes={cause_id: cause.to_dict() for cause_id, cause in sorted(used.items())},
        self_check=selfcheck.check(explained),
        gold=tuple(
            {**g.provenance(), "producer": g.producer, "artifacts": len(g.artifacts)}
            for g in plan.gold
        ),
    )


def _portable(cell: Cell, layout: Layout) -> Cell:
    """Messages without this machine's folders: a report reads the same
    wherever (and on however many CI machines) it was made."""
    return cell.with_(
        **{
            name: layout.portable(value)
            for name in ("error", "error_text", "reason")
            if isinstance(value := getattr(cell, name), str)
        }
    )


def _state(layout: Layout, planned: PlannedEnv) -> EnvState:
    """An env's stored state; an env the plan knows cannot run here (no GPU,
    no interpreter) is unavailable even if no phase ever wrote its state
    (a CI shard that was never started for it)."""
    state = store.read_env_state(layout, planned.id)
    if state.status == "pending" and planned.unavailable:
        return replace(
            state,
            status="unavailable",
            reason=planned.unavailable,
            device=planned.env.device,
            keras_flavour=planned.env.flavour,
        )
    return state


def _env_entry(env_id: str, python: str, tf: str, stored: Stored) -> JsonObject:
    state = stored.states[env_id]
    versions = state.versions or {}
    return {
        "id": env_id,
        "python": versions.get("python", python),
        "tensorflow": versions.get(
            "tensorflow", None if state.keras_flavour == "interpreter" else tf
        ),
        "runtime": versions.get("runtime"),  # a TFLite interpreter's package and version
        # The probe's word, else the env's installed packages': on Python 3.7
        # the probe reads dist-info folders by name and misses standalone
        # Keras's `Keras-2.3.1.dist-info` (capitalised).
        "keras": versions.get("keras")
        or axes.keras_version(state.keras_flavour or "", None, state.freeze),
        "keras_flavour": versions.get("keras_flavour", state.keras_flavour),
        "device": state.device,
        "gpus": versions.get("gpus", []),
        "numpy": versions.get("numpy"),
        "onednn": versions.get("onednn"),
        "status": state.status,
        "reason": state.reason,
        "sandbox": dict(state.sandbox) if state.sandbox else versions.get("sandbox"),
        "interpreter": state.interpreter,
        "fingerprint": state.fingerprint,
        "rebuild_reason": state.rebuild_reason,
        "freeze": list(state.freeze),
    }


def _artifacts(plan: Plan, stored: Stored) -> list[JsonObject]:
    rows = []
    for producer, model, policy, fmt in plan.artifacts():
        entry = stored.manifest(producer).get((model, policy, fmt))
        inspection = stored.inspection(entry) if entry is not None and entry.saved else None
        row = {
            "id": artifact_id(producer, model, policy, fmt),
            "producer": producer,
            "model": model,
            "policy": policy,
            "format": fmt,
            "status": entry.status if entry else "pending",
            "sha256": entry.sha256 if entry else None,
            "files": dict(entry.files) if entry else {},
            "error_type": entry.error_type if entry else None,
            "error": (entry.error or entry.reason) if entry else None,
            "note": entry.note if entry else None,
            "inspection": inspection.to_dict() if inspection else None,
        }
        if is_user_producer(producer) and entry is not None:
            row.update(
                source=entry.source,
                source_sha256=entry.source_sha256,
                reference_env=entry.reference_env,
                reference_error=entry.reference_error,
            )
        rows.append(row)
    return rows


def _key(key: CellKey) -> tuple[str, str, str, str, str, str]:
    return (key.producer, key.consumer, key.model, key.policy, key.format, key.loader)


def _decided(key: CellKey, status: Status, reason: str, **extra: Any) -> Cell:
    return Cell(
        *_key(key),
        status=status.value,
        error_type=extra.get("error_type"),
        error=extra.get("error") or reason,
        error_text=extra.get("error_text"),
        reason=reason,
        seconds=extra.get("seconds"),
    )


def resolve(key: CellKey, stored: Stored, settings: Settings) -> Cell | None:
    """One cell as the report gives it (None: no result yet), known cause included."""
    cell = _resolve(key, stored, settings)
    if cell is None:
        return None
    (explained,), _ = known.explain([_portable(cell, stored.layout)])
    return explained


def _resolve(key: CellKey, stored: Stored, settings: Settings) -> Cell | None:
    env_level = _env_level(key, stored)
    if env_level is not None:
        return env_level
    entry = stored.entry(key)
    if entry is None:
        return None
    if entry.status == "not-applicable":
        return _decided(key, Status.NOT_APPLICABLE, entry.reason or "")
    if not entry.saved:
        return _decided(
            key,
            Status.NO_ARTIFACT,
            "the producer failed to save it",
            error_type=entry.error_type,
            error=entry.error,
            error_text=entry.traceback,
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


def _env_level(key: CellKey, stored: Stored) -> Cell | None:
    """A cell decided by its envs alone: a consumer that is unavailable or
    broken, a producer that is (so nothing was saved). User models have no env."""
    # (role, env id, status a broken env gives the cell, how its reason reads)
    roles = (
        ("consumer", key.consumer, Status.ENV_ERROR, "consumer {env}: {why}"),
        ("producer", key.producer, Status.NO_ARTIFACT, "producer env {env} failed: {why}"),
    )
    for role, env_id, broken, words in roles:
        state = stored.states.get(env_id)
        if state is None:
            continue
        if state.status == "unavailable":
            return _decided(key, Status.UNAVAILABLE, f"{role} {env_id}: {state.reason}")
        if state.status == "env-error":
            reason = words.format(env=env_id, why=_first_line(state.reason))
            return _decided(key, broken, reason, error_text=state.reason)
    return None


def _measured(
    key: CellKey, result: Result, entry: ArtifactEntry, stored: Stored, settings: Settings
) -> Cell | None:
    tolerance = settings.tolerance_for(key.policy, key.format)
    main = _outcome(key, result.measured, entry, stored, tolerance)
    if main is None:
        return None  # the stored files no longer match: recompute, don't guess
    measured = result.measured
    own = result.own_policy
    own_part, sensitive = None, False
    if own is not None:
        own_cell = _outcome(key, own, entry, stored, tolerance)
        if own_cell is None:
            return None
        own_part = _part(own_cell, drift.dtype_changes(entry.description, own.description))
        sensitive = own_cell.status != main.status
    inference_part = None
    if result.inference is not None:
        found = _outcome(key, result.inference, entry, stored, tolerance)
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
        nondeterministic=bool(measured.nondeterministic),
        config_drift=_tuple(config),
        dtype_drift=_tuple(drift.dtype_changes(entry.description, measured.description)),
        own_policy=own_part,
        policy_sensitive=sensitive,
        inference=inference_part,
    )
    return cell.with_(silent_changes=tuple(silent_changes(cell)))


def _part(cell: Cell, dtype_drift: list[str] | None = None) -> Part:
    """What a cell keeps of a measurement beside its headline one."""
    shared = {f.name: getattr(cell, f.name) for f in fields(Part) if f.name != "dtype_drift"}
    return Part(**shared, dtype_drift=_tuple(dtype_drift))


def _tuple(found: list[str] | None) -> tuple[str, ...] | None:
    return None if found is None else tuple(found)


def _outcome(
    key: CellKey, measured: Measurement, entry: ArtifactEntry, stored: Stored, tolerance: Any
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
    root = stored.layout.artifacts(key.producer)
    reference = stored.arrays(root / entry.reference, entry.reference_sha256)
    actual = stored.arrays(
        stored.layout.outputs(key.consumer) / str(measured.output), measured.output_sha256
    )
    if reference is None or actual is None:
        return None
    compared = compare_outputs(reference, actual, tolerance)
    cell = _decided(key, compared.status, compared.detail or "", seconds=seconds)
    cell = cell.with_(max_abs=compared.max_abs, max_rel=compared.max_rel, max_ulp=compared.max_ulp)
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
    return kinds


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
