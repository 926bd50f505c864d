"""The document: what every rendering reads and `compat.json` holds, and how
it is built from the ledger and the stored results.

Every planned cell gets exactly one status (`resolve.py`); each failing cell
is joined to its known cause and the self-check is made here, before any
renderer sees the document. Envs travel as typed records (`EnvState`, with
its planned `Env`); gold producers as the env that froze them.
"""

from __future__ import annotations

import datetime
import platform
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from matrix import __version__
from matrix.files import JsonObject
from matrix.paths import GOLD_PREFIX, Layout, gold_producer
from matrix.results import known, selfcheck, store
from matrix.results.cells import KEY_FIELDS, Cell
from matrix.results.ledger import Ledger, PlannedCell, ledger
from matrix.results.records import EnvState, RecordError, is_user_producer
from matrix.results.resolve import Resolver
from matrix.selection.env import Env
from matrix.selection.plan import Plan, PlannedEnv, artifact_id
from matrix.settings import Settings

# compat.json's format (reports/compat.schema.json); 2: texts stored once;
# 3: cells as a table by columns, texts cut into shared pieces; 4: envs as
# their stored state records (versions nested), gold producers typed.
SCHEMA_VERSION = 4


@dataclass(frozen=True)
class GoldProducer:
    """A producer replayed from the gold store: the env that froze it, and
    its provenance (versions, date, the sha256 of every file)."""

    env: Env
    provenance: JsonObject
    artifacts: int

    @property
    def producer(self) -> str:
        return gold_producer(self.env.id)

    def to_dict(self) -> JsonObject:
        return {**self.provenance, "env": self.env.id, "producer": self.producer,
                "artifacts": self.artifacts}  # fmt: skip

    @classmethod
    def from_dict(cls, data: object) -> GoldProducer:
        if not isinstance(data, Mapping):
            raise RecordError("gold producer: expected a JSON object")
        env_id = data.get("env") or str(data.get("producer", "")).removeprefix(GOLD_PREFIX)
        try:
            env = Env.parse(str(env_id))
        except ValueError as exc:
            raise RecordError(f"gold producer: {exc}") from exc
        provenance = {k: v for k, v in data.items() if k not in ("producer", "artifacts")}
        return cls(env, provenance, int(data.get("artifacts") or 0))


@dataclass(frozen=True)
class Document:
    """The report's content: what every rendering reads, and compat.json holds."""

    run: JsonObject  # when, where, versions, selection, tolerances
    envs: tuple[EnvState, ...]
    producers: tuple[str, ...]
    artifacts: tuple[JsonObject, ...]
    cells: tuple[Cell, ...]
    pending: tuple[JsonObject, ...]  # the keys of cells with no result yet
    summary: Mapping[str, int]
    causes: Mapping[str, JsonObject]  # the known causes that explain a cell, by id
    self_check: JsonObject
    answers: tuple[JsonObject, ...] = ()
    gold: tuple[GoldProducer, ...] = ()
    advice: JsonObject | None = None
    changes: JsonObject | None = None
    # Since the last run (report/history.py): changes, and when each cause was seen.
    history: JsonObject | None = None
    schema_version: int = SCHEMA_VERSION

    def with_(self, **changes: Any) -> Document:
        return replace(self, **changes)

    def env_of(self, producer: str) -> Env | None:
        """The env that saved a producer's artifacts (for a gold producer, the
        env that froze them); None for a user model."""
        return _producer_envs(self).get(producer)

    @property
    def consumers(self) -> list[str]:
        """Envs that load artifacts, in plan order (an old-era env only saves)."""
        return [state.id for state in self.envs if state.env.consumes]

    @classmethod
    def from_dict(cls, data: object) -> Document:
        if not isinstance(data, Mapping) or not isinstance(data.get("cells"), list):
            msg = "compat.json: expected an object with a list of cells"
            raise RecordError(msg)
        schema = int(data.get("schema_version") or SCHEMA_VERSION)
        run = data.get("run") or {}
        if isinstance(run, Mapping) and isinstance(run.get("releases"), Mapping):
            # Its envs may be of releases the index had and the table lacks.
            from matrix import discovery

            discovery.adopt(discovery.Discovered.from_dict(run["releases"]), planned=False)
        envs = [_legacy_env(e) if schema < 4 else e for e in data.get("envs") or ()]
        return cls(
            run=dict(data.get("run") or {}),
            envs=tuple(EnvState.from_dict(e) for e in envs),
            producers=tuple(data.get("producers") or ()),
            artifacts=tuple(data.get("artifacts") or ()),
            cells=tuple(Cell.from_dict(c) for c in data["cells"]),
            pending=tuple(data.get("pending") or ()),
            summary=dict(data.get("summary") or {}),
            causes=dict(data.get("causes") or {}),
            self_check=dict(data.get("self_check") or selfcheck.check(())),
            answers=tuple(data.get("answers") or ()),
            gold=tuple(GoldProducer.from_dict(g) for g in data.get("gold") or ()),
            advice=data.get("advice"),
            changes=data.get("changes"),
            history=data.get("history"),
            schema_version=SCHEMA_VERSION,
        )

    def to_dict(self) -> JsonObject:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["cells"] = [c.to_dict() for c in self.cells]
        out["envs"] = [state.to_dict() for state in self.envs]
        out["gold"] = [g.to_dict() for g in self.gold]
        for name in ("producers", "artifacts", "pending", "answers"):
            out[name] = list(out[name])
        for name in ("summary", "causes"):
            out[name] = dict(out[name])
        for name in ("advice", "changes", "history"):  # only when asked for
            if out[name] is None:
                del out[name]
        return out


def _producer_envs(document: Document) -> dict[str, Env]:
    found = {state.id: state.env for state in document.envs}
    found.update({g.producer: g.env for g in document.gold})
    return found


# The versions a schema 1-3 env entry held at its top level.
_LEGACY_VERSIONS = ("python", "tensorflow", "keras", "keras_flavour", "runtime", "numpy",
                    "gpus", "onednn")  # fmt: skip


def _legacy_env(entry: Any) -> Any:
    """A schema 1-3 env entry (versions flat beside the state) as a state record."""
    if not isinstance(entry, Mapping):
        return entry
    state = {k: v for k, v in entry.items() if k not in _LEGACY_VERSIONS}
    state["versions"] = {k: entry[k] for k in _LEGACY_VERSIONS if entry.get(k) is not None}
    return state


def states(plan: Plan, layout: Layout) -> dict[str, EnvState]:
    """Every planned env's stored state; an env the plan knows cannot run
    here (no GPU, no interpreter) is unavailable even if no phase ever wrote
    its state (a CI shard that was never started for it)."""
    return {p.id: _state(layout, p) for p in plan.envs}


def _state(layout: Layout, planned: PlannedEnv) -> EnvState:
    state = store.read_env_state(layout, planned.env)
    if state.status == "pending" and planned.unavailable:
        return replace(state, status="unavailable", reason=planned.unavailable)
    return state


def build(
    plan: Plan,
    layout: Layout,
    settings: Settings,
    cells: Ledger | None = None,
    when: datetime.datetime | None = None,
) -> Document:
    """The document of a plan: its ledger (the one consume worked from, or
    made from the stored states) joined to the stored results."""
    stored = states(plan, layout)
    # Inspections made by another inspector version are made again, not
    # taken for files that carry code.
    cells = cells if cells is not None else ledger(plan, layout, stored, inspect="run")
    resolver = Resolver(layout, settings, stored)
    found: list[Cell] = []
    pending: list[JsonObject] = []
    for planned in cells:
        cell = resolver.cell(planned)
        if cell is None:
            pending.append(dict(zip(KEY_FIELDS, _key(planned), strict=True)))
        else:
            found.append(_portable(cell, layout))
    gold = tuple(GoldProducer(g.env, g.provenance(), len(g.artifacts)) for g in plan.gold)
    explained, used = known.explain(found, _facts(plan, stored))
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return Document(
        run={
            "when": when.isoformat(timespec="seconds"),
            "host": platform.node(),
            "platform": platform.platform(),
            "tool_version": __version__,
            "probe_version": store.probe_version(),
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
            # Where the releases came from: the index's answer, or why none.
            "releases": _releases(),
        },
        envs=tuple(stored[p.id] for p in plan.envs),
        producers=tuple(plan.producers),
        artifacts=tuple(_artifacts(cells)),
        cells=tuple(explained),
        pending=tuple(pending),
        summary=dict(sorted(Counter(c.status for c in explained).items())),
        causes={cause_id: cause.to_dict() for cause_id, cause in sorted(used.items())},
        self_check=selfcheck.check(explained),
        gold=gold,
    )


def resolve(planned: PlannedCell, plan: Plan, layout: Layout, settings: Settings) -> Cell | None:
    """One cell as the report gives it (None: no result yet), known cause included."""
    stored = states(plan, layout)
    cell = Resolver(layout, settings, stored).cell(planned)
    if cell is None:
        return None
    (explained,), _ = known.explain([_portable(cell, layout)], _facts(plan, stored))
    return explained


def reexplained(document: Document) -> Document:
    """A published document with its cells explained by today's known causes
    (and its self-check made again): a report rebuilt from a compat.json
    tells what is known now, not what was known when it ran."""
    cells, used = known.explain([c.with_(known=None) for c in document.cells], facts(document))
    return document.with_(
        cells=tuple(cells),
        causes={cause_id: cause.to_dict() for cause_id, cause in sorted(used.items())},
        self_check=selfcheck.check(cells),
        answers=(),
        advice=None,
        changes=None,
    )


def _facts(plan: Plan, stored: Mapping[str, EnvState]) -> dict[str, known.EnvFacts | None]:
    """What the known causes' matchers know of every env of the plan (a
    gold producer's: the env that froze it, and its Keras)."""
    found = {i: known.EnvFacts.of(s.env, s.keras) for i, s in stored.items()}
    for g in plan.gold:
        keras = g.provenance().get("keras")
        found[g.producer] = known.EnvFacts.of(g.env, keras if isinstance(keras, str) else None)
    return found


def facts(document: Document) -> dict[str, known.EnvFacts | None]:
    """The same, of a published document (its env states and gold producers)."""
    found = {s.id: known.EnvFacts.of(s.env, s.keras) for s in document.envs}
    for g in document.gold:
        keras = g.provenance.get("keras")
        found[g.producer] = known.EnvFacts.of(g.env, keras if isinstance(keras, str) else None)
    return found


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


def _artifacts(cells: Ledger) -> list[JsonObject]:
    """Every planned artifact with its manifest entry and what the inspector found."""
    rows = []
    for found in cells.artifacts:
        entry, inspection = found.entry, found.inspection
        producer = found.producer
        row = {
            "id": artifact_id(producer, found.model, found.policy, found.format),
            "producer": producer,
            "model": found.model,
            "policy": found.policy,
            "format": found.format,
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


def _key(planned: PlannedCell) -> tuple[str, str, str, str, str, str]:
    key = planned.key
    return (key.producer, key.consumer, key.model, key.policy, key.format, key.loader)


def _releases() -> JsonObject | None:
    from matrix import discovery

    found = discovery.adopted()
    return found.to_dict() if found is not None else None
