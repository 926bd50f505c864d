"""Merge: the output folders of N shards (CI jobs) into one, as if one machine ran.

A produce shard holds `artifacts/<env>/` and `envs/<env>.json`; a consume
shard holds `results/<env>.jsonl`, `outputs/<env>/` and its own
`envs/<env>.json` (whose fingerprint keys those results). Artifacts,
outputs and results are unioned (results deduplicated by key when read); an
env's states are overlaid with the consumer's last, so its fingerprint is
the one its results were measured with.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from matrix import files
from matrix.files import JsonObject
from matrix.paths import Layout
from matrix.results import store
from matrix.results.records import EnvState, RecordError
from matrix.settings import ConfigError

_FOLDERS = ("artifacts", "gold", "user", "outputs", "inspections", "logs")


def merge(shards: list[Path], into: Path) -> None:
    for shard in shards:
        if not shard.is_dir() or not any((shard / name).exists() for name in ("envs", "artifacts")):
            msg = (
                f"Not a matrix output folder: {shard} (expected envs/ or artifacts/ "
                f"inside, as `python -m matrix run|produce|consume` write them)"
            )
            raise ConfigError(msg)
    into.mkdir(parents=True, exist_ok=True)
    states: dict[str, list[JsonObject]] = {}
    for shard in shards:
        if shard.resolve() == into.resolve():
            _collect_states(shard, states)
            continue
        for name in _FOLDERS:
            if (shard / name).is_dir():
                shutil.copytree(shard / name, into / name, dirs_exist_ok=True)
        for results in sorted((shard / "results").glob("*.jsonl")):
            target = into / "results" / results.name
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("ab") as out:
                out.write(_whole_lines(results.read_bytes()))
        if (shard / "plan.json").exists() and not (into / "plan.json").exists():
            shutil.copyfile(shard / "plan.json", into / "plan.json")
        _collect_states(shard, states)
    layout = Layout(into, into)
    for env_id, found in states.items():
        try:
            state = EnvState.from_dict(_overlay(found))
        except RecordError as exc:
            msg = f"The shards' states of env {env_id} cannot be read: {exc}"
            raise ConfigError(msg) from exc
        store.write_env_state(layout, state)


def _collect_states(shard: Path, states: dict[str, list[JsonObject]]) -> None:
    for path in sorted((shard / "envs").glob("*.json")):
        data = files.read_json(path)
        if isinstance(data, dict):
            states.setdefault(path.stem, []).append(data)


def _overlay(found: list[JsonObject]) -> JsonObject:
    """States from produce shards first, then the consumer's on top: the last
    phase wins, as it does when one machine runs them in order."""
    merged: JsonObject = {}
    for state in sorted(found, key=lambda s: "consume_startups" in s):
        merged.update(state)
    return merged


def _whole_lines(data: bytes) -> bytes:
    """Complete lines only: a shard killed mid-write leaves a cut last line."""
    if not data or data.endswith(b"\n"):
        return data
    return data[: data.rfind(b"\n") + 1]
