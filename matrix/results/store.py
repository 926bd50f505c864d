"""What a run keeps between phases: env states, manifests, cell results.

Results are records keyed by content (artifact sha256, consumer env
fingerprint, probe version, loader): a record whose key is already stored is
never recomputed. Readers are tolerant: a missing or broken file reads as
empty, so a corrupt store costs recomputation, not a crash.
"""

from __future__ import annotations

import ast
import functools
import json
from pathlib import Path

from matrix import files
from matrix.paths import PROBES_DIR, Layout
from matrix.results.records import (
    ArtifactEntry,
    EnvState,
    Manifest,
    RecordError,
    Result,
)
from matrix.selection.env import Env


@functools.cache
def probe_version() -> str:
    """Digest of the probes' code: any change to how models are saved, loaded
    or predicted invalidates every stored artifact and result. The syntax
    tree is hashed, not the text, so reformatting or comments cost nothing."""
    trees = "".join(
        f"{path.name}\n{ast.dump(ast.parse(path.read_text(encoding='utf-8')))}\n"
        for path in sorted(PROBES_DIR.glob("*.py"))
    )
    return files.sha256_text(trees)[:16]


def cell_key(
    artifact_sha256: str, env_fingerprint: str, probe: str, loader: str, unsafe: bool = False
) -> str:
    return files.sha256_text(json.dumps([artifact_sha256, env_fingerprint, probe, loader, unsafe]))


def inspection_key(entry: ArtifactEntry) -> str:
    """What an artifact's inspection is stored under: the sha256 of its files
    alone (a new reference does not change what is in them), or the key a
    refused user model was given before any of its files were copied."""
    if entry.inspection_key:
        return entry.inspection_key
    parts = sorted(f"{name}:{sha}" for name, sha in entry.files.items())
    return files.sha256_text("\n".join(parts))


def artifact_digest(entry: ArtifactEntry) -> str:
    """One sha256 for an artifact: its files, its reference and (for a user
    model) its custom-objects module, by content."""
    parts = sorted(f"{name}:{sha}" for name, sha in entry.files.items())
    parts.append(f"reference:{entry.reference_sha256}")
    if entry.custom_objects_sha256:
        parts.append(f"custom-objects:{entry.custom_objects_sha256}")
    return files.sha256_text("\n".join(parts))


# -- env states -----------------------------------------------------------


def read_env_state(layout: Layout, env: Env) -> EnvState:
    """An env's state; a missing or unreadable one (or another env's) reads as pending."""
    try:
        state = EnvState.from_dict(files.read_json(layout.env_state(env.id)))
    except RecordError:
        return EnvState(env)
    return state if state.env == env else EnvState(env)


def write_env_state(layout: Layout, state: EnvState) -> None:
    """The one writer of env states: the whole record, atomically."""
    files.write_json(layout.env_state(state.id), state.to_dict())


# -- manifests ------------------------------------------------------------


def read_manifest(layout: Layout, env_id: str) -> Manifest:
    """A producer's manifest, or an empty one when missing or unreadable."""
    try:
        return Manifest.from_dict(files.read_json(layout.manifest(env_id)))
    except RecordError:
        return Manifest(producer=env_id)


def write_manifest(layout: Layout, manifest: Manifest) -> None:
    files.write_json(layout.manifest(manifest.producer), manifest.to_dict())


def verify_entry(root: Path, entry: ArtifactEntry) -> bool:
    """True when an artifact's files and reference still match their sha256."""
    try:
        target = root / entry.path
        if files.hash_tree(root, target) != dict(entry.files):
            return False
        return bool(files.sha256_file(root / entry.reference) == entry.reference_sha256)
    except (OSError, ValueError):
        return False


# -- cell results ---------------------------------------------------------


def any_results(layout: Layout, env_ids: list[str]) -> bool:
    """Whether any of these consumers has stored a result."""
    return any(layout.results(env_id).is_file() for env_id in env_ids)


def read_results(layout: Layout, env_id: str) -> dict[str, Result]:
    """Stored results of one consumer by key; the last line for a key wins,
    a line that is not a valid result is skipped (its cell is redone)."""
    records: dict[str, Result] = {}
    for line in files.read_lines(layout.results(env_id)):
        try:
            result = Result.from_dict(line)
        except RecordError:
            continue
        records[result.key] = result
    return records


def append_result(layout: Layout, env_id: str, result: Result) -> None:
    files.append_line(layout.results(env_id), result.to_dict())
