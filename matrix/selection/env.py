"""An env: one isolated virtualenv, Python x release x flavour x device.

A release is a TensorFlow minor (ids start `tf2.15-`), a Keras 3 minor whose
flavours are its backends (`keras3.8-tensorflow-`, `keras3.15-jax-`,
`keras-nightly-torch-`), or a standalone TFLite interpreter (`litert2.3-`,
`tflite-runtime2.14-`), whose only flavour is `interpreter`. This module
holds the one grammar of env ids."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from matrix import axes

_ID = re.compile(
    r"^(?:tf(?P<tf>\d+\.\d+|nightly)"
    r"|(?P<runtime>(?:litert|tflite-runtime|keras|onnxruntime|tfjs)\d+\.\d+|keras-nightly))"
    r"-(?P<flavour>keras2|keras3|tf-keras|standalone-keras|tensorflow|jax|torch|interpreter)"
    r"-py(?P<python>\d+\.\d+)-(?P<device>cpu|gpu)(?:-k(?P<keras>\d+\.\d+))?"
    r"(?:-v(?P<exact>\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?))?"
    r"(?:-to-(?P<converter>onnx|tfjs))?"
    r"(?P<onednn_off>-onednn-off)?$"
)
ONEDNN_OFF = "-onednn-off"


@dataclass(frozen=True)
class Env:
    tf: str  # the release's key: a TF minor ("2.15", "nightly") or a runtime ("litert2.3")
    flavour: str
    python: str
    device: str = "cpu"
    keras: str | None = None  # a pinned Keras 3 minor, e.g. "3.6"
    # One patch release of the release's own package (`-v3.14.1`: keras
    # 3.14.1; `tf2.16-...-v2.16.1`: tensorflow-cpu 2.16.1): what `bisect`
    # measures between two tabled minors.
    exact: str | None = None
    # A converter env (`-to-onnx`, `-to-tfjs`): the release's zoo written for
    # a runtime outside TensorFlow, with the converter's packages beside it
    # (axes.CONVERTERS); it writes only those formats and loads nothing.
    converter: str | None = None
    # A consumer-only variant of a CPU env that runs with TF_ENABLE_ONEDNN_OPTS=0,
    # in the same virtualenv, to show what oneDNN changes numerically.
    onednn_off: bool = False

    @property
    def id(self) -> str:
        return self.venv_id + (ONEDNN_OFF if self.onednn_off else "")

    @property
    def venv_id(self) -> str:
        """The virtualenv this env runs in (variants share their base's)."""
        suffix = f"-k{self.keras}" if self.keras else ""
        suffix += f"-v{self.exact}" if self.exact else ""
        suffix += f"-to-{self.converter}" if self.converter else ""
        return f"{self.label}-{self.flavour}-py{self.python}-{self.device}{suffix}"

    @property
    def label(self) -> str:
        """The release as ids and tags name it: tf2.15, keras3.8, litert2.3."""
        release = axes.RELEASES.get(self.tf)
        return self.tf if release is not None and release.family != "tensorflow" else f"tf{self.tf}"

    @property
    def keras_line(self) -> str:
        """The Keras it runs: keras2, keras3, tf-keras, standalone-keras, or
        interpreter (none); every backend of a Keras 3 minor is keras3."""
        return axes.keras_line(self.release, self.flavour)

    @property
    def backend(self) -> str | None:
        """The backend its Keras runs on (None: a TFLite interpreter, no Keras)."""
        if self.release.keras_minor:
            return self.flavour
        return None if self.release.interpreter_only else "tensorflow"

    @property
    def tf_version(self) -> tuple[int, int] | None:
        """The TensorFlow minor it runs (a Keras minor's on its TensorFlow
        backend, from the release table); None: no TensorFlow at all."""
        if self.release.family == "tensorflow":
            return self.release.version
        paired = self.release.backends.get(self.flavour)
        if paired is None or paired.tensorflow is None:
            return None
        major, minor = paired.tensorflow.split(".")
        return int(major), int(minor)

    @property
    def produces(self) -> bool:
        """Variants only consume: their artifacts would be their base's; an
        interpreter has no Keras to build a model with."""
        return not self.onednn_off and not self.release.interpreter_only

    @property
    def consumes(self) -> bool:
        """Whether it loads other envs' artifacts (an old-era env and a
        converter env only save)."""
        return self.release.producer_only is None and self.converter is None

    @property
    def conversion(self) -> axes.Converter | None:
        if self.converter is None:
            return None
        return axes.CONVERTERS.get((self.tf, self.flavour, self.converter))

    def writes(self, fmt: str) -> bool:
        """Whether it saves this format: a converter env its converter's
        formats; any other env what its Keras writes (no runtime format)."""
        if self.converter is not None:
            return self.conversion is not None and fmt in self.conversion.formats
        return fmt not in axes.DEPLOYED_FORMATS and self.release.writes(fmt)

    def reads(self, fmt: str) -> bool:
        """Whether it has a loader for this format at all: an interpreter
        reads .tflite files and nothing else, a Keras minor its formats."""
        if self.release.interpreter_only:
            return fmt in self.release.reads_formats
        return fmt not in axes.DEPLOYED_FORMATS and self.release.writes(fmt)

    @property
    def release(self) -> axes.Release:
        return axes.RELEASES[self.tf]

    @property
    def tags(self) -> list[str]:
        """nox tags, so CI can shard with `nox -t tf2.15` or `-t keras3`."""
        tags = [self.label, self.flavour, self.device, f"py{self.python}"]
        return [*tags, "onednn-off"] if self.onednn_off else tags

    def requirements(self) -> list[str]:
        release = self.release
        if self.exact:
            release = replace(release, untabled=self.exact)  # the exact version, pinned
        reqs = axes.package_requirements(release, self.flavour, self.device)
        reqs.extend(self.release.pins)
        if self.conversion is not None:
            reqs.extend(self.conversion.requirements)
        if self.keras:
            reqs.append(f"keras=={self.keras}.*")
        return reqs

    def environment(self) -> dict[str, str]:
        env = axes.flavour_environment(self.flavour)
        if self.device == "cpu":
            # A CPU env stays on the CPU even on a machine with a GPU.
            env["CUDA_VISIBLE_DEVICES"] = ""
        if self.onednn_off:
            env["TF_ENABLE_ONEDNN_OPTS"] = "0"
        return env

    @classmethod
    def parse(cls, env_id: str) -> Env:
        """Read an env id; raise ValueError naming what is wrong."""
        match = _ID.match(env_id)
        if not match:
            msg = (
                f"Invalid env id: expected tf<X.Y>-<keras2|keras3|tf-keras|standalone-keras>"
                f"-py<X.Y>-<cpu|gpu>[-k<X.Y>] (e.g. tf2.15-keras2-py3.11-cpu), "
                f"keras<3.Y>-<tensorflow|jax|torch>-py<X.Y>-cpu (e.g. keras3.8-jax-py3.11-cpu) or "
                f"<litert|tflite-runtime|onnxruntime|tfjs><X.Y>-interpreter-py<X.Y>-cpu. "
                f"Received: {env_id!r}"
            )
            raise ValueError(msg)
        env = cls(
            tf=match["tf"] or match["runtime"],
            flavour=match["flavour"],
            python=match["python"],
            device=match["device"],
            keras=match["keras"],
            exact=match["exact"],
            converter=match["converter"],
            onednn_off=bool(match["onednn_off"]),
        )
        env.validate()
        return env

    def validate(self) -> None:
        release = axes.RELEASES.get(self.tf)
        if release is None:
            msg = (
                f"Unknown release {self.tf!r} in env {self.id}: expected "
                f"one of {', '.join(axes.RELEASES)}"
            )
            raise ValueError(msg)
        # (what is wrong, what to say), in the order a reader checks an id.
        problems = [
            (
                self.flavour not in release.flavours,
                f"{self.label} has no {self.flavour!r} flavour; "
                f"it has {', '.join(release.flavours)}",
            ),
            (
                self.python not in release.pythons,
                f"{self.label} has wheels for Python {', '.join(release.pythons)}; "
                f"received python={self.python}",
            ),
            (
                bool(self.keras) and self.flavour != "keras3",
                f"a Keras pin (-k{self.keras}) needs the keras3 flavour",
            ),
            (
                bool(self.keras) and not (self.keras or "").startswith("3."),
                f"a Keras pin must be a Keras 3 minor such as -k3.6; received -k{self.keras}",
            ),
            (
                self.onednn_off and self.device != "cpu",
                "oneDNN can only be switched off in a cpu env",
            ),
            (
                release.keras_minor and self.device != "cpu",
                "a Keras 3 minor's envs run on the CPU (its GPU builds are not tabled)",
            ),
            (
                self.exact is not None and not _of_minor(self.exact, release),
                f"-v{self.exact} is not a release of {self.label}",
            ),
            (
                self.converter is not None and self.conversion is None,
                f"no {self.converter} converter is tabled for {self.label} {self.flavour} "
                f"(axes.CONVERTERS has {', '.join(_converters()) or 'none'})",
            ),
            (
                release.keras_minor and bool(self.keras),
                "a Keras 3 minor's env is pinned by its release (keras3.8-...), not by -k",
            ),
        ]
        for wrong, why in problems:
            if wrong:
                msg = f"Env {self.id}: {why}"
                raise ValueError(msg)


def _converters() -> list[str]:
    return [f"{tf}/{flavour}/{kind}" for tf, flavour, kind in axes.CONVERTERS]


def _of_minor(version: str, release: axes.Release) -> bool:
    return not release.nightly and version.startswith(release.minor + ".")


def paired(producer: Env, consumer: Env) -> bool:
    """Whether a consumer env reads a producer env's files at all.

    Keras 3 on JAX or PyTorch is measured against its own minor only (each
    backend reads the other two's files of the same Keras); across minors,
    and against TensorFlow's own envs, the TensorFlow backend stands for
    every Keras 3: every backend at every minor would cost the square of 51
    envs for what the cross-backend cells of one minor already show."""
    off_tf = [
        e for e in (producer, consumer) if e.release.keras_minor and e.backend != "tensorflow"
    ]
    return not off_tf or producer.tf == consumer.tf
