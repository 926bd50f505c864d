"""The upgrade answer: the question people open the report with, answered first.

For the main upgrade paths (each step between adjacent releases of the
default matrix, and the Keras 2 -> Keras 3 jump, `axes.KERAS3_JUMP`), one verdict
per format (how many of the zoo's models still load with `load_model` and
predict the same after the upgrade, how many break with a measured way out,
how many with none) and the models that break, each with what to do. Every
statement is a measured cell (`advice.advise`).
"""

from __future__ import annotations

import itertools
from collections import Counter

from matrix import axes
from matrix.files import JsonObject
from matrix.paths import is_gold_producer
from matrix.report.advice import advise, producing_envs
from matrix.results.document import Document
from matrix.selection.env import Env


def main_paths(envs: dict[str, Env]) -> list[tuple[str, str]]:
    """Adjacent TensorFlow releases of the default matrix, then the Keras 3 jump,
    then each gold producer's release -> the newest, each kept only where the
    document's producing envs (`advice.producing_envs`) have both versions."""
    releases = {tf for tf, _ in axes.PRESETS["default"] if not axes.RELEASES[tf].interpreter_only}
    default = sorted(releases, key=lambda v: axes.RELEASES[v].version)
    paths = list(itertools.pairwise(default))
    if axes.KERAS3_JUMP not in paths:
        paths.append(axes.KERAS3_JUMP)
    old_era = sorted(
        {envs[p].tf for p in envs if _saves_only(p, envs[p])},
        key=lambda v: axes.RELEASES[v].version,
    )
    paths += [(old, default[-1]) for old in old_era if (old, default[-1]) not in paths]
    present = {env.tf for env in envs.values()}
    return [(old, new) for old, new in paths if old in present and new in present]


def answers(document: Document) -> list[JsonObject]:
    # What each env read back itself through load_model: a model that never
    # loaded before the upgrade has nothing to keep working.
    read_back = {
        (c.producer, c.model, c.policy, c.format)
        for c in document.cells
        if c.producer == c.consumer and c.loader == "keras" and c.status in ("identical", "close")
    }
    # A gold producer's env read back what it froze when it froze it; an
    # old-era env (TF 1.15-2.4) loads nothing here, so what it saved counts.
    envs = producing_envs(document)
    read_back |= {
        (a["producer"], a["model"], a["policy"], a["format"])
        for a in document.artifacts
        if a["producer"] in envs
        and _saves_only(a["producer"], envs[a["producer"]])
        and a["status"] == "saved"
    }
    found = []
    for old, new in main_paths(envs):
        advice = advise(document, old, new)
        # Zoo models saved with the old release's default Keras (what
        # `pip install tensorflow==<old>` gives) that existed before the upgrade.
        sources = [e for e in advice["from_envs"] if _is_default(envs[e])]
        # The answer is about load_model: a .tflite file never goes through it
        # (its runtimes have their own grid).
        rows = [
            r
            for r in advice["rows"]
            if r["producer"] in sources
            and "keras" in axes.FORMAT_LOADERS.get(r["format"], ("keras",))
            and (r["producer"], r["model"], r["policy"], r["format"]) in read_back
        ]
        if advice["to_env"] is None or not rows:
            continue
        found.append(
            {
                "from": old,
                "to": new,
                "from_envs": sources,
                "to_env": advice["to_env"],
                "formats": _verdicts(rows),
                "breaking": [r for r in rows if not r["works"]],
            }
        )
    return found


def _saves_only(producer: str, env: Env) -> bool:
    """A gold producer, or an env of an era that only produces."""
    return is_gold_producer(producer) or not env.consumes


def _is_default(env: Env) -> bool:
    return env.flavour == env.release.default_flavour and not env.keras and env.produces


def _verdicts(rows: list[JsonObject]) -> dict[str, dict[str, int]]:
    counts: dict[str, Counter[str]] = {}
    for row in rows:
        tally = counts.setdefault(row["format"], Counter())
        tally["models"] += 1
        if row["direct"]["status"] == "pending":
            tally["not_measured"] += 1
        elif row["works"]:
            tally["work"] += 1
        elif row["alternatives"]:
            tally["way_out"] += 1
        else:
            tally["no_way"] += 1
    return {fmt: dict(tally) for fmt, tally in counts.items()}
