"""The gold store: what old envs saved, frozen, so every run can replay it.

TF 1.15 and standalone Keras 2.3 need Python 3.7 and wheels that may leave
the package index one day; building them on every run is slow. `python -m
matrix freeze --envs ...` copies an env's artifacts, their references and
manifest into `gold/<env-id>/` with a `provenance.json` (TensorFlow, Keras,
Python and numpy versions, the date, every file's sha256), and a run replays
those artifacts as the producer `gold:<env-id>` against today's consumers,
without building the old env (Apache Arrow's integration `gold` files work
this way). What a plan needs of a gold producer is read here: which
(model, policy, format) it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from matrix import files
from matrix.files import JsonObject
from matrix.paths import GOLD_DIR, MANIFEST, PROVENANCE, gold_producer
from matrix.selection.env import Env
from matrix.settings import ConfigError


@dataclass(frozen=True)
class GoldSet:
    """One frozen env: its id and the artifacts it holds."""

    env_id: str
    artifacts: tuple[tuple[str, str, str], ...]  # (model, policy, format), saved ones
    folder: Path

    @property
    def producer(self) -> str:
        return gold_producer(self.env_id)

    @property
    def env(self) -> Env:
        """The env that froze it."""
        return Env.parse(self.env_id)

    def provenance(self) -> JsonObject:
        data = files.read_json(self.folder / PROVENANCE)
        return data if isinstance(data, dict) else {}


def available(store: Path = GOLD_DIR) -> list[str]:
    """The env ids the store holds, sorted."""
    if not store.is_dir():
        return []
    return sorted(p.name for p in store.iterdir() if (p / PROVENANCE).is_file())


def read(env_id: str, store: Path = GOLD_DIR) -> GoldSet:
    folder = store / env_id
    manifest = files.read_json(folder / MANIFEST)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("artifacts"), dict):
        known = ", ".join(available(store)) or "none"
        msg = (
            f"No gold producer {env_id!r} in {store}: expected a folder with {MANIFEST} and "
            f"{PROVENANCE} (`python -m matrix freeze --envs {env_id}` writes one); "
            f"the store holds: {known}"
        )
        raise ConfigError(msg)
    saved = [
        (str(e.get("model")), str(e.get("policy")), str(e.get("format")))
        for e in manifest["artifacts"].values()
        if isinstance(e, dict) and e.get("status") == "saved"
    ]
    return GoldSet(env_id, tuple(sorted(set(saved))), folder)
