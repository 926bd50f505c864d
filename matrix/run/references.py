"""Reference stage: bring each user model in and give it a reference.

The user's files are read, never modified, and never followed: a source with
a symbolic link, a device file or anything outside it is refused before a
byte is copied (`safety.folders`). Clean sources are copied into the working
folder with their sha256 in a manifest, like any producer's artifact, and
inspected there. The reference is the user's expected outputs when given;
otherwise the outputs of the baseline env (the one named, or the first env
of the plan that may load the model): the safety gate is asked first, so a
file that would run code is never loaded to make a reference. A model no env
can (or may) load keeps no reference; its cells still run and report what
each env says.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from matrix import axes, files
from matrix.files import JsonObject
from matrix.launch import Sink, run_probe
from matrix.paths import Layout
from matrix.results import store
from matrix.results.ledger import Fate, ledger
from matrix.results.records import ArtifactEntry
from matrix.run.probe import probe_command
from matrix.run.ready import ReadyEnv
from matrix.run.tasks import ReferenceTask
from matrix.safety import folders, inspections
from matrix.safety.findings import Inspection
from matrix.safety.limits import DEFAULT as LIMITS
from matrix.selection.plan import CellKey, Plan, PlannedEnv
from matrix.selection.usermodels import UserModel, read_arrays
from matrix.settings import Settings

Ready = Callable[[PlannedEnv], ReadyEnv | None]


def prepare(plan: Plan, settings: Settings, layout: Layout, ready: Ready) -> None:
    """Copy in every user model and make the references still missing; `ready`
    gives a candidate env ready to run (the runner builds each env once)."""
    waiting: list[tuple[UserModel, ArtifactEntry]] = []
    for user in plan.user_models:
        candidates = [p.id for p in _candidates(plan, [user])]
        entry = _adopt(user, layout, candidates, retry=settings.fresh)
        if entry.reference_sha256 is None and not entry.reference_error:
            waiting.append((user, entry))
    for planned in _candidates(plan, [u for u, _ in waiting]):
        waiting = _try_env(planned, waiting, plan, settings, layout, ready)
        if not waiting:
            break
    for user, entry in waiting:
        tried = "; ".join(f"{e['env']}: {e['error']}" for e in entry.reference_tries or ())
        failed = f"no env could load it to make a reference ({tried or 'no env ran'})"
        _save(layout, user, entry.with_(reference_error=failed))


def _adopt(user: UserModel, layout: Layout, candidates: list[str], retry: bool) -> ArtifactEntry:
    """The manifest entry of a user model, copying it in when it changed.

    Kept as is when the user's files are unchanged and its reference is
    intact, or when no env could load it and the same envs would be tried
    again (`--fresh` tries them anyway).
    """
    root = layout.artifacts(user.producer)
    name = layout.artifact_name(user.name, user.policy, user.format)
    refused = folders.problems(user.path, LIMITS)
    source = _source_digest(user, bool(refused))
    old = (
        store.read_manifest(layout, user.producer)
        .by_key()
        .get((user.name, user.policy, user.format))
    )
    if old is not None and old.source_key == source and not retry:
        if old.reference_sha256 and store.verify_entry(root, old):
            return old
        unloadable = old.reference_error and old.reference_candidates == tuple(candidates)
        if unloadable and files.hash_tree(root, root / name) == dict(old.files):
            return old
    root.mkdir(parents=True, exist_ok=True)
    target = root / name
    if target.is_dir():
        shutil.rmtree(target)
    elif target.exists():
        target.unlink()
    entry = ArtifactEntry(
        model=user.name,
        policy=user.policy,
        format=user.format,
        status="saved",
        path=name,
        reference=layout.reference_name(user.name, user.policy),
        source=str(user.path),
        source_sha256=None if refused else _tree_digest(user.path),
        source_key=source,
        reference_candidates=tuple(candidates),
        custom_objects_module=str(user.custom_objects) if user.custom_objects else None,
        custom_objects_sha256=files.sha256_file(user.custom_objects)
        if user.custom_objects
        else None,
    )
    if refused:
        # Nothing is copied: the cells are refused with what the walk found.
        key = files.sha256_text(f"refused source:{source}")
        inspection = Inspection(user.format, tuple(refused), ("the source folder, before copying",))
        files.write_json(layout.inspection(key), inspection.to_dict())
        why = "refused before copying: " + "; ".join(str(f) for f in refused)
        return _save(layout, user, entry.with_(inspection_key=key, reference_error=why))
    folders.copy(user.path, target)
    entry = entry.with_(files=files.hash_tree(root, target))
    inspections.ensure(layout, [(store.inspection_key(entry), target)])
    if user.inputs is not None:
        _write_npz(root / f"{user.name}.inputs.npz", read_arrays(user.inputs, "inputs"), "input")
    if user.expected is not None:
        inputs = read_arrays(user.inputs, "inputs") if user.inputs else []
        outputs = read_arrays(user.expected, "expected outputs")
        arrays = {**_numbered(inputs, "input"), **_numbered(outputs, "output")}
        _write_arrays(root / entry.reference, arrays)
        entry = _with_reference(root, entry, "the user's expected outputs")
    return _save(layout, user, entry)


def _candidates(plan: Plan, users: list[UserModel]) -> list[PlannedEnv]:
    """Envs to try, in plan order; a named baseline alone when one is set."""
    if not users:
        return []
    baselines = {u.baseline for u in users if u.baseline}
    formats = {u.format for u in users}
    # Envs that save the zoo first (a Keras to load it with), then runtimes
    # (an .onnx file or a TF.js folder has no other reader).
    readers = [*plan.producer_envs, *(p for p in plan.envs if not p.env.produces)]
    return [
        p
        for p in dict.fromkeys(readers)
        if not p.unavailable
        and (not baselines or p.id in baselines)
        and any(p.env.reads(f) for f in formats)
    ]


def _loader(user: UserModel) -> str:
    """How the reference is made: the format's first native loader."""
    return axes.NATIVE_LOADERS[user.format][0]


def _try_env(  # noqa: PLR0917 - one candidate env and all it works with
    planned: PlannedEnv,
    waiting: list[tuple[UserModel, ArtifactEntry]],
    plan: Plan,
    settings: Settings,
    layout: Layout,
    ready: Ready,
) -> list[tuple[UserModel, ArtifactEntry]]:
    mine = {
        u.name
        for u, _ in waiting
        if u.baseline in (None, planned.id) and planned.env.reads(u.format)
    }
    if not mine:
        return waiting
    found = ready(planned)
    if found is None:
        return waiting
    # The reference load is the cell (user model, this env, its native
    # loader): the ledger says whether the gate lets it run.
    keys = [
        CellKey(user.producer, planned.id, user.name, user.policy, user.format, _loader(user))
        for user, _ in waiting
        if user.name in mine
    ]
    decided = {c.key.model: c for c in ledger(plan, layout, {planned.id: found.state}, keys=keys)}
    refusals: dict[str, str] = {}
    tasks = []
    for user, entry in waiting:
        if user.name not in mine:
            continue
        cell = decided[user.name]
        if cell.fate is not Fate.RUNS:
            refusals[user.name] = cell.reason or f"the ledger decided {cell.fate.value}"
        else:
            tasks.append(_task(user, entry, layout, plan.unsafe, cell.must_resolve))
    sink = _ReferenceSink()
    env_error = None
    if tasks:
        roots = [Path(t.root) for t in tasks]
        modules = {Path(t.custom_objects_module).parent for t in tasks if t.custom_objects_module}
        command = probe_command(
            found, layout, settings, "reference", writable=roots, readable=sorted(modules)
        )
        env_error = run_probe(command, tasks, sink).env_error
    still = []
    for user, entry in waiting:
        result = sink.results.get(user.name) or {}
        root = layout.artifacts(user.producer)
        if result.get("status") == "predicted":
            described = entry.with_(description=result.get("description"))
            _save(layout, user, _with_reference(root, described, planned.id))
            continue
        if user.name in mine:
            error = refusals.get(user.name) or result.get("error") or env_error
            tried = {
                "env": planned.id,
                "error_type": "refused" if user.name in refusals else result.get("error_type"),
                "error": error or "the probe stopped",
            }
            still.append(
                (user, entry.with_(reference_tries=(*(entry.reference_tries or ()), tried)))
            )
        else:
            still.append((user, entry))
    return still


def _task(
    user: UserModel,
    entry: ArtifactEntry,
    layout: Layout,
    unsafe: bool,
    must_resolve: tuple[tuple[str, str], ...],
) -> ReferenceTask:
    root = layout.artifacts(user.producer)
    inputs = root / f"{user.name}.inputs.npz"
    return ReferenceTask(
        id=user.name,
        model=user.name,
        format=user.format,
        loader=_loader(user),
        root=str(root),
        path=str(root / entry.path),
        files=entry.files,
        inputs=str(inputs) if user.inputs else None,
        write_reference=str(root / entry.reference),
        custom_objects_module=entry.custom_objects_module,
        safe_mode=not unsafe,
        must_resolve=must_resolve,
    )


class _ReferenceSink(Sink):
    def __init__(self) -> None:
        self.results: dict[str, JsonObject] = {}

    def event(self, event: JsonObject) -> None:
        if event["event"] == "done":
            self.results[str(event["task"])] = event


def _with_reference(root: Path, entry: ArtifactEntry, made_by: str) -> ArtifactEntry:
    return entry.with_(
        reference_sha256=files.sha256_file(root / entry.reference),
        reference_env=made_by,
        reference_error=None,
    )


def _save(layout: Layout, user: UserModel, entry: ArtifactEntry) -> ArtifactEntry:
    entry = entry.with_(sha256=store.artifact_digest(entry))
    manifest = store.read_manifest(layout, user.producer)
    store.write_manifest(layout, replace(manifest, artifacts={entry.path: entry}))
    return entry


def _source_digest(user: UserModel, refused: bool) -> str:
    """What the reference depends on: the user's files and settings. A
    refused source is never read, only listed."""
    parts = [
        _listing_digest(user.path) if refused else _tree_digest(user.path),
        _tree_digest(user.inputs) if user.inputs else "",
        _tree_digest(user.expected) if user.expected else "",
        _tree_digest(user.custom_objects) if user.custom_objects else "",
        user.baseline or "",
    ]
    return files.sha256_text("|".join(parts))


def _tree_digest(path: Path) -> str:
    if path.is_file():
        return files.sha256_file(path)
    hashes = files.hash_tree(path, path)
    return files.sha256_text("\n".join(f"{k}:{v}" for k, v in sorted(hashes.items())))


def _listing_digest(path: Path) -> str:
    names = sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.is_dir() else []
    return files.sha256_text("\n".join([path.name, *names]))


def _numbered(arrays: list[Any], prefix: str) -> JsonObject:
    return {f"{prefix}_{i}": a for i, a in enumerate(arrays)}


def _write_npz(path: Path, arrays: list[Any], prefix: str) -> None:
    _write_arrays(path, _numbered(arrays, prefix))


def _write_arrays(path: Path, arrays: JsonObject) -> None:
    import numpy as np

    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
