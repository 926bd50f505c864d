"""The axes of the matrix as data: TensorFlow releases, flavours, formats, loaders.

Everything a new TensorFlow release or a newly understood install quirk needs
lands here, in tables, not in `if` chains elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Release:
    """One TensorFlow minor: which Pythons have wheels and what it must pin."""

    minor: str
    pythons: tuple[str, ...]
    # Constraints the release needs beyond its own metadata, each with a why.
    pins: tuple[str, ...] = ()
    nightly: bool = False  # tf-nightly: today's build, newer than every release

    @property
    def version(self) -> tuple[int, int]:
        if self.nightly:
            return (99, 0)
        major, minor = self.minor.split(".")
        return int(major), int(minor)

    @property
    def flavours(self) -> tuple[str, ...]:
        if self.version <= (2, 15):
            return ("keras2",)
        return ("keras3", "tf-keras")

    @property
    def default_flavour(self) -> str:
        return self.flavours[0]


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


RELEASES: dict[str, Release] = {
    r.minor: r
    for r in (
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
    )
}
# Every release but nightly, which runs only when asked for by name.
STABLE = tuple(minor for minor, release in RELEASES.items() if not release.nightly)

FLAVOURS = ("keras2", "keras3", "tf-keras")
DEVICES = ("cpu", "gpu")

# The embedded default matrix: small enough for minutes on two cores, wide
# enough to cross the Keras 2 -> Keras 3 line and the tf-keras escape hatch.
PRESETS: dict[str, tuple[tuple[str, str], ...]] = {
    "default": (
        ("2.12", "keras2"),
        ("2.15", "keras2"),
        ("2.16", "keras3"),
        ("2.18", "keras3"),
        ("2.20", "keras3"),
        ("2.21", "keras3"),
        ("2.18", "tf-keras"),
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
# Models that carry Python code in the file (Lambda): loaded only where the
# loader enforces safe_mode, unless the user passes --unsafe.
UNSAFE_MODELS = frozenset({"lambda"})
# The default zoo leaves out `lambda` (it needs --unsafe to be loaded anywhere
# safe_mode does not guard) and `long_sequence` (a 1000-step LSTM, about 40%
# of all consume time on its own); `--models all` brings both in.
DEFAULT_MODELS = tuple(m for m in MODELS if m not in UNSAFE_MODELS | {"long_sequence"})
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
DEFAULT_POLICIES = ("float32", "mixed_float16")
FORMATS = ("h5", "keras", "savedmodel", "weights")
LOADERS = ("keras", "saved-model", "tfsm-layer")

# Which loaders read which format; a pair outside this table is not a cell.
FORMAT_LOADERS: dict[str, tuple[str, ...]] = {
    "h5": ("keras",),
    "keras": ("keras",),
    "savedmodel": ("keras", "saved-model", "tfsm-layer"),
    "weights": ("keras",),
}

# Loaders that exist only in some flavours, and what to say elsewhere.
LOADER_FLAVOURS: dict[str, tuple[frozenset[str], str]] = {
    "tfsm-layer": (frozenset({"keras3"}), "keras.layers.TFSMLayer exists only in Keras 3"),
}

# (atol, rtol) per policy; `close` means |a - b| <= atol + rtol * |b| everywhere.
# Anchors: Keras's own H5 reload test uses atol 1e-5; tfjs uses 1e-3 (fp32)
# and 1e-1 (fp16).
DEFAULT_TOLERANCES: dict[str, tuple[float, float]] = {
    "float32": (1e-5, 1e-4),
    "mixed_float16": (1e-2, 1e-2),
    # bfloat16 keeps 8 mantissa bits (about 2 significant digits).
    "mixed_bfloat16": (5e-2, 5e-2),
}


def keras_enforces_safe_mode(release: Release, flavour: str, fmt: str) -> bool:
    """Whether the `keras` loader of such an env refuses code in this format.

    Only the .keras v3 format has a safe_mode gate (Keras >= 2.13 and Keras 3);
    legacy .h5 loads ignore it (CVE-2025-9905), and SavedModel revival in Keras
    2 rebuilds Lambda layers from their marshalled code.
    """
    if fmt != "keras":
        return False
    return flavour != "keras2" or release.version >= (2, 13)


# Loaders that never run Python code from the file: they execute the traced
# TensorFlow graph only.
GRAPH_LOADERS = frozenset({"saved-model", "tfsm-layer"})


def package_requirements(release: Release, flavour: str, device: str) -> list[str]:
    """What to install for one env, before pins."""
    if release.nightly:
        # tf-nightly-cpu stopped being published; tf-nightly runs on CPUs too.
        base = "tf-nightly[and-cuda]" if device == "gpu" else "tf-nightly"
        return [base] + (["tf-keras-nightly"] if flavour == "tf-keras" else [])
    if device == "gpu":
        base = "tensorflow[and-cuda]" if release.version >= (2, 14) else "tensorflow"
    else:
        base = "tensorflow-cpu"
    requirements = [f"{base}=={release.minor}.*"]
    if flavour == "tf-keras":
        requirements.append(f"tf-keras=={release.minor}.*")
    return requirements


def flavour_environment(flavour: str) -> dict[str, str]:
    """Environment variables an env's processes need for its flavour."""
    return {"TF_USE_LEGACY_KERAS": "1"} if flavour == "tf-keras" else {}
