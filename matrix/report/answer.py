"""The upgrade answer: the question people open the report with, answered first.

For the main upgrade paths (each step between adjacent releases of the
default matrix, the Keras 2 -> Keras 3 jump `axes.KERAS3_JUMP`, each old
release to the newest, and each step between the Keras 3 minors measured,
both ways), per format: how many of the zoo's models still load
the way they loaded before and predict the same, how many need a way out
(and the cheapest one measured to work for them), how many have none; the
models that fail by design, apart; and what to install to get the measured
result ("what to pin"). Every statement is a measured cell (`advice.advise`).
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import replace

from matrix import axes
from matrix.files import JsonObject
from matrix.paths import is_gold_producer
from matrix.report import ways
from matrix.report.advice import advise, breaks, producing_envs
from matrix.results.document import Document
from matrix.results.records import EnvState
from matrix.selection.env import Env

# The packages whose versions decide how a model loads, named in "what to pin".
PINNED = ("tensorflow-cpu", "tensorflow", "tf-nightly", "keras", "keras-nightly", "tf-keras",
          "jax", "jaxlib", "torch", "numpy", "h5py")  # fmt: skip


def main_paths(envs: dict[str, Env]) -> list[tuple[str, str]]:
    """Adjacent TensorFlow releases of the default matrix, then the Keras 3
    jump, then each gold producer's release -> the newest, each kept only
    where the document's producing envs (`advice.producing_envs`) have both
    versions."""
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
    # Keras 3 minors, each step both ways: saved with a newer Keras and loaded
    # with the older one production runs, and the upgrade.
    minors = sorted(
        {env.tf for env in envs.values() if env.release.keras_minor},
        key=lambda key: axes.RELEASES[key].version,
    )
    for older, newer in itertools.pairwise(minors):
        paths += [(newer, older), (older, newer)]
    return [(old, new) for old, new in paths if old in present and new in present]


def answers(document: Document) -> list[JsonObject]:
    envs = producing_envs(document)
    found = []
    for old, new in main_paths(envs):
        advice = advise(document, old, new)
        # Zoo models saved with the old release's default Keras (what
        # `pip install tensorflow==<old>` gives) that loaded before the
        # upgrade; a .tflite file never goes through Keras (its runtimes
        # have their own grid).
        sources = [e for e in advice["from_envs"] if _is_default(envs[e])]
        rows = [
            r
            for r in advice["rows"]
            if r["producer"] in sources
            and "keras" in axes.FORMAT_LOADERS.get(r["format"], ("keras",))
            and r["read_back"]
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
                "breaking": [r for r in rows if breaks(r)],
                "by_design": [r for r in rows if r["by_design"]],
                "pins": pins(document, advice, rows),
                "patches": patches(document, [r for r in rows if breaks(r)]),
                "unmeasured": unmeasured_ways(document, envs[advice["to_env"]]),
            }
        )
    return found


def _saves_only(producer: str, env: Env) -> bool:
    """A gold producer, or an env of an era that only produces."""
    return is_gold_producer(producer) or not env.consumes


def _is_default(env: Env) -> bool:
    return env.flavour == env.release.default_flavour and not env.keras and env.produces


def _verdicts(rows: list[JsonObject]) -> dict[str, JsonObject]:
    """Per format: the counts, the loader the answer measured, and the best
    way out (the cheapest kind that works for the most broken models)."""
    found: dict[str, JsonObject] = {}
    for fmt in dict.fromkeys(r["format"] for r in rows):
        mine = [r for r in rows if r["format"] == fmt]
        counted = [r for r in mine if not r["by_design"]]
        broken = [r for r in counted if not r["works"] and r["direct"]["status"] != "pending"]
        best: Counter[str] = Counter()
        for row in broken:
            best.update({str(w["kind"]) for w in row["alternatives"]})
        ranked = sorted(best.items(), key=lambda kv: (-kv[1], ways.RANK[kv[0]]))
        first = ranked[0] if ranked else None
        found[fmt] = {
            "models": len(counted),
            "work": sum(1 for r in counted if r["works"]),
            "way_out": sum(1 for r in broken if r["alternatives"]),
            "no_way": sum(1 for r in broken if not r["alternatives"]),
            "not_measured": sum(1 for r in counted if r["direct"]["status"] == "pending"),
            "by_design": len(mine) - len(counted),
            "loaders": sorted({str(r["loader"]) for r in mine}),
            "best": _best(first, broken) if first else None,
            "policies": _policy_split(counted),
        }
    return found


def _best(first: tuple[str, int], broken: list[JsonObject]) -> JsonObject:
    kind, count = first
    example = next(w for r in broken for w in r["alternatives"] if w["kind"] == kind)
    return {**{k: example[k] for k in ("kind", "how", "costs", "keeps")}, "works_for": count}


def _policy_split(rows: list[JsonObject]) -> dict[str, dict[str, int]]:
    """Per policy: how many models work and how many there are (a format
    whose float32 files survive and whose mixed_float16 ones do not)."""
    split: dict[str, Counter[str]] = {}
    for row in rows:
        tally = split.setdefault(str(row["policy"]), Counter())
        tally["models"] += 1
        tally["work"] += bool(row["works"])
    return {policy: dict(tally) for policy, tally in split.items()}


def patches(document: Document, breaking: list[JsonObject]) -> list[JsonObject]:
    """The patch releases `bisect` found for the causes that break this path,
    each with the requirement it means: where a newer writer breaks old
    readers, the newest writer that does not (`keras<3.13.0`); where a
    newer reader fixes it, the first that does (`keras>=3.13.0`)."""
    found: dict[str, JsonObject] = {}
    for row in breaking:
        cause = document.causes.get(str(row.get("known") or ""))
        for bisected in (cause or {}).get("bisected") or ():
            operator = "<" if bisected["kind"] == "broken" else ">="
            requirement = f"{bisected['package']}{operator}{bisected['first']}"
            found.setdefault(requirement, {"cause": row["known"], "words": bisected["words"],
                                           "requirement": requirement,
                                           "side": bisected["side"]})  # fmt: skip
    return list(found.values())


def pins(document: Document, advice: JsonObject, rows: list[JsonObject]) -> list[JsonObject]:
    """What to install to get what was measured: the new TF's default env,
    then the env of each way out that installs something (tf-keras, a pinned
    Keras), each with the versions its env ran and what it takes along."""
    states = {state.id: state for state in document.envs}
    wanted = [str(advice["to_env"])]
    for row in rows:
        for way in row["alternatives"]:
            if way["kind"] in ("tf-keras", "pin-keras") and way["consumer"] not in wanted:
                wanted.append(str(way["consumer"]))
    found = []
    for env_id in wanted:
        state = states.get(env_id)
        if state is not None:
            found.append(_pin(state, "default" if env_id == advice["to_env"] else "way out"))
    return found


def _pin(state: EnvState, role: str) -> JsonObject:
    versions = {
        name.strip().lower().replace("_", "-"): version.strip()
        for name, sep, version in (line.partition("==") for line in state.freeze)
        if sep
    }
    measured = {name: versions[name] for name in PINNED if name in versions}
    # The CPU wheel measured is `tensorflow-cpu`; users install `tensorflow`
    # (tf-keras brings it along too). A tf-keras env's Keras 3 is not its Keras.
    wanted = ("tensorflow", "tf-nightly", "tf-keras") if state.env.flavour == "tf-keras" else (
        "tensorflow", "tf-nightly", "keras", "keras-nightly", "jax", "torch")  # fmt: skip
    install = list(
        dict.fromkeys(
            f"{name.removesuffix('-cpu')}=={version}"
            for name, version in measured.items()
            if name.removesuffix("-cpu") in wanted
        )
    )
    return {
        "env": state.id,
        "role": role,
        "install": install,
        "environment": axes.flavour_environment(state.env.flavour),
        "versions": measured,
    }


def unmeasured_ways(document: Document, target: Env) -> list[str]:
    """The new release's flavours this selection did not measure (tf-keras,
    a way out), as the env ids a run adds (a report says what it did not
    look at)."""
    if target.release.family != "tensorflow":
        return []  # a Keras minor's other backends are other runtimes, not ways out
    present = {state.env for state in document.envs}
    return [
        env.id
        for flavour in target.release.flavours
        if (env := replace(target, flavour=flavour)) not in present
    ]
