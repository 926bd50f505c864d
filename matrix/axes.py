"""The axes of the matrix as data: TensorFlow releases, flavours, formats, loaders.

Everything a new TensorFlow release or a newly understood install quirk needs
lands here, in tables, not in `if` chains elsewhere.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

# First TensorFlow with Keras 3 as its default (and tf-keras as the way back).
KERAS3_DEFAULT = (2, 16)
# First Keras 2 that writes the .keras (v3) zip (Keras 2.12).
KERAS_V3_WRITER = (2, 12)
# First Keras 2 that writes weights in the name-keyed `.weights.h5` layout
# (Keras 2.12: a `.weights.h5` name selects it, on reading as well).
WEIGHTS_V3_WRITER = (2, 12)
# First TensorFlow whose pip wheels bring CUDA along (`tensorflow[and-cuda]`).
CUDA_WHEELS = (2, 14)
LARGER_WHEELS = (2, 12)  # TF wheels (and their dependencies) grew at 2.12
# First TensorFlow whose TFLite converter takes a Keras model in memory.
TFLITE_FROM_KERAS_MODEL = (2, 0)
# What a release can be: TensorFlow, a Keras 3 minor (on one of its
# backends), or a standalone TFLite interpreter.
FAMILIES = ("tensorflow", "keras", "litert", "tflite-runtime", "onnxruntime", "tfjs")
# Runtimes without TensorFlow or Keras: they read their own formats only.
INTERPRETER_FAMILIES = ("litert", "tflite-runtime", "onnxruntime", "tfjs")
# The flavours beyond tf.keras, Keras 3 and tf-keras: the standalone `keras`
# 2.3 package on TF 1.15, and a TFLite interpreter with no Keras at all.
STANDALONE_KERAS = "standalone-keras"
INTERPRETER = "interpreter"


@dataclass(frozen=True)
class Backend:
    """What a Keras 3 minor runs on one backend: the packages beside Keras,
    why those (an upstream reason), and the zoo models it cannot build."""

    requirements: tuple[str, ...]
    why: str
    cannot_build: Mapping[str, str] = field(default_factory=dict)
    tensorflow: str | None = None  # the TensorFlow minor it pairs with, if any


@dataclass(frozen=True)
class Release:
    """One release of a runtime: a TensorFlow minor, or a standalone TFLite
    interpreter (LiteRT, tflite-runtime). Which Pythons have wheels, what it
    must pin, and what an env of it can do: the host passes those
    capabilities to the probes, which never test versions."""

    minor: str
    pythons: tuple[str, ...]
    # Constraints the release needs beyond its own metadata, each with a why.
    pins: tuple[str, ...] = ()
    nightly: bool = False  # tf-nightly: today's build, newer than every release
    family: str = "tensorflow"  # tensorflow | litert | tflite-runtime
    # The pip package of a CPU env: tensorflow-cpu where it exists.
    cpu_package: str = "tensorflow-cpu"
    # Flavours beyond the era's default (standalone Keras on TF 1.15).
    extra_flavours: tuple[str, ...] = ()
    # Why its envs save the zoo but never load other envs' artifacts (None: they do).
    producer_only: str | None = None
    # Zoo models and policies its Keras cannot build, each with the reason.
    cannot_build: Mapping[str, str] = field(default_factory=dict)
    # A TFLite runtime's module with the `Interpreter` class (TF envs use tf.lite's).
    interpreter_module: str | None = None
    # A Keras 3 minor's backends, in the order they are planned.
    backends: Mapping[str, Backend] = field(default_factory=dict)
    # The formats its envs write and read (None: every format).
    formats: tuple[str, ...] | None = None
    # Requirements that replace what the packages ask for (uv's --override), with why.
    overrides: tuple[str, ...] = ()
    # Found on the package index, not in this table (matrix/discovery.py):
    # the exact version planned ("2.22.0rc0"), its capabilities borrowed
    # from the newest tabled release of its family.
    untabled: str | None = None
    only_flavours: tuple[str, ...] | None = None  # an untabled release's (no tf-keras yet)
    # Package -> the newest final patch of this minor on the index: an env
    # that installed an older one is rebuilt (envs/provision.py).
    newest: Mapping[str, str] = field(default_factory=dict)
    # An npm package the env installs into its own folder (TensorFlow.js).
    npm_package: str | None = None

    @property
    def key(self) -> str:
        """The release's name in env ids: 2.15, nightly, keras3.8, keras-nightly,
        litert2.3, tflite-runtime2.14."""
        if self.family == "tensorflow":
            return self.minor
        return f"{self.family}-nightly" if self.nightly else f"{self.family}{self.minor}"

    @property
    def version(self) -> tuple[int, int]:
        if self.nightly:
            return (99, 0)
        major, minor = self.minor.split(".")
        return int(major), int(minor)

    @property
    def interpreter_only(self) -> bool:
        """A runtime without TensorFlow (TFLite, ONNX, TF.js): it reads its
        own formats only (`reads_formats`)."""
        return self.family in INTERPRETER_FAMILIES

    @property
    def reads_formats(self) -> tuple[str, ...]:
        """What a runtime env reads (every other env: what its Keras reads)."""
        return RUNTIME_FORMATS.get(self.family, ())

    @property
    def keras_minor(self) -> bool:
        """A Keras 3 minor on its backends (its flavours are the backends)."""
        return self.family == "keras"

    @property
    def flavours(self) -> tuple[str, ...]:
        if self.only_flavours is not None:
            return self.only_flavours
        if self.interpreter_only:
            return (INTERPRETER,)
        if self.keras_minor:
            return tuple(self.backends)
        if self.version < KERAS3_DEFAULT:
            return ("keras2", *self.extra_flavours)
        return ("keras3", "tf-keras")

    @property
    def default_flavour(self) -> str:
        return self.flavours[0]

    @property
    def cuda_wheels(self) -> bool:
        return self.family == "tensorflow" and self.version >= CUDA_WHEELS

    def writes(self, fmt: str) -> bool:
        """Whether its envs write (and read) this format at all."""
        return self.formats is None or fmt in self.formats

    def env_disk_gb(self, flavour: str) -> float:
        """What one env of it takes on disk, measured with `du` on envs that
        share nothing: TF 2.5-2.11 0.8-1.1 GB, TF 2.12 on 1.0-1.8 GB (uv
        hard-links from its cache, so a second env of the same TF costs less),
        a LiteRT runtime 0.12 GB."""
        if self.interpreter_only:
            return 0.15
        if self.keras_minor:  # PyPI's torch brings CUDA's libraries: 5.2 GB, measured
            return {"torch": 5.2, "jax": 0.5}.get(flavour, 1.5)
        return 1.8 if self.version >= LARGER_WHEELS else 1.1

    def unwritable(self, flavour: str) -> dict[str, str]:
        """Formats an env of this release cannot write, with the reason."""
        found = {}
        if flavour in ("keras2", STANDALONE_KERAS) and self.version < KERAS_V3_WRITER:
            found["keras"] = "the .keras (v3) format arrived in Keras 2.12"
        if flavour == STANDALONE_KERAS:
            found["savedmodel"] = "standalone Keras 2.3 saves h5 only; SavedModels are tf.keras's"
        return found

    def unbuildable(self, flavour: str) -> dict[str, str]:
        """Zoo models and policies an env of this release cannot build, with
        the reason (a `not-applicable` cell, never a failure)."""
        found = dict(self.cannot_build)
        backend = self.backends.get(flavour)
        if backend is not None:
            found.update(backend.cannot_build)
        if flavour == STANDALONE_KERAS:
            # Standalone Keras takes a layer's output shape from
            # compute_output_shape (its input's by default); the zoo's Block,
            # written for tf.keras, does not define it, so the head is built
            # for 8 features and fed 16 ("Dimensions must be equal, but are
            # 16 and 8").
            found["subclassed"] = (
                "standalone Keras 2.3 needs compute_output_shape on a layer that"
                " changes the shape; the zoo's nested Block (written for tf.keras)"
                " does not define it"
            )
        return found

    def weights_suffix(self, flavour: str) -> str:
        """The name its users give a weights file: `.weights.h5` from Keras
        2.12 on (the name selects the layout), `-weights.h5` before, as that
        era's docs do (`model.save_weights("my_model_weights.h5")`): an old
        file under a `.weights.h5` name is read as the new layout by every
        newer Keras and fails for a reason of the tool's making."""
        if flavour in ("keras2", STANDALONE_KERAS) and self.version < WEIGHTS_V3_WRITER:
            return "-weights.h5"
        return ".weights.h5"

    def tflite_converter(self, flavour: str) -> str:
        """How its converter takes a Keras model: `from_keras_model` (TF 2.x),
        or from a saved h5 file (TF 1.15 and standalone Keras have no
        from_keras_model)."""
        if flavour == STANDALONE_KERAS or self.version < TFLITE_FROM_KERAS_MODEL:
            return "from_keras_model_file"
        return "from_keras_model"


def _pys(first: int, last: int) -> tuple[str, ...]:
    return tuple(f"3.{n}" for n in range(first, last + 1))


# numpy < 2: TF < 2.18 is built against NumPy 1.x; NumPy 2 breaks `import
# tensorflow` ("_ARRAY_API not found", tensorflow/tensorflow#102743).
NUMPY1 = "numpy<2"
# protobuf < 3.20: TF <= 2.8-era generated code fails with protobuf >= 4.21
# ("Descriptors cannot be created directly", tensorflow/tensorflow#56266).
PROTOBUF3 = "protobuf<3.20"


def _keras2(minor: str) -> str:
    # TF 2.6-2.15 accept a `keras` range that lets newer Keras 2 releases in;
    # pin the matching minor so tf.keras and keras agree.
    return f"keras=={minor}.*"


# TF 1.15-2.4: their generated protobuf code needs protobuf < 3.21 (the
# resolver picks 4.x/5.x, and `import tensorflow` fails with "Descriptors
# cannot not be created directly", tensorflow/tensorflow#56266); and h5py < 3,
# whose str attributes their h5 loader still .decode()s ("'str' object has no
# attribute 'decode'", tensorflow/tensorflow#44467).
OLD_PINS = ("protobuf<3.21", "h5py<3")
# They save and load no more than the era's models: no preprocessing layers
# (Normalization, TextVectorization arrived in TF 2.1's experimental
# namespace, with an adapt() that changed until 2.4), and mixed precision
# only from TF 2.1 (experimental) on.
_NO_PREPROCESSING = {
    "normalization": "the Normalization layer arrived in TF 2.1 (experimental)",
    "text": "the TextVectorization layer arrived in TF 2.1 (experimental)",
}
_NO_MIXED_PRECISION = {
    "mixed_float16": "Keras mixed precision arrived in TF 2.1 (experimental)",
    "mixed_bfloat16": "Keras mixed precision arrived in TF 2.1 (experimental)",
}
# The zoo's text model passes its vocabulary to the constructor, as TF 2.4
# and later take it; TF 2.1-2.3 have only adapt() and set_vocabulary().
_NO_VOCABULARY_ARGUMENT = {
    "text": "TextVectorization's vocabulary argument arrived in TF 2.4 (2.1-2.3 set it afterwards)",
}
_OLD_ERA = "producer only: an env of this era saves the zoo for today's envs to read"
# The standalone interpreters: numpy < 2 for tflite-runtime and LiteRT 1.0
# (built against NumPy 1.x: "_ARRAY_API not found" under NumPy 2; LiteRT 1.0
# then fails every Interpreter() with "numpy.core.multiarray failed to import").


def _litert(minor: str, pythons: tuple[str, ...], pins: tuple[str, ...] = ()) -> Release:
    """Google's standalone TFLite interpreter, `ai-edge-litert` on PyPI."""
    return Release(
        minor,
        pythons,
        pins,
        family="litert",
        cpu_package="ai-edge-litert",
        interpreter_module="ai_edge_litert.interpreter",
    )


def _onnxruntime(minor: str, pythons: tuple[str, ...], pins: tuple[str, ...] = ()) -> Release:
    """Microsoft's ONNX runtime on the CPU provider (`onnxruntime` on PyPI)."""
    return Release(
        minor, pythons, pins, family="onnxruntime", cpu_package="onnxruntime",
        interpreter_module="onnxruntime",
    )  # fmt: skip


def _tfjs(minor: str) -> Release:
    """TensorFlow.js in Node, the pure-JavaScript CPU backend of
    `@tensorflow/tfjs` from npm, installed into the env's own folder; the
    env's Python (numpy alone) runs the probe that talks to Node."""
    return Release(
        minor, _pys(9, 13), ("numpy",), family="tfjs", cpu_package="@tensorflow/tfjs",
        npm_package=f"@tensorflow/tfjs@{minor}",
    )  # fmt: skip


def _tflite_runtime(minor: str, pythons: tuple[str, ...], pins: tuple[str, ...]) -> Release:
    """LiteRT's predecessor, `tflite-runtime` (2.14 was its last release)."""
    return Release(
        minor,
        pythons,
        pins,
        family="tflite-runtime",
        cpu_package="tflite-runtime",
        interpreter_module="tflite_runtime.interpreter",
    )


# -- Keras 3 minors, each on TensorFlow, JAX and PyTorch ------------------------
#
# Each minor runs at its last patch (`keras==3.X.*`), paired per backend with
# what it supports (measured with every minor: build, train, save and load
# .keras and .weights.h5). Its envs write and read the Keras 3 formats only:
# what moves between Keras minors and backends (h5 is legacy; SavedModel and
# TFLite need TensorFlow, and the TensorFlow envs measure them).
KERAS3_FORMATS = ("keras", "weights")
# TensorFlow's metadata names the oldest Keras 3 it takes: each minor pairs
# with the newest TensorFlow that accepts it, what `pip install
# tensorflow==2.Y keras==3.X` lets through.
_TF_FOR_KERAS = {
    (3, 0): ("2.16", "TF 2.16 is the newest TensorFlow that accepts Keras 3.0 and 3.1 (TF 2.17 "
             "asks keras>=3.2)"),
    (3, 2): ("2.17", "TF 2.17 is the newest TensorFlow that accepts Keras 3.2-3.4 (TF 2.18 asks "
             "keras>=3.5)"),
    (3, 5): ("2.19", "TF 2.19 is the newest TensorFlow that accepts Keras 3.5-3.9 (TF 2.20 asks "
             "keras>=3.10)"),
    (3, 10): ("2.20", "TF 2.20 is the newest TensorFlow that accepts Keras 3.10 and 3.11 (TF "
              "2.21 asks keras>=3.12)"),
    (3, 12): ("2.21", "TF 2.21, the newest TensorFlow (it asks keras>=3.12)"),
}  # fmt: skip
# Keras <= 3.9 trains through `jax.spmd_mode`, which jax 0.6.1 removed (Keras
# 3.10 dropped the call, keras-team/keras#21164): jax 0.5.3, measured with
# every minor up to 3.9. From 3.10 on, jax 0.10.2: the newest with wheels for
# Python 3.11 (jax 0.11 needs 3.12).
_JAX_OLD = ("jax[cpu]==0.5.3", "Keras <= 3.9 trains through jax.spmd_mode, removed in jax 0.6.1 "
            "(keras-team/keras#21164)")  # fmt: skip
_JAX_NEW = ("jax[cpu]==0.10.2", "the newest jax with wheels for Python 3.11")
# PyPI's Linux torch wheel links CUDA's libraries (no CPU-only build is on
# PyPI): about 5 GB in a venv, shared between envs through uv's cache.
_TORCH = ("torch==2.15.0", "PyPI's torch 2.15.0 (a CUDA build, run on the CPU) runs every "
          "Keras 3 minor")  # fmt: skip
# TextVectorization (StringLookup) needs TensorFlow on any backend.
_NEEDS_TF = {
    "text": "TextVectorization needs TensorFlow (on the jax and torch backends Keras raises "
    "'Layer StringLookup requires TensorFlow')"
}


def _keras_minor(minor: str, nightly: bool = False) -> Release:
    """A Keras 3 minor with its three backends (`keras-nightly` for the nightly)."""
    version = (99, 0) if nightly else tuple(int(n) for n in minor.split("."))
    start = max(k for k in _TF_FOR_KERAS if k <= version)
    tf, tf_why = _TF_FOR_KERAS[start]
    jax, jax_why = _JAX_OLD if version < (3, 10) else _JAX_NEW
    numpy = (NUMPY1,) if tuple(int(n) for n in tf.split(".")) < (2, 18) else ()
    backends = {
        "tensorflow": Backend((f"tensorflow-cpu=={tf}.*", *numpy), tf_why, tensorflow=tf),
        "jax": Backend((jax,), jax_why, _NEEDS_TF),
        "torch": Backend((_TORCH[0],), _TORCH[1], _NEEDS_TF),
    }
    return Release(
        minor,
        _pys(11, 12),  # every backend's wheels, and Keras >= 3.13 needs Python 3.11
        nightly=nightly,
        family="keras",
        cpu_package="keras-nightly" if nightly else "keras",
        backends=backends,
        formats=KERAS3_FORMATS,
        # TensorFlow depends on `keras`, which writes the same files as
        # keras-nightly and wins: the override drops it, so the nightly is what loads.
        overrides=("keras ; sys_platform == 'never'",) if nightly else (),
    )


KERAS3_MINORS = tuple(f"3.{n}" for n in range(16))


def keras_key(minor: str) -> str:
    """A Keras 3 minor's release key: 3.8 -> keras3.8, nightly -> keras-nightly."""
    return "keras-nightly" if minor == "nightly" else f"keras{minor}"


RELEASES: dict[str, Release] = {
    r.key: r
    for r in (
        Release(
            "1.15",
            ("3.7",),
            OLD_PINS,
            cpu_package="tensorflow",  # tensorflow-cpu stops at 1.15.0
            extra_flavours=(STANDALONE_KERAS,),
            producer_only=_OLD_ERA,
            cannot_build={**_NO_PREPROCESSING, **_NO_MIXED_PRECISION},
        ),
        Release(
            "2.0",
            ("3.7",),
            OLD_PINS,
            cpu_package="tensorflow",  # no tensorflow-cpu 2.0.x
            producer_only=_OLD_ERA,
            cannot_build={**_NO_PREPROCESSING, **_NO_MIXED_PRECISION},
        ),
        Release(
            "2.1", ("3.7",), OLD_PINS, producer_only=_OLD_ERA, cannot_build=_NO_VOCABULARY_ARGUMENT
        ),
        Release(
            "2.2",
            _pys(7, 8),
            OLD_PINS,
            producer_only=_OLD_ERA,
            cannot_build=_NO_VOCABULARY_ARGUMENT,
        ),
        Release(
            "2.3",
            _pys(7, 8),
            OLD_PINS,
            producer_only=_OLD_ERA,
            cannot_build=_NO_VOCABULARY_ARGUMENT,
        ),
        Release("2.4", _pys(7, 8), OLD_PINS, producer_only=_OLD_ERA),
        Release("2.5", _pys(6, 9), (NUMPY1, PROTOBUF3)),
        Release("2.6", _pys(6, 9), (NUMPY1, PROTOBUF3, _keras2("2.6"))),
        Release("2.7", _pys(7, 9), (NUMPY1, PROTOBUF3, _keras2("2.7"))),
        Release("2.8", _pys(7, 10), (NUMPY1, PROTOBUF3, _keras2("2.8"))),
        Release("2.9", _pys(7, 10), (NUMPY1, _keras2("2.9"))),
        Release("2.10", _pys(7, 10), (NUMPY1, _keras2("2.10"))),
        Release("2.11", _pys(7, 10), (NUMPY1, _keras2("2.11"))),
        Release("2.12", _pys(8, 11), (NUMPY1, _keras2("2.12"))),
        Release("2.13", _pys(8, 11), (NUMPY1, _keras2("2.13"))),
        Release("2.14", _pys(9, 11), (NUMPY1, _keras2("2.14"))),
        Release("2.15", _pys(9, 11), (NUMPY1, _keras2("2.15"))),
        Release("2.16", _pys(9, 12), (NUMPY1,)),
        Release("2.17", _pys(9, 12), (NUMPY1,)),
        Release("2.18", _pys(9, 12)),
        Release("2.19", _pys(9, 12)),
        Release("2.20", _pys(9, 13)),
        Release("2.21", _pys(10, 13)),
        Release("nightly", _pys(10, 13), nightly=True),
        _litert("1.0", _pys(9, 11), (NUMPY1,)),
        _litert("1.4", _pys(9, 12)),
        _litert("2.0", _pys(9, 12)),
        _litert("2.1", _pys(10, 13)),
        _litert("2.3", _pys(10, 13)),
        _tflite_runtime("2.14", _pys(8, 11), (NUMPY1,)),
        # ONNX runtimes, old to newest with wheels for Python 3.11. 1.16 is
        # built against NumPy 1.x: under NumPy 2 its import fails ("numpy.core.
        # multiarray failed to import") and the probe dies with SIGSEGV (measured).
        _onnxruntime("1.16", _pys(9, 11), (NUMPY1,)),
        _onnxruntime("1.22", _pys(10, 13)),
        _onnxruntime("1.32", _pys(11, 14)),
        # TensorFlow.js 4.x in Node: the first 4.x, one in the middle, the newest.
        *(_tfjs(m) for m in ("4.0", "4.10", "4.22")),
        *(_keras_minor(minor) for minor in KERAS3_MINORS),
        _keras_minor("nightly", nightly=True),
    )
}
# Every release but nightly, which runs only when asked for by name.
STABLE: tuple[str, ...] = ()
# The full preset: every release, keras-nightly included (a Keras 3 file of
# tomorrow's Keras is today's question); tf-nightly only when named.
FULL: tuple[str, ...] = ()
# The Keras 2 -> Keras 3 jump every report answers: the last TensorFlow whose
# default Keras is Keras 2, to the newest tabled TensorFlow.
KERAS3_JUMP: tuple[str, str] = ("", "")
# The newest untabled release per family (a release candidate, or a final
# the table does not know yet): the default matrix plans it, the upgrade
# people are about to make.
CANDIDATES: tuple[str, ...] = ()
# Every Python any release has wheels for (what discovery accepts).
KNOWN_PYTHONS = _pys(6, 14)


def _derive() -> None:
    """The lists read from RELEASES, again after `adopt` changed it."""
    global STABLE, FULL, KERAS3_JUMP, CANDIDATES  # noqa: PLW0603 - they follow adopt
    STABLE = tuple(minor for minor, release in RELEASES.items() if not release.nightly)
    FULL = tuple(k for k, r in RELEASES.items() if not r.nightly or r.keras_minor)
    tabled_tf = [
        k for k in STABLE if RELEASES[k].family == "tensorflow" and not RELEASES[k].untabled
    ]
    KERAS3_JUMP = (
        [k for k in tabled_tf if RELEASES[k].version < KERAS3_DEFAULT][-1],
        tabled_tf[-1],
    )
    newest: dict[str, str] = {}
    for key, release in RELEASES.items():
        if release.untabled:
            newest[release.family] = key  # RELEASES is ordered by version within a family
    CANDIDATES = tuple(newest.values())


def adopt(releases: Mapping[str, Release]) -> None:
    """Replace or add releases (found on the index, `matrix/discovery.py`)
    for this process; every list derived from the table follows."""
    RELEASES.update(releases)
    # Each family where it stood, its releases by version (nightly last).
    families = list(dict.fromkeys(r.family for r in RELEASES.values()))
    ordered = sorted(RELEASES.items(), key=lambda kv: (families.index(kv[1].family), kv[1].version))
    RELEASES.clear()
    RELEASES.update(ordered)
    _derive()


_derive()


@dataclass(frozen=True)
class Converter:
    """An env that saves the zoo for a runtime outside TensorFlow: a TF
    release and flavour with the converter's packages beside them, in a
    virtualenv of its own (`tf2.21-keras3-py3.11-cpu-to-onnx`), so the plain
    env stays what `pip install tensorflow` gives. It builds the zoo as its
    base env does (same seeds) and writes only its formats; `how` is the
    conversion its probe runs."""

    kind: str  # onnx | tfjs
    requirements: tuple[str, ...]
    how: str
    why: str  # why this converter, these pins
    formats: tuple[str, ...]


CONVERTER_KINDS = ("onnx", "tfjs")
# (release, flavour, kind) -> its converter, measured (notes: the closing
# note of the ONNX/TF.js issue; each pin's reason beside it).
CONVERTERS: dict[tuple[str, str, str], Converter] = {
    ("2.21", "keras3", "onnx"): Converter(
        "onnx",
        ("tf2onnx==1.17.0", "onnx==1.23.*"),
        "keras-export",
        "Keras 3's own model.export(format='onnx') on the TensorFlow backend runs tf2onnx; "
        "tf2onnx 1.17.0 is the first that installs beside TF 2.21 (1.16.1 pins protobuf < 4, "
        "TF 2.21 needs >= 6.31)",
        ("onnx",),
    ),
    ("2.15", "keras2", "onnx"): Converter(
        "onnx",
        ("tf2onnx==1.17.0", "onnx==1.17.*"),
        "tf2onnx",
        "tf2onnx.convert.from_keras, the Keras 2 path; 1.17.0 keeps TF 2.15's protobuf 4.25 "
        "(1.16.1 would pull it down to 3.20); onnx 1.18 and newer need an ml_dtypes with "
        "float4_e2m1fn, newer than the 0.3 TF 2.15 pins (measured: every conversion fails)",
        ("onnx",),
    ),
    ("2.15", "keras2", "tfjs"): Converter(
        "tfjs",
        # tensorflow_hub (a tensorflowjs dependency) imports pkg_resources, which
        # setuptools 80.10 ships and the newest setuptools does not (measured).
        ("tensorflowjs==4.22.0", "setuptools<81"),
        "tensorflowjs",
        "the tensorflowjs converter needs Keras 2 (tensorflow/tfjs#8358): the last Keras 2 "
        "TensorFlow, with the newest converter",
        ("tfjs-layers", "tfjs-graph"),
    ),
}
# Converter envs of the default matrix (one per kind); the full preset has all.
DEFAULT_CONVERTERS = (("2.21", "keras3", "onnx"), ("2.15", "keras2", "tfjs"))


# A Keras 3 minor's flavours are its backends.
BACKENDS = ("tensorflow", "jax", "torch")
FLAVOURS = ("keras2", "keras3", "tf-keras", STANDALONE_KERAS, *BACKENDS, INTERPRETER)
DEVICES = ("cpu", "gpu")

# The embedded default matrix: small enough for half an hour on two cores,
# wide enough to cross the Keras 2 -> Keras 3 line: the last Keras 2
# release, the first Keras 3 one and the newest, each Keras 3 era release
# with its tf-keras env too (the escape hatch is a measured way out on every
# upgrade path the default answers, the same one the full preset measures);
# the newest release candidate the package index has joins it by itself
# (CANDIDATES). TF 2.17-2.20 are the full preset's: the default's budget
# went to Keras 3 minors and backends, and ONNX and TF.js deployments.
PRESETS: dict[str, tuple[tuple[str, str], ...]] = {
    "default": (
        ("2.15", "keras2"),
        ("2.16", "keras3"),
        ("2.16", "tf-keras"),
        ("2.21", "keras3"),
        ("2.21", "tf-keras"),
        # TFLite runtimes without TensorFlow, oldest to newest, and the last
        # tflite-runtime: what a phone or an edge box loads the .tflite with.
        ("litert1.0", INTERPRETER),
        ("litert2.0", INTERPRETER),
        ("litert2.3", INTERPRETER),
        ("tflite-runtime2.14", INTERPRETER),
        # ONNX and TF.js runtimes, a middle and the newest of each.
        ("onnxruntime1.22", INTERPRETER),
        ("onnxruntime1.32", INTERPRETER),
        ("tfjs4.10", INTERPRETER),
        ("tfjs4.22", INTERPRETER),
        # Keras 3 minors: an old one, the one many pin in production (3.12
        # got fixes backported until 2026-07), the newest; the newest on JAX
        # and PyTorch too.
        ("keras3.3", "tensorflow"),
        ("keras3.12", "tensorflow"),
        ("keras3.15", "tensorflow"),
        ("keras3.15", "jax"),
        ("keras3.15", "torch"),
    ),
}

# One model per failure family; the names are report labels.
MODELS = (
    "mlp",
    "cnn",
    "lstm",
    "custom",
    "gru",
    "depthwise",
    "subclassed",
    "normalization",
    "text",
    "embedding",
    "multi_io",
    "long_sequence",
    "nan_guard",
    "unregistered",
    "lambda",
)
# The default zoo leaves out `lambda` (its files hold Python code: the safety
# gate refuses it wherever no safe_mode guards the load, so most of its cells
# need --unsafe) and `long_sequence` (a 1000-step LSTM, about 40% of all
# consume time on its own); `--models all` brings both in.
DEFAULT_MODELS = tuple(m for m in MODELS if m not in ("lambda", "long_sequence"))
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
DEFAULT_POLICIES = ("float32", "mixed_float16")
# TFLite: the converter's float32 model, and the two quantisations people
# ship (float16 weights; dynamic-range int8 weights), each a file of its own.
TFLITE_FORMATS = ("tflite", "tflite-fp16", "tflite-int8")
# Where models are deployed beyond TensorFlow: ONNX (tf2onnx, Keras 3's own
# export) and TensorFlow.js (the tensorflowjs converter's layers and graph models).
ONNX_FORMATS = ("onnx",)
TFJS_FORMATS = ("tfjs-layers", "tfjs-graph")
RUNTIME_FORMATS = {
    "litert": TFLITE_FORMATS,
    "tflite-runtime": TFLITE_FORMATS,
    "onnxruntime": ONNX_FORMATS,
    "tfjs": TFJS_FORMATS,
}
# Formats no TensorFlow env reads (only their runtimes do).
DEPLOYED_FORMATS = (*ONNX_FORMATS, *TFJS_FORMATS)
FORMATS = ("h5", "keras", "savedmodel", "weights", *TFLITE_FORMATS, *DEPLOYED_FORMATS)
DEFAULT_FORMATS = FORMATS
LOADERS = ("keras", "saved-model", "serving", "tfsm-layer", "tflite", "onnxruntime", "tfjs")
# A quantisation starts from a float32 model: a mixed-precision model's
# quantised copies would quantise a quantisation. Formats written only
# under some policies, with the reason for the others.
FORMAT_POLICIES: dict[str, tuple[tuple[str, ...], str]] = {
    "tflite-fp16": (("float32",), "quantised copies are made from the float32 model"),
    "tflite-int8": (("float32",), "quantised copies are made from the float32 model"),
}

# Which loaders read which format; a pair outside this table is not a cell.
FORMAT_LOADERS: dict[str, tuple[str, ...]] = {
    "h5": ("keras",),
    "keras": ("keras",),
    "savedmodel": ("keras", "saved-model", "serving", "tfsm-layer"),
    "weights": ("keras",),
    **dict.fromkeys(TFLITE_FORMATS, ("tflite",)),
    "onnx": ("onnxruntime",),
    **dict.fromkeys(TFJS_FORMATS, ("tfjs",)),
}

# The loaders an env reads its own artifacts with: the self-check expects
# every env to pass these on what it wrote itself.
NATIVE_LOADERS: dict[str, tuple[str, ...]] = {
    "h5": ("keras",),
    "keras": ("keras",),
    "savedmodel": ("saved-model", "serving"),
    "weights": ("keras",),
    **dict.fromkeys(TFLITE_FORMATS, ("tflite",)),
    "onnx": ("onnxruntime",),
    **dict.fromkeys(TFJS_FORMATS, ("tfjs",)),
}

# Loaders that exist only in some flavours, and what to say elsewhere.
LOADER_FLAVOURS: dict[str, tuple[frozenset[str], str]] = {
    "tfsm-layer": (frozenset({"keras3"}), "keras.layers.TFSMLayer exists only in Keras 3"),
}

# What each load reads of a file, for the safety gate: the Keras config
# (deserialized into Python objects), the TensorFlow graph (run), the
# weights (read). Keras 3's load_model refuses a SavedModel folder before
# reading anything.
LOADER_READS: dict[tuple[str, str], frozenset[str]] = {
    ("keras", "h5"): frozenset({"config", "weights"}),
    ("keras", "keras"): frozenset({"config", "weights"}),
    ("keras", "savedmodel"): frozenset({"config", "graph", "weights"}),
    ("keras", "weights"): frozenset({"weights"}),
    ("saved-model", "savedmodel"): frozenset({"graph", "weights"}),
    ("serving", "savedmodel"): frozenset({"graph", "weights"}),
    ("tfsm-layer", "savedmodel"): frozenset({"graph", "weights"}),
    # A TFLite interpreter runs the flatbuffer's ops on its weights; no Python.
    **{("tflite", fmt): frozenset({"graph", "weights"}) for fmt in TFLITE_FORMATS},
    # ONNX runtimes and TF.js run operators on weights; no Python either.
    ("onnxruntime", "onnx"): frozenset({"graph", "weights"}),
    **{("tfjs", fmt): frozenset({"graph", "weights"}) for fmt in TFJS_FORMATS},
}
# Loads that fail before reading anything of the file: (loader, format,
# flavour, first TF that reads it; None: none does).
READS_NOTHING: tuple[tuple[str, str, str, tuple[int, int] | None], ...] = (
    # Keras 3's load_model refuses a SavedModel folder outright.
    ("keras", "savedmodel", "keras3", None),
    # Keras 2 before 2.12 has no .keras reader: it looks for a SavedModel there.
    ("keras", "keras", "keras2", KERAS_V3_WRITER),
)


def reads_nothing(loader: str, fmt: str, flavour: str, tf: tuple[int, int]) -> bool:
    return any(
        (loader, fmt, flavour) == rule[:3] and (rule[3] is None or tf < rule[3])
        for rule in READS_NOTHING
    )


# (atol, rtol) per policy; `close` means |a - b| <= atol + rtol * |b| everywhere.
# Anchors: Keras's own H5 reload test uses atol 1e-5; tfjs uses 1e-3 (fp32)
# and 1e-1 (fp16).
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float32": (1e-5, 1e-4),
    "mixed_float16": (1e-2, 1e-2),
    # bfloat16 keeps 8 mantissa bits (about 2 significant digits).
    "mixed_bfloat16": (5e-2, 5e-2),
    # float16 weights (10 mantissa bits), computed in float32: like mixed_float16.
    "tflite-fp16": (1e-2, 1e-2),
    # Dynamic-range int8: weights in 8 bits (1/255 of each tensor's range),
    # activations quantised on the fly by hybrid kernels; a few per cent of the
    # output's scale is what the quantisation itself costs.
    "tflite-int8": (5e-2, 5e-2),
}
# Formats whose tolerance is their own (the quantisation), not the policy's.
FORMAT_TOLERANCE = {"tflite-fp16": "tflite-fp16", "tflite-int8": "tflite-int8"}


# -- safe_mode: which Keras can be trusted to refuse code ---------------------
#
# A Keras counts as enforcing safe_mode for a format only when it has the gate
# at all and no published way past it: every advisory of its flavour is fixed
# in its version. Advisory ranges are followed as published: Keras 3.12.3 and
# 3.12.4 carry every fix in their source, but CVE-2026-1462's advisory still
# lists them, so they count as not enforcing.


@dataclass(frozen=True)
class Advisory:
    """A known way past safe_mode, or Keras importing a module a config names."""

    id: str
    flavour: str
    fixed_in: str | None  # the first version without it; None: no release fixes it
    what: str
    link: str
    imports_modules: bool = False  # Keras imports whatever module the config names


# The formats whose load_model has a safe_mode gate, per flavour and since
# which version. Keras 2 and tf-keras apply none to .h5 or SavedModels (CVE-2025-9905).
SAFE_MODE_SINCE: dict[tuple[str, str], str] = {
    ("keras3", "keras"): "3.0",
    ("keras3", "h5"): "3.11.3",
    ("keras2", "keras"): "2.13",
    ("tf-keras", "keras"): "2.13",
}
ADVISORY_FILE = Path(__file__).with_name("advisories.toml")


def _advisories(path: Path = ADVISORY_FILE) -> tuple[Advisory, ...]:
    with path.open("rb") as handle:
        table = tomllib.load(handle)
    return tuple(Advisory(**{"fixed_in": None, **entry}) for entry in table["advisory"])


ADVISORIES = _advisories()


def version_tuple(version: str) -> tuple[int, ...]:
    """ "3.13.2" -> (3, 13, 2); trailing tags ("rc1", ".dev20260101") ignored."""
    numbers = []
    for part in version.split("."):
        digits = ""
        for char in part:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        numbers.append(int(digits))
        if len(digits) != len(part):
            break
    return tuple(numbers)


def enforces_safe_mode(flavour: str, keras_version: str | None, fmt: str) -> bool:
    """Whether `load_model(..., safe_mode=True)` of this Keras refuses code in
    this format with no known way past it. Unknown versions count as not."""
    since = SAFE_MODE_SINCE.get((flavour, fmt))
    if since is None or keras_version is None:
        return False
    version = version_tuple(keras_version)
    return version >= version_tuple(since) and all(
        _fixed(a, version) for a in ADVISORIES if a.flavour == flavour
    )


def imports_config_modules(flavour: str, keras_version: str | None) -> bool:
    """Whether this Keras imports a module a config names while loading it
    (when the class is not among the custom objects passed)."""
    advisories = [a for a in ADVISORIES if a.flavour == flavour and a.imports_modules]
    if keras_version is None:
        return True
    return not all(_fixed(a, version_tuple(keras_version)) for a in advisories)


def _fixed(advisory: Advisory, version: tuple[int, ...]) -> bool:
    return advisory.fixed_in is not None and version >= version_tuple(advisory.fixed_in)


def keras_version(flavour: str, tf_version: str | None, freeze: Sequence[str]) -> str | None:
    """The Keras an env loads with: the `keras` (or `keras-nightly`) or
    `tf-keras` package it has (standalone Keras 2.3 is the `keras` package
    too), or (Keras 2 bundled with TensorFlow) its TensorFlow version."""
    keras3 = ("keras", "keras-nightly")
    packages = {"keras3": keras3, "tf-keras": ("tf-keras",), STANDALONE_KERAS: ("keras",)}
    wanted = packages.get(flavour, keras3 if flavour in BACKENDS else None)
    if wanted is None:
        return tf_version
    for line in freeze:
        name, sep, version = line.partition("==")
        if sep and name.strip().lower().replace("_", "-") in wanted:
            return version.strip()
    return None


def keras_line(release: Release, flavour: str) -> str:
    """The Keras an env's flavour stands for: a Keras 3 minor's backends
    are all Keras 3 (what safe_mode floors and loader rules are about)."""
    return "keras3" if release.keras_minor else flavour


def package_requirements(release: Release, flavour: str, device: str) -> list[str]:
    """What to install for one env, before pins."""
    wanted = f"=={release.untabled}" if release.untabled else f"=={release.minor}.*"
    if release.keras_minor:
        keras = "keras-nightly" if release.nightly else f"keras{wanted}"
        return [*release.backends[flavour].requirements, keras]
    if release.nightly:
        # tf-nightly-cpu stopped being published; tf-nightly runs on CPUs too.
        base = "tf-nightly[and-cuda]" if device == "gpu" else "tf-nightly"
        return [base] + (["tf-keras-nightly"] if flavour == "tf-keras" else [])
    if release.npm_package:
        return []  # its runtime comes from npm; its Python needs only the pins (numpy)
    if release.interpreter_only:
        return [f"{release.cpu_package}{wanted}"]
    if device == "gpu":
        base = "tensorflow[and-cuda]" if release.cuda_wheels else "tensorflow"
    else:
        base = release.cpu_package
    requirements = [f"{base}{wanted}"]
    if flavour == "tf-keras":
        requirements.append(f"tf-keras=={release.minor}.*")
    if flavour == STANDALONE_KERAS:
        # The last standalone Keras, the one people used with TF 1.15.
        requirements.append("keras==2.3.1")
    return requirements


def flavour_environment(flavour: str) -> dict[str, str]:
    """Environment variables an env's processes need for its flavour."""
    if flavour in BACKENDS:
        return {"KERAS_BACKEND": flavour}
    return {"TF_USE_LEGACY_KERAS": "1"} if flavour == "tf-keras" else {}
