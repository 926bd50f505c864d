"""Upgrade advice: after moving from TF <from> to TF <to>, what still works?

For every model and format saved in a <from> env, the direct path is what a
user did before the upgrade: the loader the old env read the file back with
(`load_model` where it could; a Keras 3 SavedModel, which `load_model` never
reads, with `tf.saved_model.load`), run in the new TF's default Keras. Where
that breaks, the other paths measured to work are listed, cheapest first
(`ways.py`): `compile=False`, tf-keras, a pinned Keras, re-saving in another
format in the old env, another loader for the same file. Nothing here is a
hand-written rule: every suggestion is a measured cell.
"""

from __future__ import annotations

from dataclasses import dataclass

from matrix import axes
from matrix.files import JsonObject
from matrix.report import ways
from matrix.results.cells import Cell
from matrix.results.document import Document
from matrix.results.records import is_user_producer
from matrix.selection.env import Env


def advise(document: Document, old: str, new: str) -> JsonObject:
    envs = producing_envs(document)
    sources = [i for i, e in envs.items() if e.tf == old and e.produces]
    targets = [i for i, e in envs.items() if e.tf == new and e.device == "cpu" and e.produces]
    default = _default_target(targets, envs)
    rows = []
    if default is not None:
        measured = _Measured(document, envs, default, targets)
        producers = sources + [p for p in document.producers if is_user_producer(p)]
        for producer in producers:
            for model, policy, fmt in _artifacts(document, producer):
                rows.append(measured.row(producer, model, policy, fmt))
    return {
        "from": old,
        "to": new,
        "from_envs": sources,
        "to_env": default,
        "rows": rows,
        "summary": {
            "works": sum(1 for r in rows if r["works"]),
            "breaks_with_a_way_out": sum(1 for r in rows if breaks(r) and r["alternatives"]),
            "breaks": sum(1 for r in rows if breaks(r) and not r["alternatives"]),
            "by_design": sum(1 for r in rows if r["by_design"]),
        },
    }


def breaks(row: JsonObject) -> bool:
    """A model that loads no more, not one made to fail."""
    return not row["works"] and not row["by_design"]


def producing_envs(document: Document) -> dict[str, Env]:
    """Every env of the document by id, and each gold producer (by its
    producer id) as the env that froze it."""
    envs = {state.id: state.env for state in document.envs}
    envs.update({g.producer: g.env for g in document.gold})
    return envs


def release_name(env: Env) -> str:
    """A release as a sentence names it: TF 2.15, Keras 3.12."""
    return f"Keras {env.release.minor}" if env.release.keras_minor else f"TF {env.tf}"


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


@dataclass
class _Measured:
    """The measured cells, read from the upgrade's point of view."""

    document: Document
    envs: dict[str, Env]
    default: str  # the new TF's default Keras: what a plain install gives
    targets: list[str]  # every env of the new TF (tf-keras, pinned Keras)

    def __post_init__(self) -> None:
        self.cells: dict[tuple[str, ...], Cell] = {c.key: c for c in self.document.cells}
        # Models made to fail (the zoo's unregistered layer): a cause of kind
        # by-design explains some cell of theirs; their every row stands apart.
        causes = self.document.causes or {}
        self.designed = {
            c.model
            for c in self.document.cells
            if c.known and causes.get(c.known, {}).get("kind") == "by-design"
        }

    def cell(self, *key: str) -> Cell | None:
        """The cell of (producer, consumer, model, policy, format, loader)."""
        return self.cells.get(key)

    def before(self, producer: str, model: str, policy: str, fmt: str) -> str | None:
        """The loader the old env read its own file back with (the first of
        the format's loaders that passed); `keras` for a producer that loads
        nothing here (a gold or old-era env: it read what it saved, with
        `load_model`, where its format has one); None: it could not."""
        env = self.envs.get(producer)
        loaders = axes.FORMAT_LOADERS.get(fmt, ())
        if env is None or not env.consumes or producer not in self.document.consumers:
            return loaders[0] if loaders else None
        for loader in loaders:
            own = self.cell(producer, producer, model, policy, fmt, loader)
            if own is not None and own.state.passing:
                return loader
        return None

    def row(self, producer: str, model: str, policy: str, fmt: str) -> JsonObject:
        loader = self.before(producer, model, policy, fmt) or "keras"
        direct = self.cell(producer, self.default, model, policy, fmt, loader)
        works = direct is not None and direct.state.passing
        return {
            "producer": producer,
            "model": model,
            "policy": policy,
            "format": fmt,
            # False: the old env could not read its own file (nothing to keep working).
            "read_back": self.before(producer, model, policy, fmt) is not None,
            "loader": loader,
            "direct": {
                "status": direct.status if direct else "pending",
                "error": direct.error if direct else None,
                "known": direct.known if direct else None,
            },
            "works": works,
            # A model made to fail (the zoo's unregistered layer): never a break.
            "by_design": model in self.designed,
            "alternatives": [] if works else self.ways_out(producer, model, policy, fmt, loader),
        }

    def ways_out(
        self, producer: str, model: str, policy: str, fmt: str, loader: str
    ) -> list[JsonObject]:
        """Every other path measured to work, cheapest first (`ways.WAYS`)."""

        def passing(consumer: str, form: str, through: str) -> Cell | None:
            found = self.cell(producer, consumer, model, policy, form, through)
            return found if found is not None and found.state.passing else None

        found: list[JsonObject] = []
        direct = self.cell(producer, self.default, model, policy, fmt, loader)
        inference = direct.inference if direct is not None else None
        if inference is not None and inference.passing:
            found.append(_way("compile-false", inference.status, self.default, fmt, "keras"))
        for other, kind in ways.LOADER_WAYS.items():
            hit = passing(self.default, fmt, other) if other != loader else None
            if hit:
                found.append(_measured(kind, hit))
        if not is_user_producer(producer):
            old = release_name(self.envs[producer])
            for form in self.document.run["selection"]["formats"]:
                hit = passing(self.default, form, "keras") if form != fmt else None
                if hit:
                    kind = "resave-weights" if form == "weights" else "resave"
                    found.append(_measured(kind, hit, format=form, old=old))
        for target in self.targets:
            env = self.envs[target]
            hit = passing(target, fmt, loader) if target != self.default else None
            if hit and env.flavour == "tf-keras":
                found.append(_measured("tf-keras", hit))
            elif hit and env.keras:
                found.append(_measured("pin-keras", hit, keras=env.keras))
            elif hit:
                found.append(_measured("other-env", hit, consumer=target))
        return sorted(found, key=lambda way: ways.RANK[str(way["kind"])])


def _measured(kind: str, cell: Cell, **words: str) -> JsonObject:
    return _way(kind, cell.status, cell.consumer, cell.format, cell.loader, **words)


def _way(kind: str, status: str, consumer: str, fmt: str, loader: str, **words: str) -> JsonObject:
    return {
        **ways.described(kind, **words),
        "status": status,
        "consumer": consumer,
        "format": fmt,
        "loader": loader,
    }
