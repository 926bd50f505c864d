"""Replay and freeze gold producers.

`bring_in` copies each planned gold producer from the store into the output
folder (`<output>/gold/<env-id>/`), every file checked against the sha256 its
frozen manifest lists, and inspects it like any artifact; consumers then
read it as they read any producer's. `freeze` writes an env's saved
artifacts into the store, with their provenance.
"""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

from matrix import files
from matrix.files import JsonObject
from matrix.paths import MANIFEST, PROVENANCE, Layout
from matrix.results import store
from matrix.results.records import ArtifactEntry, Manifest
from matrix.run.probe import described
from matrix.run.produce import inspect_saved
from matrix.selection.env import Env
from matrix.selection.gold import GoldSet
from matrix.selection.plan import Plan
from matrix.settings import ConfigError


def bring_in(plan: Plan, layout: Layout) -> None:
    """Every planned gold producer, copied in (once) and verified."""
    for frozen in plan.gold:
        manifest = store.read_manifest(layout, frozen.producer)
        if not manifest.artifacts or not _intact(layout, manifest):
            manifest = _copy(frozen, layout)
        inspect_saved(layout, manifest)


def _intact(layout: Layout, manifest: Manifest) -> bool:
    root = layout.artifacts(manifest.producer)
    return all(store.verify_entry(root, e) for e in manifest.artifacts.values() if e.saved)


def _copy(frozen: GoldSet, layout: Layout) -> Manifest:
    source = Manifest.from_dict(files.read_json(frozen.folder / MANIFEST))
    target = layout.artifacts(frozen.producer)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    entries: dict[str, ArtifactEntry] = {}
    for name, entry in source.artifacts.items():
        if entry.saved:
            _copy_files(entry, frozen.folder, target)
            if not store.verify_entry(target, entry):
                msg = (
                    f"Gold producer {frozen.env_id}: {name} does not match the sha256 its "
                    f"manifest lists (the store at {frozen.folder} was changed)"
                )
                raise ConfigError(msg)
        entries[name] = entry
    manifest = Manifest(frozen.producer, entries, probe=source.probe, env=source.env)
    store.write_manifest(layout, manifest)
    return manifest


def freeze(
    layout: Layout, env: Env, store_dir: Path, keep: tuple[tuple[str, str, str], ...]
) -> GoldSet:
    """Copy one env's saved artifacts (those in `keep`) into the store."""
    env_id = env.id
    manifest = store.read_manifest(layout, env_id)
    chosen = {n: e for n, e in manifest.artifacts.items() if e.saved and e.key in keep}
    if not chosen:
        msg = (
            f"Nothing to freeze for {env_id}: no saved artifact of the selection in "
            f"{layout.artifacts(env_id)} (run `python -m matrix produce --env {env_id}` first)"
        )
        raise ConfigError(msg)
    root = layout.artifacts(env_id)
    target = store_dir / env_id
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for entry in chosen.values():
        _copy_files(entry, root, target)
    hello = None
    if manifest.env:
        # The Keras version from the env's installed packages where the probe
        # found none (EnvState.keras: standalone Keras on Python 3.7).
        keras = store.read_env_state(layout, env).keras
        hello = {**described(layout, manifest.env), "keras": manifest.env.get("keras") or keras}
    frozen = Manifest(env_id, chosen, probe=manifest.probe, env=hello)
    files.write_json(target / MANIFEST, frozen.to_dict())
    files.write_json(target / PROVENANCE, provenance(env_id, frozen, target))
    return GoldSet(env_id, tuple(sorted(e.key for e in chosen.values())), target)


def _copy_files(entry: ArtifactEntry, source: Path, target: Path) -> None:
    """An artifact's files and its reference, from one artifacts folder to another."""
    for rel in sorted({*entry.files, entry.reference}):
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target / rel)


def provenance(env_id: str, manifest: Manifest, folder: Path) -> JsonObject:
    """Where the frozen files came from, as a reader checks them."""
    versions = manifest.env or {}
    return {
        "env": env_id,
        "tensorflow": versions.get("tensorflow"),
        "keras": versions.get("keras"),
        "keras_flavour": versions.get("keras_flavour"),
        "python": versions.get("python"),
        "numpy": versions.get("numpy"),
        "probe": manifest.probe,
        "frozen": datetime.date.today().isoformat(),
        "files": files.hash_tree(folder, folder),
    }
