"""The records a run keeps between phases, typed, with their keys in one place.

Each record is a frozen dataclass read from and written to JSON at the
boundary (`from_dict` / `to_dict`): an artifact's manifest entry and the
manifest, one cell's stored result and its measurements, an env's state.
`from_dict` checks what it reads (required keys, their types) and raises
`RecordError`; the store treats such a record as missing, so a corrupt file
costs a recomputation, never a wrong cell. Keys a newer writer adds are
ignored, so an older reader still reads what it knows.

The on-disk shapes are those of earlier versions (flat result lines,
`<phase>_startups` in env states), so stored runs stay readable.
"""

from __future__ import annotations

import dataclasses
import functools
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from matrix import axes
from matrix.files import JsonObject
from matrix.paths import is_user_producer, user_producer
from matrix.selection.env import Env

__all__ = ["is_user_producer", "user_producer"]  # where the records' readers look for them

# The versions of what is written: a manifest, a probe's events (checked on
# its hello: host and probes must come from the same version).
MANIFEST_SCHEMA = 1
PROBE_SCHEMA = 2


R = TypeVar("R")


class RecordError(ValueError):
    """A stored or received record is not what its type says."""


# -- reading and writing ----------------------------------------------------------


def _read(kind: type[R], data: object, where: str) -> R:
    """A record of `kind` from a parsed JSON object: the fields it knows,
    each of the type it declares (None where optional), the rest ignored."""
    if not isinstance(data, Mapping):
        msg = f"{where}: expected a JSON object, got {type(data).__name__}"
        raise RecordError(msg)
    hints, specs = _shape(kind)  # type: ignore[arg-type]  # a class is hashable
    values: dict[str, object] = {}
    for spec in specs:
        if spec.name not in data:
            if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                msg = f"{where}: the field {spec.name!r} is missing"
                raise RecordError(msg)
            continue
        values[spec.name] = _check(data[spec.name], hints[spec.name], f"{where}.{spec.name}")
    return kind(**values)


@functools.cache
def _shape(kind: type) -> tuple[dict[str, Any], tuple[dataclasses.Field[Any], ...]]:
    """A record type's field hints and fields, resolved once: a full preset
    reads about 200,000 records, and resolving hints each time took half of
    a report rebuild."""
    return get_type_hints(kind), fields(kind)


def _check(value: object, hint: Any, where: str) -> object:
    """`value` if it fits `hint` (the few shapes records use); lists become tuples."""
    if get_origin(hint) in (Union, types.UnionType):
        options = [a for a in get_args(hint) if a is not type(None)]
        if value is None and len(options) < len(get_args(hint)):
            return None
        hint = options[0]
    if value is None:
        msg = f"{where}: null where a value is required"
        raise RecordError(msg)
    origin = get_origin(hint) or hint
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"{where}: expected a number, got {type(value).__name__}"
            raise RecordError(msg)
        return float(value)
    expected: tuple[type, ...] = {
        str: (str,),
        int: (int,),
        bool: (bool,),
        tuple: (list, tuple),
        dict: (Mapping,),
        Mapping: (Mapping,),
    }.get(origin, (origin,) if isinstance(origin, type) else (object,))
    wrong_bool = origin is int and isinstance(value, bool)
    if not isinstance(value, expected) or wrong_bool:
        msg = f"{where}: expected {getattr(origin, '__name__', origin)}, got {type(value).__name__}"
        raise RecordError(msg)
    return tuple(value) if origin is tuple else value  # type: ignore[arg-type]


def _plain(value: object) -> object:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    return value


def _written(record: object, keep_none: bool = False) -> JsonObject:
    out = {f.name: _plain(getattr(record, f.name)) for f in fields(record)}  # type: ignore[arg-type]
    return out if keep_none else {k: v for k, v in out.items() if v is not None}


# -- artifacts ----------------------------------------------------------------------


@dataclass(frozen=True)
class ArtifactEntry:
    """One saved (or failed) artifact of a producer, as its manifest holds it."""

    model: str
    policy: str
    format: str
    path: str  # file or folder name inside the producer's artifacts folder
    status: str  # saved | no-artifact | not-applicable
    reference: str  # the reference .npz's name beside it
    files: Mapping[str, str] = field(default_factory=dict)  # relative path -> sha256
    sha256: str | None = None  # the artifact's digest: files, reference, custom objects
    reference_sha256: str | None = None
    reason: str | None = None
    error_type: str | None = None
    error: str | None = None
    traceback: str | None = None
    seconds: float | None = None  # to save this format
    build_seconds: float | None = None  # to build and train the model
    note: str | None = None
    input_names: tuple[str, ...] | None = None
    output_names: tuple[str, ...] | None = None
    description: JsonObject | None = None  # the model in memory: what drift compares
    # A user model's: where it came from and how its reference was made.
    source: str | None = None
    source_sha256: str | None = None
    source_key: str | None = None
    reference_candidates: tuple[str, ...] | None = None
    reference_env: str | None = None
    reference_error: str | None = None
    reference_tries: tuple[JsonObject, ...] | None = None
    custom_objects_module: str | None = None
    custom_objects_sha256: str | None = None
    inspection_key: str | None = None  # set when the source was refused before copying
    # False: never tried (the producer's probe gave out first); the next run
    # tries it again, where a failure that was tried repeats and is kept.
    attempted: bool = True

    @property
    def saved(self) -> bool:
        return self.status == "saved"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.model, self.policy, self.format)

    @classmethod
    def from_dict(cls, data: object) -> ArtifactEntry:
        return _read(cls, data, "artifact entry")

    def to_dict(self) -> JsonObject:
        written = _written(self)
        if self.attempted:
            del written["attempted"]  # the usual case is left unsaid
        return written

    def with_(self, **changes: Any) -> ArtifactEntry:
        return replace(self, **changes)


@dataclass(frozen=True)
class Manifest:
    """What a producer saved: every artifact by file name, and the env and
    probe version that made them (a change of either redoes them)."""

    producer: str
    artifacts: Mapping[str, ArtifactEntry] = field(default_factory=dict)
    probe: str | None = None
    env_fingerprint: str | None = None
    env: JsonObject | None = None  # the producer probe's hello: its versions
    schema_version: int = MANIFEST_SCHEMA

    def by_key(self) -> dict[tuple[str, str, str], ArtifactEntry]:
        """Entries by (model, policy, format), whatever their files are named."""
        return {entry.key: entry for entry in self.artifacts.values()}

    @classmethod
    def from_dict(cls, data: object) -> Manifest:
        if not isinstance(data, Mapping) or data.get("schema_version") != MANIFEST_SCHEMA:
            msg = f"manifest: expected schema_version {MANIFEST_SCHEMA}"
            raise RecordError(msg)
        entries = data.get("artifacts")
        if not isinstance(entries, Mapping):
            msg = "manifest: 'artifacts' must be an object"
            raise RecordError(msg)
        head = _read(cls, {k: v for k, v in data.items() if k != "artifacts"}, "manifest")
        return replace(
            head, artifacts={str(k): ArtifactEntry.from_dict(v) for k, v in entries.items()}
        )

    def to_dict(self) -> JsonObject:
        out = _written(self)
        out["artifacts"] = {name: e.to_dict() for name, e in self.artifacts.items()}
        return out


# -- cell results ----------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """One load and prediction in a consumer, as its probe reported it."""

    status: str  # predicted | load-error | predict-error | refused | crash | timeout
    error_type: str | None = None
    error: str | None = None
    traceback: str | None = None
    prepare_seconds: float | None = None
    load_seconds: float | None = None
    predict_seconds: float | None = None
    nondeterministic: bool | None = None
    output: str | None = None  # the outputs' .npz name in the consumer's outputs folder
    output_sha256: str | None = None
    description: JsonObject | None = None  # the loaded model: what drift compares
    rss_mb: float | None = None
    # The same inputs as a server batches them (probes/consume.py batch_check):
    # per way, its outputs file and digest, or why it did not run.
    batch: JsonObject | None = None

    @property
    def predicted(self) -> bool:
        return self.status == "predicted"

    @property
    def seconds(self) -> float | None:
        parts = [p for p in (self.load_seconds, self.predict_seconds) if p is not None]
        return round(sum(parts), 4) if parts else None

    @classmethod
    def from_dict(cls, data: object) -> Measurement:
        return _read(cls, data, "measurement")

    def to_dict(self) -> JsonObject:
        return _written(self)


@dataclass(frozen=True)
class Result:
    """A consumer's stored result for one cell key: the default load, and
    beside it the load under the artifact's own policy and the
    compile=False retry when they ran. Written as one flat JSON line."""

    key: str
    producer: str
    consumer: str
    model: str
    format: str
    loader: str
    artifact_sha256: str
    measured: Measurement
    own_policy: Measurement | None = None
    inference: Measurement | None = None
    attempted: bool = True  # False: never tried (the env gave out first)

    def parts(self) -> list[Measurement]:
        return [m for m in (self.measured, self.own_policy, self.inference) if m is not None]

    @classmethod
    def from_dict(cls, data: object) -> Result:
        if not isinstance(data, Mapping):
            msg = "result: expected a JSON object"
            raise RecordError(msg)
        head = {k: data[k] for k in _RESULT_HEAD if k in data}
        head["measured"] = Measurement.from_dict(data)
        for part in ("own_policy", "inference"):
            if isinstance(data.get(part), Mapping):
                head[part] = Measurement.from_dict(data[part])
        if "attempted" in data:
            head["attempted"] = data["attempted"]
        return _read(cls, head, "result")

    def to_dict(self) -> JsonObject:
        out = {k: getattr(self, k) for k in _RESULT_HEAD}
        out.update(self.measured.to_dict())
        for part in ("own_policy", "inference"):
            found = getattr(self, part)
            if found is not None:
                out[part] = found.to_dict()
        if not self.attempted:
            out["attempted"] = False
        return out


_RESULT_HEAD = ("key", "producer", "consumer", "model", "format", "loader", "artifact_sha256")


# -- env states -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PhaseRecord:
    """What one phase's probes cost in an env: seconds from each process's
    start to its hello (more than one: restarts), and the phase's tasks and
    wall seconds (the rate `plan` estimates from)."""

    restarts: int = 0
    startups: tuple[float, ...] = ()
    tasks: int | None = None
    seconds: float | None = None


PHASES = ("produce", "consume")


@dataclass(frozen=True)
class Versions:
    """What a probe's hello says of its env: the versions it runs and what it sees."""

    python: str | None = None
    tensorflow: str | None = None  # None in a TFLite interpreter env
    keras: str | None = None
    keras_flavour: str | None = None
    runtime: str | None = None  # a TFLite interpreter's package and version
    backend: str | None = None  # Keras 3 on JAX or PyTorch: the backend and its version
    numpy: str | None = None
    gpus: tuple[str, ...] = ()
    onednn: str | None = None

    @classmethod
    def from_dict(cls, data: object) -> Versions:
        return _read(cls, data, "versions")

    def to_dict(self) -> JsonObject:
        return _written(self)


@dataclass(frozen=True)
class EnvState:
    """An env as the run left it: what was planned (`env`), whether it could
    run and why not, what was installed and what its probes reported."""

    env: Env
    status: str = "pending"  # ok | env-error | unavailable | pending
    reason: str | None = None
    phase: str | None = None  # the phase that found it broken
    interpreter: str | None = None
    fingerprint: str | None = None  # content key: spec and installed packages
    freeze: tuple[str, ...] = ()
    backend: str | None = None
    rebuild_reason: str | None = None
    versions: Versions | None = None  # the probe's hello
    sandbox: Mapping[str, str] | None = None  # what confined its probes
    phases: Mapping[str, PhaseRecord] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.env.id

    @property
    def python(self) -> str:
        return (self.versions and self.versions.python) or self.env.python

    @property
    def tensorflow(self) -> str | None:
        """The TensorFlow it runs: as its probe reported it, else the planned
        release (none in a TFLite interpreter env)."""
        if self.versions is not None:
            return self.versions.tensorflow
        if self.env.release.family == "tensorflow":
            return self.env.tf
        paired = self.env.release.backends.get(self.env.flavour)
        return paired.tensorflow if paired is not None else None

    @property
    def keras(self) -> str | None:
        """Its Keras version: the probe's word, else its installed packages'
        (on Python 3.7 the probe reads dist-info folders by name and misses
        standalone Keras's capitalised `Keras-2.3.1.dist-info`)."""
        found = self.versions.keras if self.versions is not None else None
        return found or axes.keras_version(self.env.keras_line, None, self.freeze)

    def phase_record(self, phase: str) -> PhaseRecord:
        return self.phases.get(phase) or PhaseRecord()

    def with_phase(self, phase: str, found: PhaseRecord) -> EnvState:
        return replace(self, phases={**self.phases, phase: found})

    @classmethod
    def from_dict(cls, data: object) -> EnvState:
        if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
            msg = "env state: expected a JSON object with an id"
            raise RecordError(msg)
        try:
            env = Env.parse(data["id"])
        except ValueError as exc:
            raise RecordError(f"env state: {exc}") from exc
        phases = {}
        for phase in PHASES:
            work = data.get(f"{phase}_work")
            found = {
                "restarts": data.get(f"{phase}_restarts", 0),
                "startups": data.get(f"{phase}_startups", []),
                **(work if isinstance(work, Mapping) else {}),
            }
            if any(f"{phase}_{k}" in data for k in ("restarts", "startups", "work")):
                phases[phase] = _read(PhaseRecord, found, f"env state.{phase}")
        head = {
            k: v
            for k, v in data.items()
            if k not in ("id", "versions") and not k.startswith(PHASES)
        }
        versions = data.get("versions")
        head["env"] = env
        state = _read(cls, head, "env state")
        return replace(
            state,
            versions=Versions.from_dict(versions) if isinstance(versions, Mapping) else None,
            phases=phases,
        )

    def to_dict(self) -> JsonObject:
        out: JsonObject = {"id": self.id}
        written = _written(self, keep_none=True)
        del written["env"], written["phases"]
        out.update(written)
        out["versions"] = self.versions.to_dict() if self.versions is not None else None
        for phase, found in self.phases.items():
            out[f"{phase}_restarts"] = found.restarts
            out[f"{phase}_startups"] = list(found.startups)
            if found.tasks is not None:
                out[f"{phase}_work"] = {"tasks": found.tasks, "seconds": found.seconds}
        return out
