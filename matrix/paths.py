"""The on-disk layout and every file name, in one place. Probes get
concrete paths from here.

<output>/plan.json                          the last run's plan (for `report`)
<output>/envs/<env>.json                    env state: status, versions, reason
<output>/artifacts/<env>/manifest.json      what a producer saved, with sha256
<output>/artifacts/<env>/<model>-<policy><suffix>   one artifact (FORMAT_SUFFIX)
<output>/artifacts/<env>/<model>-<policy>.ref.npz   reference inputs/outputs
<output>/user/<name>/                       a user model's copy, with its manifest
<output>/gold/<env>/                        a gold producer's artifacts, copied from the gold store
<output>/results/<env>.jsonl                one line per measured cell
<output>/outputs/<env>/<producer>__<artifact>__<loader>.npz   a consumer's predictions
<output>/inspections/<key>.json             what the safety inspector found in an artifact
<output>/logs/<env>/<phase>.log             probe and installer output
<output>/tmp/<env>/<phase>/                 a probe's working folder, HOME and TMPDIR
<output>/repro/<cell>/                      a cell's standalone reproduction
<envdir>/<env>/                             the virtualenv (built with uv)
<envdir>/<env>/.matrix-env.json             the spec it was built from
<reports>/compat.{md,json,html,svg}, junit.xml, history.jsonl
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# A user model's producer id is `user:<name>`; its files live in <output>/user/<name>.
USER_PREFIX = "user:"


def is_user_producer(producer: str) -> bool:
    return producer.startswith(USER_PREFIX)


def user_producer(name: str) -> str:
    return f"{USER_PREFIX}{name}"


# A gold producer is an env whose artifacts were frozen into the gold store
# (`gold:<env-id>`): replayed from <output>/gold/<env-id>, never rebuilt.
GOLD_PREFIX = "gold:"


def is_gold_producer(producer: str) -> bool:
    return producer.startswith(GOLD_PREFIX)


def gold_producer(env_id: str) -> str:
    return f"{GOLD_PREFIX}{env_id}"


def _shipped(name: str) -> Path:
    """A folder shipped with the tool: inside the package in a wheel
    (`matrix/<name>`), beside it in a checkout (`<name>/`)."""
    here = Path(__file__).resolve().parent
    packaged = here / name
    return packaged if packaged.is_dir() else here.parent / name


PROBES_DIR = _shipped("probes")
# The gold store: frozen artifacts of envs too old to build on every run.
GOLD_DIR = _shipped("gold")
PROVENANCE = "provenance.json"
ENV_RECORD = ".matrix-env.json"
MANIFEST = "manifest.json"
# The report files, written side by side in the report folder.
REPORT_MD = "compat.md"
REPORT_JSON = "compat.json"
REPORT_HTML = "compat.html"
REPORT_SVG = "compat.svg"
REPORT_JUNIT = "junit.xml"
HISTORY = "history.jsonl"
# What the package index had when the output folder's plan was made.
RELEASES = "releases.json"

# The file or folder name each format is written as; Keras 3 insists on the
# ".weights.h5" suffix for weights-only files.
FORMAT_SUFFIX = {
    "h5": ".h5",
    "keras": ".keras",
    "savedmodel": ".savedmodel",
    "weights": ".weights.h5",
    "tflite": ".tflite",
    "tflite-fp16": ".fp16.tflite",
    "tflite-int8": ".int8.tflite",
    "onnx": ".onnx",
    "tfjs-layers": ".tfjs-layers",  # a folder: model.json and its weight shards
    "tfjs-graph": ".tfjs-graph",
}


def artifacts_folder(producer: str) -> str:
    """Where a producer's artifacts lie inside the output folder: an env's
    in `artifacts/`, a user model's copy in `user/`, a gold producer's in `gold/`."""
    if is_user_producer(producer):
        return f"user/{producer.removeprefix(USER_PREFIX)}"
    if is_gold_producer(producer):
        return f"gold/{producer.removeprefix(GOLD_PREFIX)}"
    return f"artifacts/{producer}"


@dataclass(frozen=True)
class Layout:
    output: Path
    envdir: Path

    def __post_init__(self) -> None:
        # Absolute, because probes run with their own working directory.
        object.__setattr__(self, "output", Path(self.output).resolve())
        object.__setattr__(self, "envdir", Path(self.envdir).resolve())

    def portable(self, text: str) -> str:
        """Text without this machine's folders, so records and reports read the
        same wherever (and on however many CI machines) they were made."""
        return text.replace(str(self.output), "<output>").replace(str(self.envdir), "<envdir>")

    @property
    def plan(self) -> Path:
        return self.output / "plan.json"

    @property
    def lock(self) -> Path:
        return self.output / ".lock"

    def env_state(self, env_id: str) -> Path:
        return self.output / "envs" / f"{env_id}.json"

    def artifacts(self, producer: str) -> Path:
        """A producer env's artifacts, or a user model's copy (`user:<name>`)."""
        return self.output / artifacts_folder(producer)

    def manifest(self, env_id: str) -> Path:
        return self.artifacts(env_id) / MANIFEST

    def artifact_name(self, model: str, policy: str, fmt: str, suffix: str | None = None) -> str:
        """`suffix` overrides the format's usual one (a producer's weights name)."""
        return f"{model}-{policy}{suffix or FORMAT_SUFFIX[fmt]}"

    def reference_name(self, model: str, policy: str) -> str:
        return f"{model}-{policy}.ref.npz"

    def results(self, env_id: str) -> Path:
        return self.output / "results" / f"{env_id}.jsonl"

    def outputs(self, env_id: str) -> Path:
        return self.output / "outputs" / env_id

    def inspection(self, sha256: str) -> Path:
        return self.output / "inspections" / f"{sha256}.json"

    def log(self, env_id: str, phase: str) -> Path:
        return self.output / "logs" / env_id / f"{phase}.log"

    def venv(self, env_id: str) -> Path:
        return self.envdir / env_id

    def venv_python(self, env_id: str) -> Path:
        return self.venv(env_id) / "bin" / "python"

    def venv_record(self, env_id: str) -> Path:
        return self.venv(env_id) / ENV_RECORD


def probe_script(name: str) -> Path:
    return PROBES_DIR / f"{name}.py"
