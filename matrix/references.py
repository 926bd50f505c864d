"""Reference stage: bring each user model in and give it a reference.

The user's files are copied (read, never modified) into the working folder
with their sha256 in a manifest, like any producer's artifact. The reference
is the user's expected outputs when given; otherwise the outputs of the
baseline env: the one named, or the first env of the plan that loads the
model. A model no env can load keeps no reference; its cells still run and
report what each env says.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from matrix import files, store
from matrix.config import Settings
from matrix.launch import Sink, run_probe
from matrix.paths import Layout
from matrix.phase import probe_command, ready_env
from matrix.plan import Plan, PlannedEnv
from matrix.usermodels import UserModel, read_arrays


def prepare(plan: Plan, settings: Settings, layout: Layout) -> None:
    """Copy in every user model and make the references still missing."""
    waiting: list[tuple[UserModel, dict[str, Any]]] = []
    for user in plan.user_models:
        candidates = [p.id for p in _candidates(plan, [user])]
        entry = _adopt(user, layout, candidates, retry=settings.fresh)
        if entry.get("reference_sha256") is None and not entry.get("reference_error"):
            waiting.append((user, entry))
    for planned in _candidates(plan, [u for u, _ in waiting]):
        waiting = _try_env(planned, waiting, settings, layout)
        if not waiting:
            break
    for user, entry in waiting:
        tried = "; ".join(f"{e['env']}: {e['error']}" for e in entry.get("reference_tries", []))
        entry["reference_error"] = (
            f"no env could load it to make a reference ({tried or 'no env ran'})"
        )
        _save(layout, user, entry)


def _adopt(user: UserModel, layout: Layout, candidates: list[str], retry: bool) -> dict[str, Any]:
    """The manifest entry of a user model, copying it in when it changed.

    Kept as is when the user's files are unchanged and its reference is
    intact, or when no env could load it and the same envs would be tried
    again (`--fresh` tries them anyway).
    """
    root = layout.artifacts(user.producer)
    name = layout.artifact_name(user.name, user.policy, user.format)
    source = _source_digest(user)
    old = store.read_manifest(layout, user.producer)["artifacts"].get(name)
    if isinstance(old, dict) and old.get("source_key") == source and not retry:
        if old.get("reference_sha256") and store.verify_entry(root, old):
            return old
        unloadable = old.get("reference_error") and old.get("reference_candidates") == candidates
        if unloadable and files.hash_tree(root, root / name) == old.get("files"):
            return old
    root.mkdir(parents=True, exist_ok=True)
    target = root / name
    if target.is_dir():
        shutil.rmtree(target)
    if user.path.is_dir():
        shutil.copytree(user.path, target, symlinks=False)
    else:
        shutil.copyfile(user.path, target)
    entry: dict[str, Any] = {
        "model": user.name,
        "policy": user.policy,
        "format": user.format,
        "status": "saved",
        "path": name,
        "reference": layout.reference_name(user.name, user.policy),
        "reference_sha256": None,
        "source": str(user.path),
        "source_sha256": _tree_digest(user.path),
        "source_key": source,
        "reference_candidates": candidates,
        "files": files.hash_tree(root, target),
        "custom_objects_module": str(user.custom_objects) if user.custom_objects else None,
        "custom_objects_sha256": files.sha256_file(user.custom_objects)
        if user.custom_objects
        else None,
    }
    if user.inputs is not None:
        _write_npz(root / f"{user.name}.inputs.npz", read_arrays(user.inputs, "inputs"), "input")
    if user.expected is not None:
        inputs = read_arrays(user.inputs, "inputs") if user.inputs else []
        outputs = read_arrays(user.expected, "expected outputs")
        arrays = {**_numbered(inputs, "input"), **_numbered(outputs, "output")}
        _write_arrays(root / entry["reference"], arrays)
        entry["reference_env"] = "the user's expected outputs"
        _set_reference(root, entry)
    _save(layout, user, entry)
    return entry


def _candidates(plan: Plan, users: list[UserModel]) -> list[PlannedEnv]:
    """Envs to try, in plan order; a named baseline alone when one is set."""
    if not users:
        return []
    baselines = {u.baseline for u in users if u.baseline}
    return [
        p for p in plan.producer_envs if not p.unavailable and (not baselines or p.id in baselines)
    ]


def _try_env(
    planned: PlannedEnv,
    waiting: list[tuple[UserModel, dict[str, Any]]],
    settings: Settings,
    layout: Layout,
) -> list[tuple[UserModel, dict[str, Any]]]:
    mine = {u.name for u, _ in waiting if u.baseline in (None, planned.id)}
    if not mine or ready_env(planned, layout, settings, "reference") is None:
        return waiting
    tasks = [_task(user, entry, layout) for user, entry in waiting if user.name in mine]
    sink = _ReferenceSink()
    outcome = run_probe(probe_command(planned, layout, settings, "reference"), tasks, sink)
    still = []
    for user, entry in waiting:
        result = sink.results.get(user.name)
        root = layout.artifacts(user.producer)
        if result is not None and result.get("status") == "predicted":
            entry["reference_env"] = planned.id
            entry["description"] = result.get("description")
            _set_reference(root, entry)
            _save(layout, user, entry)
            continue
        if user.name in mine:
            error = (result or {}).get("error") or outcome.env_error or "the probe stopped"
            entry.setdefault("reference_tries", []).append(
                {"env": planned.id, "error_type": (result or {}).get("error_type"), "error": error}
            )
        still.append((user, entry))
    return still


def _task(user: UserModel, entry: dict[str, Any], layout: Layout) -> dict[str, Any]:
    root = layout.artifacts(user.producer)
    inputs = root / f"{user.name}.inputs.npz"
    return {
        "id": user.name,
        "model": user.name,
        "format": user.format,
        "loader": "saved-model" if user.format == "savedmodel" else "keras",
        "root": str(root),
        "path": str(root / entry["path"]),
        "files": entry["files"],
        "inputs": str(inputs) if user.inputs else None,
        "write_reference": str(root / entry["reference"]),
        "custom_objects_module": entry.get("custom_objects_module"),
        "safe_mode": True,
    }


class _ReferenceSink(Sink):
    def __init__(self) -> None:
        self.results: dict[str, dict[str, Any]] = {}

    def event(self, event: dict[str, Any]) -> None:
        if event["event"] == "done":
            self.results[str(event["task"])] = event


def _set_reference(root: Path, entry: dict[str, Any]) -> None:
    entry["reference_sha256"] = files.sha256_file(root / entry["reference"])
    entry.pop("reference_error", None)
    entry["sha256"] = store.artifact_digest(entry)


def _save(layout: Layout, user: UserModel, entry: dict[str, Any]) -> None:
    if "sha256" not in entry:
        entry["sha256"] = store.artifact_digest(entry)
    manifest = store.read_manifest(layout, user.producer)
    manifest["artifacts"] = {entry["path"]: entry}
    store.write_manifest(layout, user.producer, manifest)


def _source_digest(user: UserModel) -> str:
    """What the reference depends on: the user's files and settings."""
    parts = [
        _tree_digest(user.path),
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


def _numbered(arrays: list[Any], prefix: str) -> dict[str, Any]:
    return {f"{prefix}_{i}": a for i, a in enumerate(arrays)}


def _write_npz(path: Path, arrays: list[Any], prefix: str) -> None:
    _write_arrays(path, _numbered(arrays, prefix))


def _write_arrays(path: Path, arrays: dict[str, Any]) -> None:
    import numpy as np

    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
