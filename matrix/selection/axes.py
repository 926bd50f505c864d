"""The axes of the matrix as data: TensorFlow releases, flavours, formats, loaders.

Everything a new TensorFlow release or a newly understood install quirk needs
lands here, in tables, not in `if` chains elsewhere.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Release:
    """One TensorFlow minor: which Pythons have wheels and what it must pin.

    What an env of it can write follows from the thresholds above; the host
    passes those capabilities to the probes, which never test versions."""

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
        if self.version < KERAS3_DEFAULT:
            return ("keras2",)
        return ("keras3", "tf-keras")

    @property
    def default_flavour(self) -> str:
        return self.flavours[0]

    @property
    def cuda_wheels(self) -> bool:
        return self.version >= CUDA_WHEELS

    @property
    def env_disk_gb(self) -> float:
        """What one env of it takes on disk, measured with `du` on envs that
        share nothing: TF 2.5-2.11 0.8-1.1 GB, TF 2.12 on 1.0-1.8 GB (uv
        hard-links from its cache, so a second env of the same TF costs less)."""
        return 1.8 if self.version >= LARGER_WHEELS else 1.1

    def unwritable(self, flavour: str) -> dict[str, str]:
        """Formats an env of this release cannot write, with the reason."""
        if flavour == "keras2" and self.version < KERAS_V3_WRITER:
            return {"keras": "the .keras (v3) format arrived in Keras 2.12"}
        return {}

    def weights_suffix(self, flavour: str) -> str:
        """The name its users give a weights file: `.weights.h5` from Keras
        2.12 on (the name selects the layout), `-weights.h5` before, as that
        era's docs do (`model.save_weights("my_model_weights.h5")`): an old
        file under a `.weights.h5` name is read as the new layout by every
        newer Keras and fails for a reason of the tool's making."""
        if flavour == "keras2" and self.version < WEIGHTS_V3_WRITER:
            return "-weights.h5"
        return ".weights.h5"


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
# The default zoo leaves out `lambda` (its files hold Python code: the safety
# gate refuses it wherever no safe_mode guards the load, so most of its cells
# need --unsafe) and `long_sequence` (a 1000-step LSTM, about 40% of all
# consume time on its own); `--models all` brings both in.
DEFAULT_MODELS = tuple(m for m in MODELS if m not in ("lambda", "long_sequence"))
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
DEFAULT_POLICIES = ("float32", "mixed_float16")
FORMATS = ("h5", "keras", "savedmodel", "weights")
LOADERS = ("keras", "saved-model", "serving", "tfsm-layer")

# Which loaders read which format; a pair outside this table is not a cell.
FORMAT_LOADERS: dict[str, tuple[str, ...]] = {
    "h5": ("keras",),
    "keras": ("keras",),
    "savedmodel": ("keras", "saved-model", "serving", "tfsm-layer"),
    "weights": ("keras",),
}

# The loaders an env reads its own artifacts with: the self-check expects
# every env to pass these on what it wrote itself.
NATIVE_LOADERS: dict[str, tuple[str, ...]] = {
    "h5": ("keras",),
    "keras": ("keras",),
    "savedmodel": ("saved-model", "serving"),
    "weights": ("keras",),
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
}


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
    """The Keras an env loads with: the `keras` or `tf-keras` package it has,
    or (Keras 2 bundled with TensorFlow) its TensorFlow version."""
    package = {"keras3": "keras", "tf-keras": "tf-keras"}.get(flavour)
    if package is None:
        return tf_version
    for line in freeze:
        name, sep, version = line.partition("==")
        if sep and name.strip().lower().replace("_", "-") == package:
            return version.strip()
    return None


def package_requirements(release: Release, flavour: str, device: str) -> list[str]:
    """What to install for one env, before pins."""
    if release.nightly:
        # tf-nightly-cpu stopped being published; tf-nightly runs on CPUs too.
        base = "tf-nightly[and-cuda]" if device == "gpu" else "tf-nightly"
        return [base] + (["tf-keras-nightly"] if flavour == "tf-keras" else [])
    if device == "gpu":
        base = "tensorflow[and-cuda]" if release.cuda_wheels else "tensorflow"
    else:
        base = "tensorflow-cpu"
    requirements = [f"{base}=={release.minor}.*"]
    if flavour == "tf-keras":
        requirements.append(f"tf-keras=={release.minor}.*")
    return requirements


def flavour_environment(flavour: str) -> dict[str, str]:
    """Environment variables an env's processes need for its flavour."""
    return {"TF_USE_LEGACY_KERAS": "1"} if flavour == "tf-keras" else {}
