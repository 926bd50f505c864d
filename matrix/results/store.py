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
from typing import Any

from matrix import files
from matrix.paths import PROBES_DIR, Layout

SCHEMA_VERSION = 1


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


def inspection_key(entry: dict[str, Any]) -> str:
    """What an artifact's inspection is stored under: the sha256 of its files
    alone (a new reference does not change what is in them), or the key a
    refused user model was given before any of its files were copied."""
    if entry.get("inspection_key"):
        return str(entry["inspection_key"])
    parts = sorted(f"{name}:{sha}" for name, sha in entry["files"].items())
    return files.sha256_text("\n".join(parts))


def artifact_digest(entry: dict[str, Any]) -> str:
    """One sha256 for an artifact: its files, its reference and (for a user
    model) its custom-objects module, by content."""
    parts = sorted(f"{name}:{sha}" for name, sha in entry["files"].items())
    parts.append(f"reference:{entry.get('reference_sha256')}")
    if entry.get("custom_objects_sha256"):
        parts.append(f"custom-objects:{entry['custom_objects_sha256']}")
    return files.sha256_text("\n".join(parts))


# -- env states -----------------------------------------------------------


def write_env_state(layout: Layout, env_id: str, state: dict[str, Any]) -> None:
    previous = read_env_state(layout, env_id)
    merged = {**previous, **state, "id": env_id}
    files.write_json(layout.env_state(env_id), merged)


def read_env_state(layout: Layout, env_id: str) -> dict[str, Any]:
    data = files.read_json(layout.env_state(env_id))
    return data if isinstance(data, dict) else {}


# -- manifests ------------------------------------------------------------


def read_manifest(layout: Layout, env_id: str) -> dict[str, Any]:
    """A producer's manifest, or an empty one when missing or unreadable."""
    data = files.read_json(layout.manifest(env_id))
    if (
        isinstance(data, dict)
        and data.get("schema_version") == SCHEMA_VERSION
        and isinstance(data.get("artifacts"), dict)
    ):
        return data
    return {"schema_version": SCHEMA_VERSION, "producer": env_id, "artifacts": {}}


def by_key(manifest: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """A manifest's entries by (model, policy, format), whatever their files are named."""
    return {
        (str(entry.get("model")), str(entry.get("policy")), str(entry.get("format"))): entry
        for entry in manifest["artifacts"].values()
        if isinstance(entry, dict)
    }


def write_manifest(layout: Layout, env_id: str, manifest: dict[str, Any]) -> None:
    files.write_json(layout.manifest(env_id), manifest)


def verify_entry(root: Path, entry: dict[str, Any]) -> bool:
    """True when an artifact's files and reference still match their sha256."""
    try:
        target = root / entry["path"]
        if files.hash_tree(root, target) != entry["files"]:
            return False
        return bool(files.sha256_file(root / entry["reference"]) == entry["reference_sha256"])
    except (OSError, KeyError, ValueError):
        return False


# -- cell results ---------------------------------------------------------


def any_results(layout: Layout, env_ids: list[str]) -> bool:
    """Whether any of these consumers has stored a result."""
    return any(layout.results(env_id).is_file() for env_id in env_ids)


def read_results(layout: Layout, env_id: str) -> dict[str, dict[str, Any]]:
    """Stored cell records of one consumer by key; the last line for a key wins."""
    records: dict[str, dict[str, Any]] = {}
    for record in files.read_lines(layout.results(env_id)):
        key = record.get("key")
        if isinstance(key, str):
            records[key] = record
    return records


def append_result(layout: Layout, env_id: str, record: dict[str, Any]) -> None:
    files.append_line(layout.results(env_id), record)
