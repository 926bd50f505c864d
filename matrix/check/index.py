"""The check index: the measured outcomes `check` predicts from, compact.

Built from published `compat.json` documents (the full preset, the default
matrix, the old producers) by the report step: every zoo artifact (its
producer env, model, policy, format) with each consumer's outcome per
loader (status, the inference-only load's status, the known cause), the
envs' facts (Keras line and version, TensorFlow minor, backend), each zoo
model's layer classes, each zoo TFLite file's operators, and the causes' words and links. Where two
documents measured the same cell, the first one given wins (the newest).
The wheel ships one (`matrix/check/index.json.gz`); `check --results`
adds a user's own compat.json.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from matrix.files import JsonObject
from matrix.results.document import Document

SCHEMA_VERSION = 1
SHIPPED = Path(__file__).with_name("index.json.gz")


@dataclass(frozen=True)
class EnvFacts:
    id: str
    release: str  # the release key: 2.15, keras3.8, litert2.3
    flavour: str
    line: str  # keras2, keras3, tf-keras, standalone-keras, interpreter
    tf: str | None  # the TensorFlow minor it runs, if any
    keras: str | None  # the Keras version it ran
    backend: str | None


@dataclass
class Index:
    envs: dict[str, EnvFacts] = field(default_factory=dict)
    # model -> layer classes (what the inspector read in its files)
    models: dict[str, list[str]] = field(default_factory=dict)
    causes: dict[str, JsonObject] = field(default_factory=dict)
    # (producer, model, policy, format) -> consumer -> loader -> [status, inference, cause]
    outcomes: dict[tuple[str, str, str, str], dict[str, dict[str, list[str | None]]]] = field(
        default_factory=dict
    )
    sources: list[JsonObject] = field(default_factory=list)
    # (producer, model, policy, format) -> TFLite operators with versions
    # ("FULLY_CONNECTED:v9"): a converter writes other op versions per release
    ops: dict[tuple[str, str, str, str], list[str]] = field(default_factory=dict)

    def to_dict(self) -> JsonObject:
        return {
            "schema_version": SCHEMA_VERSION,
            "sources": self.sources,
            "envs": {k: vars(v) for k, v in sorted(self.envs.items())},
            "models": dict(sorted(self.models.items())),
            "ops": [[*key, ops] for key, ops in sorted(self.ops.items())],
            "causes": dict(sorted(self.causes.items())),
            "artifacts": [[*key, outcomes] for key, outcomes in sorted(self.outcomes.items())],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Index:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"check index: expected schema_version {SCHEMA_VERSION}")
        return cls(
            envs={k: EnvFacts(**v) for k, v in data["envs"].items()},
            models={k: list(v) for k, v in data["models"].items()},
            ops={tuple(row[:4]): list(row[4]) for row in data.get("ops") or []},
            causes=dict(data["causes"]),
            outcomes={tuple(row[:4]): row[4] for row in data["artifacts"]},
            sources=list(data.get("sources") or []),
        )


def build(documents: Iterable[tuple[str, Document]]) -> Index:
    """The index of these documents (name, document), the first winning a tie."""
    index = Index()
    for name, document in documents:
        index.sources.append(
            {
                "report": name,
                "probe": document.run.get("probe_version"),
                "when": document.run.get("when"),
                "cells": len(document.cells),
            }
        )
        _add_envs(index, document)
        for artifact in document.artifacts:
            if str(artifact["producer"]).startswith("user:"):
                continue
            traits = (artifact.get("inspection") or {}).get("traits") or {}
            if traits.get("layers"):
                index.models.setdefault(str(artifact["model"]), sorted(traits["layers"]))
            if traits.get("ops"):
                key = (str(artifact["producer"]), str(artifact["model"]),
                       str(artifact["policy"]), str(artifact["format"]))  # fmt: skip
                index.ops.setdefault(key, sorted(traits["ops"]))
        index.causes.update({k: _cause(v) for k, v in (document.causes or {}).items()})
        for cell in document.cells:
            if cell.from_user:
                continue
            key = (cell.producer, cell.model, cell.policy, cell.format)
            by_loader = index.outcomes.setdefault(key, {}).setdefault(cell.consumer, {})
            inference = cell.inference.status if cell.inference else None
            by_loader.setdefault(cell.loader, [cell.status, inference, cell.known])
    return index


def _add_envs(index: Index, document: Document) -> None:
    for state in document.envs:
        env = state.env
        tf = state.tensorflow
        index.envs.setdefault(
            state.id,
            EnvFacts(state.id, env.tf, env.flavour, env.keras_line,
                     ".".join(tf.split(".")[:2]) if tf else None, state.keras, env.backend),
        )  # fmt: skip
    for gold in document.gold:
        env, keras = gold.env, gold.provenance.get("keras")
        tf = gold.provenance.get("tensorflow")
        index.envs.setdefault(
            gold.producer,
            EnvFacts(gold.producer, env.tf, env.flavour, env.keras_line,
                     ".".join(str(tf).split(".")[:2]) if tf else env.tf,
                     keras if isinstance(keras, str) else None, env.backend),
        )  # fmt: skip


def _cause(cause: Mapping[str, Any]) -> JsonObject:
    return {k: cause.get(k) for k in ("title", "way_out", "kind", "links")}


def write(index: Index, path: Path) -> None:
    text = json.dumps(index.to_dict(), sort_keys=True, separators=(",", ":"))
    path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))


def read(path: Path = SHIPPED) -> Index:
    data = path.read_bytes()
    if data.startswith(b"\x1f\x8b"):
        data = gzip.decompress(data)
    return Index.from_dict(json.loads(data))
