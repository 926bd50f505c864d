"""Predict, from measured cells, what a release does to a model file.

The file's traits (its format, the Keras that wrote it, its layer classes
and dtype policy) are matched to the zoo artifacts most like it: of the
same format, saved by the measured env nearest to its writer (the same
Keras line, the nearest version), under the same policy, of models that
share its layers. At a target env, the file is predicted to

- break, when the zoo's models of that format break there whatever their
  layers (a format-level failure), or a model holding one of its layers
  breaks there: with that cell's known cause and the ways out measured
  beside it;
- work, when every one of its layers is held by a zoo model that loads
  and predicts the same there;
- be unknown, when a layer of it is in no zoo model, nothing of its format
  was measured from a writer close enough, or the target was never
  measured.

It is a prediction, never a measurement: `check --confirm` measures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from matrix.axes import version_tuple
from matrix.check.index import EnvFacts, Index
from matrix.files import JsonObject
from matrix.report import ways

PASSING = frozenset({"identical", "close"})
# Not outcomes of loading: what was decided before any load ran.
UNDECIDED = frozenset({"not-applicable", "no-artifact", "env-error", "unavailable", "pending"})
# The loader a file goes through by default, by format (a Keras 3 SavedModel:
# see `direct_loader`).
DEFAULT_LOADER = {"h5": "keras", "keras": "keras", "weights": "keras", "savedmodel": "keras",
                  "tflite": "tflite", "tflite-fp16": "tflite", "tflite-int8": "tflite",
                  "onnx": "onnxruntime", "tfjs-layers": "tfjs", "tfjs-graph": "tfjs"}  # fmt: skip
# Formats a converter writes, whatever Keras fed it: matched by TensorFlow.
CONVERTED = ("tflite", "tflite-fp16", "tflite-int8", "onnx", "tfjs-layers", "tfjs-graph")
# Formats whose parts are operators (a graph), not Keras layer classes.
OPERATOR_FORMATS = ("tflite", "tflite-fp16", "tflite-int8", "onnx", "tfjs-graph")
# How far (in minors) the nearest measured writer may be from the file's.
NEAREST = 2


@dataclass(frozen=True)
class Writer:
    """Who wrote the file, as far as it says (or `--from` says)."""

    line: str | None  # keras2, tf-keras, keras3; None: it does not say
    version: tuple[int, ...] | None  # the Keras version (Keras 2: its TF minor)
    tf: tuple[int, ...] | None = None  # the TensorFlow minor, where recorded or given


@dataclass
class Prediction:
    target: str  # the env id predicted for
    verdict: str  # works | breaks | unknown
    why: str
    cause: str | None = None
    ways: list[JsonObject] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)  # cell ids it rests on
    nearest: str | None = None  # the measured writer it stands on
    # After --confirm: the verdict is the measurement's, this the prediction's.
    predicted: str | None = None
    measured: str | None = None  # the measured cell's status

    def to_dict(self) -> JsonObject:
        return {
            "target": self.target,
            "verdict": self.verdict,
            "why": self.why,
            "cause": self.cause,
            "ways_out": self.ways,
            "evidence": self.evidence,
            "nearest_writer": self.nearest,
            "basis": "measured" if self.measured else "predicted",
            "predicted": self.predicted,
            "measured_status": self.measured,
        }


def writer_of(traits: Mapping[str, Any], from_release: str | None = None) -> Writer:
    """The file's writer from its recorded Keras version (Keras 2 up to 2.15
    is TensorFlow's own; 2.16-2.x is tf-keras) and TensorFlow version (a
    SavedModel records it), else from `--from` (`2.21`: a TensorFlow
    release; `keras3.12`: a Keras 3 minor)."""
    recorded_tf = traits.get("tensorflow_version")
    tf = version_tuple(recorded_tf)[:2] if isinstance(recorded_tf, str) else None
    version = traits.get("keras_version")
    if isinstance(version, str) and version_tuple(version):
        found = version_tuple(version)
        if found[0] >= 3:
            return Writer("keras3", found[:2], tf or None)
        return Writer("keras2" if found[:2] <= (2, 15) else "tf-keras", found[:2], tf or None)
    if from_release:
        numbers = version_tuple(from_release.removeprefix("keras"))[:2]
        if from_release.startswith("keras"):
            return Writer("keras3", numbers, tf or None)
        return Writer(_line_of_tf(numbers), numbers if numbers <= (2, 15) else None, numbers)
    if tf:
        # A SavedModel with no Keras metadata: tf.saved_model.save or a Keras 3 export.
        return Writer(_line_of_tf(tf), None, tf)
    return Writer(None, None)


def _line_of_tf(tf: tuple[int, ...]) -> str:
    """The Keras a TensorFlow release brings by default."""
    return "keras2" if tf <= (2, 15) else "keras3"


def _writer_version(env: EnvFacts) -> tuple[int, ...] | None:
    if env.line == "keras3":
        return version_tuple(env.keras)[:2] if env.keras else None
    if env.line in ("keras2", "standalone-keras"):
        return version_tuple(env.tf)[:2] if env.tf else None
    return version_tuple(env.keras)[:2] if env.keras else None


def _distance(a: tuple[int, ...] | None, b: tuple[int, ...] | None) -> int:
    if a is None or b is None or len(a) < 2 or len(b) < 2:
        return 99
    return abs(a[1] - b[1]) if a[0] == b[0] else 99


def nearest_producer(index: Index, writer: Writer, fmt: str, backend: str | None) -> str | None:
    """The measured producer closest to the file's writer that saved this
    format: by Keras version on the same Keras line; where only the
    TensorFlow version is known (a TFLite file with `--from`, a SavedModel
    without Keras metadata), by TensorFlow minor. A TFLite file is the
    converter's, whatever Keras fed it, so its Keras line does not count."""
    saved = {key[0] for key in index.outcomes if key[3] == fmt}
    by_tf = writer.version is None or fmt in CONVERTED
    candidates = []
    for producer in saved:
        env = index.envs.get(producer)
        if env is None:
            continue
        if by_tf:
            if fmt not in CONVERTED and writer.line is not None and env.line != writer.line:
                continue
            distance = _distance(version_tuple(env.tf) if env.tf else None, writer.tf)
        else:
            if env.line != writer.line:
                continue
            distance = _distance(_writer_version(env), writer.version)
        if distance > NEAREST:
            continue
        off_backend = backend is not None and env.backend not in (None, backend)
        plain = env.flavour in ("keras2", "keras3", "tf-keras", "tensorflow")
        candidates.append(
            (distance, off_backend, not plain, producer.startswith("gold:"), producer)
        )
    return min(candidates)[-1] if candidates else None


def direct_loader(fmt: str, writer: Writer) -> str:
    """What a user reads the file with: `load_model`, but a Keras 3
    SavedModel (an export) with `tf.saved_model.load`."""
    if fmt == "savedmodel" and writer.line == "keras3":
        return "saved-model"
    return DEFAULT_LOADER.get(fmt, "keras")


def predict(
    index: Index,
    traits: Mapping[str, Any],
    fmt: str,
    targets: list[str],
    *,
    from_release: str | None = None,
    without: str | None = None,
) -> list[Prediction]:
    """A prediction per target env id. `without`: a zoo model left out of the
    evidence (to measure how well this predicts a model it never saw)."""
    writer = writer_of(traits, from_release)
    policy = "mixed_float16" if "mixed_float16" in (traits.get("policies") or ()) else "float32"
    # What the file is made of: its layer classes, a TFLite file's operators.
    parts_key = "ops" if fmt in OPERATOR_FORMATS else "layers"
    layers = sorted(set(traits.get(parts_key) or ()))
    producer = nearest_producer(index, writer, fmt, traits.get("backend"))
    loader = direct_loader(fmt, writer)
    found = []
    for target in targets:
        if producer is None:
            found.append(Prediction(target, "unknown", _no_writer(writer, fmt)))
            continue
        found.append(_at(index, producer, fmt, policy, layers, target, loader, without))
    return found


def _no_writer(writer: Writer, fmt: str) -> str:
    if writer.line is None:
        return (
            f"the file does not say which Keras wrote it (give --from): no measured {fmt} "
            "file can stand for it"
        )
    if writer.version is None and writer.tf is not None:
        tf = ".".join(str(n) for n in writer.tf)
        return f"no {fmt} file from TensorFlow {tf} (or within {NEAREST} minors) was measured"
    version = ".".join(str(n) for n in writer.version or ())
    return f"no {fmt} file from {writer.line} {version} (or within {NEAREST} minors) was measured"


def _at(  # noqa: PLR0917 - one prediction from everything it rests on
    index: Index,
    producer: str,
    fmt: str,
    policy: str,
    layers: list[str],
    target: str,
    loader: str,
    without: str | None,
) -> Prediction:
    pool = {
        key[1]: outcomes.get(target, {})
        for key, outcomes in index.outcomes.items()
        if key[0] == producer and key[2] == policy and key[3] == fmt and key[1] != without
    }
    measured = {m: by[loader] for m, by in pool.items() if loader in by}
    measured = {m: o for m, o in measured.items() if o[0] not in UNDECIDED}
    designed = {m for m, o in measured.items() if _kind(index, o[2]) == "by-design"}
    measured = {m: o for m, o in measured.items() if m not in designed}
    if not measured:
        return Prediction(target, "unknown", f"no {fmt} file from {producer} was measured there",
                          nearest=producer)  # fmt: skip
    evidence = {m: f"{producer}/{target}/{m}/{policy}/{fmt}/{loader}" for m in measured}
    failing = {m: o for m, o in measured.items() if o[0] not in PASSING}
    if len(failing) == len(measured):
        # Whatever the model: the format, the loader or the pair of envs.
        cause = Counter(o[2] for o in failing.values()).most_common(1)[0][0]
        return _breaks(index, producer, target, fmt, policy, failing, evidence, cause,
                       "every zoo model of this format breaks there")  # fmt: skip
    # A part (a layer class; a TFLite operator at its version) is cleared
    # where a zoo file holding it loads and predicts the same there; a failing
    # file's parts that nothing clears are its suspects.
    tflite = fmt in OPERATOR_FORMATS
    word = "operator" if tflite else "layer"

    def parts(model: str) -> list[str]:
        if tflite:
            return index.ops.get((producer, model, policy, fmt), [])
        return index.models.get(model, [])

    working = [m for m in measured if m not in failing]
    cleared = {part for m in working for part in parts(m)}
    for model, outcome in failing.items():
        suspects = sorted(set(parts(model)) - cleared)
        hit = [part for part in layers if part in suspects]
        if hit:
            why = f"the zoo's {model} breaks there; its {hit[0]} {word} is in no file that works"
            return _breaks(index, producer, target, fmt, policy, {model: outcome}, evidence,
                           outcome[2], why)  # fmt: skip
    unseen = [part for part in layers if part not in cleared]
    if unseen or not layers:
        what = ", ".join(unseen) if unseen else "none recorded"
        return Prediction(
            target, "unknown", f"{word}s no zoo file that works there holds: {what}",
            evidence=sorted(evidence.values()), nearest=producer,
        )  # fmt: skip
    used = sorted(evidence[m] for m in working if set(parts(m)) & set(layers))
    return Prediction(target, "works", f"every {word} of it loads and predicts the same there "
                      "in the zoo's files", evidence=used, nearest=producer)  # fmt: skip


def _kind(index: Index, cause: str | None) -> str | None:
    found = index.causes.get(cause or "")
    return str(found.get("kind")) if found else None


def _breaks(  # noqa: PLR0917 - a broken prediction and what it rests on
    index: Index,
    producer: str,
    target: str,
    fmt: str,
    policy: str,
    failing: Mapping[str, list[str | None]],
    evidence: Mapping[str, str],
    cause: str | None,
    why: str,
) -> Prediction:
    ways = _ways(index, producer, target, fmt, policy, list(failing))
    return Prediction(
        target, "breaks", why, cause=cause, ways=ways,
        evidence=sorted(evidence[m] for m in failing), nearest=producer,
    )  # fmt: skip


# Which way out a measured cell beside the failing one stands for.
_LOADER_WAYS = {"saved-model": "saved-model", "serving": "serving", "tfsm-layer": "tfsm-layer"}


def _ways(  # noqa: PLR0917 - the failing cells' artifact and target
    index: Index, producer: str, target: str, fmt: str, policy: str, models: list[str]
) -> list[JsonObject]:
    """The ways out measured to work beside the failing cells, for every one
    of those models: compile=False, another loader in the target, tf-keras
    (another env of the same release), cheapest first."""
    release = index.envs[target].release if target in index.envs else None
    counts: Counter[tuple[str, str]] = Counter()
    for model in models:
        outcomes = index.outcomes.get((producer, model, policy, fmt), {})
        seen: set[tuple[str, str]] = set()
        for consumer, by in outcomes.items():
            env = index.envs.get(consumer)
            if env is None or env.release != release:
                continue
            for loader, (status, inference, _) in by.items():
                kind = _way_kind(env, loader, consumer == target)
                if consumer == target and loader == "keras" and inference in PASSING:
                    seen.add(("compile-false", consumer))
                if kind is not None and status in PASSING:
                    seen.add((kind, consumer))
        counts.update(seen)
    found = [(kind, env) for (kind, env), n in counts.items() if n == len(models)]
    return [
        {**ways.described(kind), "env": env, "works_for": len(models)}
        for kind, env in sorted(found, key=lambda ke: (ways.RANK[ke[0]], ke[1]))
    ]


def _way_kind(env: EnvFacts, loader: str, is_target: bool) -> str | None:
    if is_target:
        return _LOADER_WAYS.get(loader)
    if env.flavour == "tf-keras" and loader == "keras":
        return "tf-keras"
    return None
