"""Known causes: the upstream behaviours that explain failing cells, as data.

`known.toml` (beside this module) lists each known behaviour of TensorFlow or
Keras: how to recognise its cells (status, error type and message patterns,
producer and consumer TensorFlow ranges and flavours, format, loader, model),
its cause in plain words, the upstream issue, PR or release note, and the way
out. Every failing cell of a report is joined to the first entry that
matches it; what matches nothing is "new or unexplained": a harness defect
or an upstream regression worth reporting.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from matrix.axes import version_tuple
from matrix.results.cells import Cell
from matrix.selection.env import Env
from matrix.settings import ConfigError
from matrix.status import Status

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 hosts
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

KNOWN_FILE = Path(__file__).with_name("known.toml")
# Statuses a cause may explain: failures, and refusals to save.
EXPLAINABLE = Status.values(lambda s: s.failing)
KINDS = ("upstream", "format", "by-design")
_LISTS = (
    "status",
    "format",
    "loader",
    "model",
    "policy",
    "producer_flavour",
    "consumer_flavour",
    "producer_backend",
    "consumer_backend",
)
_PATTERNS = ("error_type", "message", "traceback")
# Ranges over TensorFlow minors (`*_tf`) and Keras versions (`*_keras`).
_RANGES = ("producer_tf", "consumer_tf", "producer_keras", "consumer_keras")
_TEXT = ("id", "title", "cause", "way_out", "kind")
_ALLOWED = {*_LISTS, *_PATTERNS, *_RANGES, *_TEXT, "links", "diagonal", "evidence"}


@dataclass(frozen=True)
class VersionRange:
    """ ">=2.11,<2.16" over TensorFlow minors; empty: any."""

    bounds: tuple[tuple[str, tuple[int, ...]], ...] = ()

    @classmethod
    def parse(cls, text: str, where: str) -> VersionRange:
        bounds = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            match = re.fullmatch(r"(>=|<=|==|<|>)\s*(\d+(?:\.\d+)*)", part)
            if not match:
                msg = f"{where}: invalid version range {text!r}: expected e.g. '>=2.11,<2.16'"
                raise ConfigError(msg)
            bounds.append((match[1], tuple(int(n) for n in match[2].split("."))))
        return cls(tuple(bounds))

    def __contains__(self, version: tuple[int, ...]) -> bool:
        checks = {
            ">=": lambda b: version >= b,
            "<=": lambda b: version <= b,
            "==": lambda b: version == b,
            "<": lambda b: version < b,
            ">": lambda b: version > b,
        }
        return all(checks[op](bound) for op, bound in self.bounds)


@dataclass(frozen=True)
class Cause:
    id: str
    title: str
    cause: str
    way_out: str
    kind: str
    links: tuple[str, ...]
    lists: Mapping[str, frozenset[str]] = field(default_factory=dict)
    patterns: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    ranges: Mapping[str, VersionRange] = field(default_factory=dict)
    diagonal: bool | None = None
    # A cell of a published run that shows it, replayable with
    # `python -m matrix repro <evidence>` (producer/consumer/model/policy/format/loader).
    evidence: str | None = None

    def matches(self, cell: Cell, envs: Mapping[str, EnvFacts | None]) -> bool:
        if cell.status not in self.lists.get("status", EXPLAINABLE):
            return False
        producer, consumer = envs.get(cell.producer), envs.get(cell.consumer)
        if self.diagonal is not None and (cell.producer == cell.consumer) != self.diagonal:
            return False
        values = {
            "format": cell.format,
            "loader": cell.loader,
            "model": cell.model,
            "policy": cell.policy,
            "producer_flavour": producer.flavour if producer else None,
            "consumer_flavour": consumer.flavour if consumer else None,
            "producer_backend": producer.backend if producer else None,
            "consumer_backend": consumer.backend if consumer else None,
        }
        for key, allowed in self.lists.items():
            if key != "status" and values.get(key) not in allowed:
                return False
        for key, side in (("producer_tf", producer), ("consumer_tf", consumer)):
            if key in self.ranges and (side is None or side.tf not in self.ranges[key]):
                return False
        for key, side in (("producer_keras", producer), ("consumer_keras", consumer)):
            if key in self.ranges and (
                side is None or side.keras is None or side.keras not in self.ranges[key]
            ):
                return False
        trace = cell.error_text or ""
        texts = {
            "error_type": cell.error_type or "",
            # Keras wraps errors while deserializing ("Error when deserializing
            # class X using config={...}") and names the cause on the last line.
            "message": (cell.error or "") + "\n" + trace.rstrip().rsplit("\n", 1)[-1],
            "traceback": trace,
        }
        return all(p.search(texts[key]) for key, p in self.patterns.items())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "cause": self.cause,
            "way_out": self.way_out,
            "kind": self.kind,
            "links": list(self.links),
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class EnvFacts:
    """What a cause's matcher knows of an env: its Keras line (keras2,
    keras3, tf-keras, standalone-keras), TF minor, Keras version and backend."""

    flavour: str
    tf: tuple[int, ...]
    keras: tuple[int, ...] | None = None
    backend: str | None = None

    @classmethod
    def of(cls, env: Env | None, keras: str | None = None) -> EnvFacts | None:
        """An env's facts (`keras`: the Keras version it ran); None for a user
        model or a TFLite interpreter (no TensorFlow, no Keras). Keras 3 on
        JAX or PyTorch has no TensorFlow: its TF minor sorts after every
        release, so no TF range holds it."""
        if env is None or env.release.interpreter_only:
            return None
        version = version_tuple(keras) if keras else None
        return cls(env.keras_line, env.tf_version or (999, 0), version or None, env.backend)


def parse(document: Mapping[str, Any], where: str) -> tuple[Cause, ...]:
    entries = document.get("cause", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: expected [[cause]] tables")
    causes = [_cause(entry, f"{where} cause {i + 1}") for i, entry in enumerate(entries)]
    ids = [c.id for c in causes]
    for cause_id in ids:
        if ids.count(cause_id) > 1:
            raise ConfigError(f"{where}: two causes have the id {cause_id!r}")
    return tuple(causes)


def _cause(entry: Any, where: str) -> Cause:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table")
    unknown = set(entry) - _ALLOWED
    if unknown:
        msg = f"{where}: unknown key {sorted(unknown)[0]!r}: expected one of {sorted(_ALLOWED)}"
        raise ConfigError(msg)
    for key in (*_TEXT, "links"):
        if not entry.get(key):
            raise ConfigError(f"{where}: {key!r} is required")
    where = f"{where} ({entry['id']})"
    if entry["kind"] not in KINDS:
        raise ConfigError(f"{where}: kind {entry['kind']!r}: expected one of {', '.join(KINDS)}")
    links = tuple(entry["links"])
    if not all(isinstance(x, str) and x.startswith("https://") for x in links):
        raise ConfigError(f"{where}: every link must be an https:// URL")
    lists = {k: frozenset(_strings(entry[k], k, where)) for k in _LISTS if k in entry}
    unknown_status = lists.get("status", frozenset()) - EXPLAINABLE
    if unknown_status:
        raise ConfigError(f"{where}: status {sorted(unknown_status)[0]!r} is not a failure")
    try:
        patterns = {k: re.compile(entry[k]) for k in _PATTERNS if k in entry}
    except re.error as exc:
        raise ConfigError(f"{where}: invalid pattern: {exc}") from exc
    ranges = {k: VersionRange.parse(str(entry[k]), where) for k in _RANGES if k in entry}
    diagonal = entry.get("diagonal")
    if diagonal is not None and not isinstance(diagonal, bool):
        raise ConfigError(f"{where}: diagonal must be true or false")
    evidence = entry.get("evidence")
    if evidence is not None and (not isinstance(evidence, str) or evidence.count("/") != 5):
        raise ConfigError(
            f"{where}: evidence must be a cell id producer/consumer/model/policy/format/loader"
        )
    return Cause(
        str(entry["id"]),
        str(entry["title"]),
        str(entry["cause"]),
        str(entry["way_out"]),
        str(entry["kind"]),
        links,
        lists,
        patterns,
        ranges,
        diagonal,
        evidence,
    )


def _strings(value: Any, key: str, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a string or a list of strings")
    return value


@cache
def causes(path: Path = KNOWN_FILE) -> tuple[Cause, ...]:
    with path.open("rb") as handle:
        return parse(tomllib.load(handle), path.name)


def explain(
    cells: Iterable[Cell],
    facts: Mapping[str, EnvFacts | None],
    known: tuple[Cause, ...] | None = None,
) -> tuple[list[Cell], dict[str, Cause]]:
    """The cells, each with `known` set (a cause id, or None), and the causes
    that matched, by id. `facts`: what is known of every producer and
    consumer id (`EnvFacts.of`; a gold producer's are the env's that froze
    it; none for a user model)."""
    table = causes() if known is None else known
    used: dict[str, Cause] = {}
    explained = []
    for cell in cells:
        found = None
        if cell.status in EXPLAINABLE:
            found = next((c for c in table if c.matches(cell, facts)), None)
        if found:
            used[found.id] = found
        explained.append(cell.with_(known=found.id if found else None))
    return explained, used
