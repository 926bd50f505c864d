"""Ways out: what a user can do when a model breaks after an upgrade, and what each costs.

Every way out the upgrade advice offers is one kind of this table, and only
where a measured cell shows it working. Kinds are ranked cheapest first: the
advice lists the measured ways in this order and names the first as the
best. The ranking puts what keeps the whole model (weights, optimizer,
config) with one line of change before what needs the old environment or
the model's code, and what keeps only inference last.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Way:
    kind: str
    how: str  # what to do, in the words a user acts on ({format}, {tf}, {keras} filled in)
    costs: tuple[str, ...]  # what it costs, in plain words
    keeps: str  # what of the model survives: "everything" or "inference only"


WAYS: tuple[Way, ...] = (
    Way(
        "compile-false",
        "load it with `load_model(path, compile=False)`",
        ("no optimizer state, loss or metrics: compile again to train",),
        "the model and its weights",
    ),
    Way(
        "tf-keras",
        "install tf-keras and set `TF_USE_LEGACY_KERAS=1`",
        ("one more package", "the whole process runs Keras 2 (code written for Keras 3 does not)"),
        "everything",
    ),
    Way(
        "pin-keras",
        "pin `keras=={keras}.*`",
        ("an older Keras than this TensorFlow installs by default",),
        "everything",
    ),
    Way(
        "resave",
        "re-save it as {format} in {old}",
        ("needs {old} once more, to load and save the model again",),
        "everything the format holds",
    ),
    Way(
        "resave-weights",
        "re-save its weights (`save_weights`) in {old}",
        ("needs {old} once more", "needs the model's code to rebuild it before `load_weights`"),
        "the weights",
    ),
    Way(
        "saved-model",
        "load it with `tf.saved_model.load` and call its `serving_default` signature",
        ("inference only: a TensorFlow function, no Keras model to train or inspect",),
        "inference only",
    ),
    Way(
        "tfsm-layer",
        "wrap it in `keras.layers.TFSMLayer`",
        ("inference only: a layer without its config, weights it cannot train",),
        "inference only",
    ),
    Way(
        "serving",
        "serve it with TensorFlow Serving",
        ("inference only, behind a model server (graph mode, no Python objects)",),
        "inference only",
    ),
    Way(
        "other-env",
        "use the env {consumer}",
        ("another set of pins than a plain install of this TensorFlow",),
        "everything",
    ),
)
BY_KIND = {way.kind: way for way in WAYS}
RANK = {way.kind: rank for rank, way in enumerate(WAYS)}
# The loaders that read a SavedModel beside `load_model`, as ways out.
LOADER_WAYS = {"saved-model": "saved-model", "serving": "serving", "tfsm-layer": "tfsm-layer"}


def described(kind: str, **words: str) -> dict[str, object]:
    """A way out of this kind in words: what to do, what it costs, what it keeps."""
    way = BY_KIND[kind]
    return {
        "kind": kind,
        "how": way.how.format(**words),
        "costs": [cost.format(**words) for cost in way.costs],
        "keeps": way.keeps,
    }
