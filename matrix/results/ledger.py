"""The ledger: what is decided about every planned cell before any load, once.

For each cell (artifact x consumer env x loader) it records the artifact
entry the cell reads, how the cell is decided before any load (the producer
wrote nothing, cannot write the format or failed to save it; the consumer's
Keras has no such loader; the safety gate refuses), and for a cell that runs
the key its result is stored under (the artifact's digest, the consumer's
fingerprint, the probe version, the loader) and whether that result is
stored already. Consume takes the pending cells as its tasks, the estimate
counts them, repro picks one, the reference stage asks it whether a baseline
env may load a user model, and the document joins its cells to their
results. No other module computes a cell key or asks the gate about a cell.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from matrix import files
from matrix.paths import Layout
from matrix.results import store
from matrix.results.records import ArtifactEntry, EnvState, Result
from matrix.safety import gate, inspections
from matrix.safety.findings import Inspection
from matrix.selection.plan import CellKey, Plan, artifact_id
from matrix.status import NamedEnum

INSPECTING = ("run", "read", "later")


class Fate(NamedEnum):
    """How a cell is decided before any load, or that it runs."""

    NO_ENTRY = enum.auto()  # the producer's manifest has nothing for it (yet)
    NOT_WRITTEN = enum.auto()  # the producer cannot write this format (entry not-applicable)
    SAVE_FAILED = enum.auto()  # the producer tried and failed (entry no-artifact)
    NO_LOADER = enum.auto()  # the consumer's Keras has no such loader
    REFUSED = enum.auto()  # the safety gate does not let this loader load this file
    RUNS = enum.auto()  # the consumer loads it (or has, when a result is stored)


@dataclass(frozen=True)
class PlannedCell:
    """One cell of the plan and everything decided about it before any load."""

    key: CellKey
    fate: Fate
    entry: ArtifactEntry | None = None
    reason: str | None = None  # why the loader is missing or the gate refuses
    # A cell that runs: the key its result is stored under (None while its
    # consumer has no fingerprint, an env to be built first, or its artifact
    # no digest).
    digest: str | None = None
    must_resolve: tuple[tuple[str, str], ...] = ()  # the gate's condition (safety/gate.py)
    stored: Result | None = None  # the result stored under `digest`
    reusable: bool = False  # stored, attempted, and every output it names on disk

    @property
    def pending(self) -> bool:
        """A cell that runs and has no reusable result: work for consume."""
        return self.fate is Fate.RUNS and not self.reusable


@dataclass(frozen=True)
class PlannedArtifact:
    """One planned artifact: its manifest entry (None: not saved yet) and what
    the safety inspector found in its files."""

    producer: str
    model: str
    policy: str
    format: str
    entry: ArtifactEntry | None
    inspection: Inspection | None


@dataclass(frozen=True)
class Ledger:
    artifacts: tuple[PlannedArtifact, ...]
    cells: tuple[PlannedCell, ...]

    def __iter__(self) -> Iterator[PlannedCell]:
        return iter(self.cells)

    def pending(self, consumer: str) -> list[PlannedCell]:
        return [c for c in self.cells if c.key.consumer == consumer and c.pending]

    def cell(self, key: CellKey) -> PlannedCell:
        for found in self.cells:
            if found.key == key:
                return found
        raise KeyError(key)


def ledger(
    plan: Plan,
    layout: Layout,
    states: Mapping[str, EnvState],
    *,
    keys: Iterable[CellKey] | None = None,
    redone: frozenset[str] = frozenset(),
    fresh: bool = False,
    inspect: str = "read",
) -> Ledger:
    """Decide every cell of `keys` (default: the plan's).

    `states` give each consumer's fingerprint and installed packages (its
    Keras version, for the gate). `redone` names producers whose artifacts
    produce will make anew (the estimate's view: their entries count as
    missing). `fresh` ignores stored results (`--fresh`: every cell that runs
    is pending). `inspect` says what becomes of a saved artifact the safety
    inspector never read: "run" inspects them all first, in one run of the
    inspector (consume); "read" lets the gate refuse it as carrying code (the
    report, repro, references); "later" leaves it to consume to inspect, its
    cells still to run (the estimate)."""
    if inspect not in INSPECTING:
        raise ValueError(f"inspect: expected one of {', '.join(INSPECTING)}, got {inspect!r}")
    chosen = list(plan.cells() if keys is None else keys)
    reader = _Reader(plan, layout, states, redone, fresh=fresh, later=inspect == "later")
    if inspect == "run":
        reader.inspect_all(chosen)
    cells = tuple(reader.decide(key) for key in chosen)
    wanted = None if keys is None else {c.artifact for c in chosen}
    artifacts = tuple(
        reader.artifact(*found)
        for found in plan.artifacts()
        if wanted is None or artifact_id(*found) in wanted
    )
    return Ledger(artifacts, cells)


class _Reader:
    """The stored facts cells are decided on, each file read once, when
    first needed (one cell reads only its producer's and consumer's)."""

    def __init__(
        self,
        plan: Plan,
        layout: Layout,
        states: Mapping[str, EnvState],
        redone: frozenset[str],
        *,
        fresh: bool,
        later: bool,
    ) -> None:
        self.plan = plan
        self.layout = layout
        self.states = states
        self.redone = redone
        self.fresh = fresh
        self.later = later
        self.probe = store.probe_version()
        self._manifests: dict[str, dict[tuple[str, str, str], ArtifactEntry]] = {}
        self._results: dict[str, dict[str, Result]] = {}
        self._inspections: dict[str, Inspection | None] = {}
        self._consumers: dict[str, gate.Consumer] = {}

    def decide(self, key: CellKey) -> PlannedCell:
        entry = self._entry(key)
        if entry is None:
            return PlannedCell(key, Fate.NO_ENTRY)
        if entry.status == "not-applicable":
            return PlannedCell(key, Fate.NOT_WRITTEN, entry, entry.reason)
        if not entry.saved:
            return PlannedCell(key, Fate.SAVE_FAILED, entry)
        state = self.states[key.consumer]
        missing = gate.missing_loader(key.loader, state.env.keras_line)
        if missing:
            return PlannedCell(key, Fate.NO_LOADER, entry, missing)
        inspection = self._inspection(entry)
        if inspection is None and self.later:
            decision = gate.Decision()  # consume inspects it and asks the gate then
        else:
            decision = gate.decide(
                inspection, key.loader, key.format, self._consumer(state), self.plan.unsafe
            )
        if decision.refused:
            return PlannedCell(key, Fate.REFUSED, entry, decision.refused)
        if not state.fingerprint or entry.sha256 is None:
            return PlannedCell(key, Fate.RUNS, entry, must_resolve=decision.must_resolve)
        digest = store.cell_key(
            entry.sha256, state.fingerprint, self.probe, key.loader, self.plan.unsafe
        )
        stored = self._stored(key.consumer).get(digest)
        return PlannedCell(
            key,
            Fate.RUNS,
            entry,
            digest=digest,
            must_resolve=decision.must_resolve,
            stored=stored,
            reusable=self._reusable(stored, key.consumer),
        )

    def inspect_all(self, keys: list[CellKey]) -> None:
        """Inspect every saved artifact these cells read that was never
        inspected, in one run of the inspector."""
        targets = {}
        for key in keys:
            entry = self._entry(key)
            if entry is not None and entry.saved:
                targets[store.inspection_key(entry)] = (
                    self.layout.artifacts(key.producer) / entry.path
                )
        self._inspections.update(inspections.ensure(self.layout, targets.items()))

    def artifact(self, producer: str, model: str, policy: str, fmt: str) -> PlannedArtifact:
        entry = self._lookup(producer, model, policy, fmt)
        inspection = self._inspection(entry) if entry is not None and entry.saved else None
        return PlannedArtifact(producer, model, policy, fmt, entry, inspection)

    def _entry(self, key: CellKey) -> ArtifactEntry | None:
        return self._lookup(key.producer, key.model, key.policy, key.format)

    def _lookup(self, producer: str, model: str, policy: str, fmt: str) -> ArtifactEntry | None:
        if producer in self.redone:
            return None
        if producer not in self._manifests:
            self._manifests[producer] = store.read_manifest(self.layout, producer).by_key()
        return self._manifests[producer].get((model, policy, fmt))

    def _inspection(self, entry: ArtifactEntry) -> Inspection | None:
        key = store.inspection_key(entry)
        if key not in self._inspections:
            self._inspections[key] = inspections.read(self.layout, key)
        return self._inspections[key]

    def _consumer(self, state: EnvState) -> gate.Consumer:
        if state.id not in self._consumers:
            self._consumers[state.id] = gate.consumer_of(state.env, state.freeze)
        return self._consumers[state.id]

    def _stored(self, consumer: str) -> dict[str, Result]:
        if consumer not in self._results:
            found = {} if self.fresh else store.read_results(self.layout, consumer)
            self._results[consumer] = found
        return self._results[consumer]

    def _reusable(self, result: Result | None, consumer: str) -> bool:
        if result is None or not result.attempted:
            return False
        # A result is reused only with its outputs as it wrote them: a cache
        # restored from another night (or a disk) that lost or changed one is
        # recomputed, never compared.
        outputs = self.layout.outputs(consumer)
        batch = [
            (outputs / str(way["output"]), way.get("output_sha256"))
            for way in (result.measured.batch or {}).values()
            if isinstance(way, dict) and way.get("output")
        ]
        return all(
            _intact(outputs / str(part.output), part.output_sha256)
            for part in result.parts()
            if part.predicted
        ) and all(_intact(path, digest) for path, digest in batch)


def _intact(path: Path, sha256: str | None) -> bool:
    if not path.is_file():
        return False
    return sha256 is None or files.sha256_file(path) == sha256
