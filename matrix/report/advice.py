"""Upgrade advice: after moving from TF <from> to TF <to>, what still works?

For every model and format saved in a <from> env, the direct path is what a
user does today: `load_model` of the file in the new TF's default Keras. Where
that breaks, the other paths through the matrix that were measured to work
are listed: another loader for the same file, re-saving in another format in
the old env, installing tf-keras, pinning Keras. Nothing here is a
hand-written rule: every suggestion is a measured cell.
"""

from __future__ import annotations

from matrix.files import JsonObject
from matrix.results.cells import Cell
from matrix.results.document import Document
from matrix.results.records import is_user_producer
from matrix.selection.env import Env


def advise(document: Document, old: str, new: str) -> JsonObject:
    envs = producing_envs(document)
    sources = [i for i, e in envs.items() if e.tf == old and e.produces]
    targets = [i for i, e in envs.items() if e.tf == new and e.device == "cpu" and e.produces]
    default = _default_target(targets, envs)
    cells: dict[tuple[str, ...], Cell] = {c.key: c for c in document.cells}
    rows = []
    if default is not None:
        producers = sources + [p for p in document.producers if is_user_producer(p)]
        for producer in producers:
            for model, policy, fmt in _artifacts(document, producer):
                rows.append(
                    _row(cells, producer, model, policy, fmt, default, targets, envs, document)
                )
    return {
        "from": old,
        "to": new,
        "from_envs": sources,
        "to_env": default,
        "rows": rows,
        "summary": {
            "works": sum(1 for r in rows if r["works"]),
            "breaks_with_a_way_out": sum(1 for r in rows if not r["works"] and r["alternatives"]),
            "breaks": sum(1 for r in rows if not r["works"] and not r["alternatives"]),
        },
    }


def producing_envs(document: Document) -> dict[str, Env]:
    """Every env of the document by id, and each gold producer (by its
    producer id) as the env that froze it."""
    envs = {state.id: state.env for state in document.envs}
    envs.update({g.producer: g.env for g in document.gold})
    return envs


def _default_target(targets: list[str], envs: dict[str, Env]) -> str | None:
    """The env a plain `pip install tensorflow==<to>` gives: its default
    flavour, no Keras pin."""
    for target in targets:
        env = envs[target]
        if env.flavour == env.release.default_flavour and not env.keras:
            return target
    return targets[0] if targets else None


def _artifacts(document: Document, producer: str) -> list[tuple[str, str, str]]:
    seen = {
        (a["model"], a["policy"], a["format"])
        for a in document.artifacts
        if a["producer"] == producer
    }
    return sorted(seen)


def _row(  # noqa: PLR0917 - one row from the whole measured matrix
    cells: dict[tuple[str, ...], Cell],
    producer: str,
    model: str,
    policy: str,
    fmt: str,
    default: str,
    targets: list[str],
    envs: dict[str, Env],
    document: Document,
) -> JsonObject:
    direct = cells.get((producer, default, model, policy, fmt, "keras"))
    works = direct is not None and direct.state.passing
    alternatives: list[JsonObject] = []
    if not works:

        def passing(consumer: str, form: str, loader: str) -> Cell | None:
            found = cells.get((producer, consumer, model, policy, form, loader))
            return found if found is not None and found.state.passing else None

        inference = direct.inference if direct is not None else None
        if inference is not None and inference.passing:
            alternatives.append(
                {
                    "how": "load it with load_model(path, compile=False) (inference only)",
                    "status": inference.status,
                    "consumer": default,
                    "format": fmt,
                    "loader": "keras",
                }
            )
        for loader, how in LOADER_WAYS.items():
            hit = passing(default, fmt, loader)
            if hit:
                alternatives.append(_way(how, hit))
        if not is_user_producer(producer):
            for other in document.run["selection"]["formats"]:
                hit = passing(default, other, "keras") if other != fmt else None
                if hit:
                    alternatives.append(
                        _way(f"re-save it as {other} in TF {envs[producer].tf}", hit)
                    )
        for target in targets:
            env = envs[target]
            if target == default:
                continue
            hit = passing(target, fmt, "keras")
            if hit and env.flavour == "tf-keras":
                alternatives.append(_way("install tf-keras and set TF_USE_LEGACY_KERAS=1", hit))
            elif hit and env.keras:
                alternatives.append(_way(f"pin keras=={env.keras}.*", hit))
            elif hit:
                alternatives.append(_way(f"use the env {target}", hit))
    return {
        "producer": producer,
        "model": model,
        "policy": policy,
        "format": fmt,
        "direct": {
            "status": direct.status if direct else "pending",
            "error": direct.error if direct else None,
        },
        "works": works,
        "alternatives": alternatives,
    }


# Other ways to read the same file in the new env, in the words a user acts on.
LOADER_WAYS = {
    "saved-model": "load it with tf.saved_model.load and its serving_default signature",
    "serving": "serve it with TensorFlow Serving (the serving loader: graph mode, v1 session)",
    "tfsm-layer": "wrap it in keras.layers.TFSMLayer",
}


def _way(how: str, cell: Cell) -> JsonObject:
    return {
        "how": how,
        "status": cell.status,
        "consumer": cell.consumer,
        "format": cell.format,
        "loader": cell.loader,
    }
