"""The text of `repro.py`: one cell, replayed by a script anyone can run.

The loading code is the probe's own, copied from the loader table
(`probes/loading.py` `LOADERS`) by `bundle`, so a new loader is reproducible
by construction. Around it, the script does what the consume probe does for
the cell: set the global dtype policy, load, predict twice, compare with the
stored reference under the tolerance of the artifact's policy, and (for a
`keras` load that fails) try again with `compile=False`. It prints the
outcome in the report's words on its last line: `RESULT: <status>`.
"""

from __future__ import annotations

import ast
import pprint
from dataclasses import dataclass
from typing import Any

from matrix.repro.bundle import Bundle, bundle

# Environment variables the env's processes set, and why: the script sets
# them before TensorFlow is imported, as the probe's environment did.
KERAS_IMPORT = {
    "keras3": "import keras",
    "tf-keras": "import tf_keras as keras",
    "keras2": "keras = tf.keras",
    "standalone-keras": "import keras",
}
FLAVOUR_LOADERS = {"keras3": "keras.saving.load_model", "tf-keras": "keras.models.load_model"}


@dataclass(frozen=True)
class Replay:
    """Everything the script needs to know about the cell, as plain values."""

    cell_id: str
    flavour: str
    keras_version: str | None
    environment: dict[str, str]
    task: dict[str, Any]  # the loader's task, paths relative to the script's folder
    policy: str  # the global policy the headline load ran under
    tolerance: tuple[float, float]
    recorded: str
    recorded_inference: str | None
    # A TFLite runtime's module (no TensorFlow in its env); None: tf.lite's.
    interpreter_module: str | None = None
    # Keras 3's backend (KERAS_BACKEND): on jax or torch the env has no TensorFlow.
    backend: str | None = "tensorflow"


def roots(
    loader: str, fmt: str, model: str
) -> tuple[list[tuple[str, str]], dict[tuple[str, str], list[str]]]:
    """The probe definitions a cell's script needs, and the zoo narrowed to its model."""
    found = [
        ("loading", _loader_function(loader)),
        ("_probe", "to_numpy_list"),
        ("_probe", "number"),
    ]
    keep: dict[tuple[str, str], list[str]] = {("zoo", "ZOO"): [model]}
    if fmt == "weights" or loader == "keras":
        found.append(("zoo", "build"))  # the weights rebuild, and the zoo's custom objects
    return found, keep


def _loader_function(loader: str) -> str:
    """The function LOADERS maps a loader to, read from the probe's table."""
    from matrix.paths import PROBES_DIR

    tree = ast.parse((PROBES_DIR / "loading.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "LOADERS":
            assert isinstance(node.value, ast.Dict)
            for key, value in zip(node.value.keys, node.value.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and key.value == loader
                    and isinstance(value, ast.Name)
                ):
                    return value.id
    msg = f"probes/loading.py LOADERS has no function for the loader {loader!r}"
    raise RuntimeError(msg)


def render(replay: Replay) -> str:
    found, keep = roots(replay.task["loader"], replay.task["format"], replay.task["model"])
    code = bundle(found, keep)
    return "\n".join(
        [
            _header(replay),
            _imports(replay),
            "# -- the probe's own code, copied from probes/*.py " + "-" * 24,
            "",
            code.source,
            "# -- this cell " + "-" * 58,
            "",
            _cell(replay, code),
        ]
    )


def _header(replay: Replay) -> str:
    recorded = replay.recorded
    if replay.recorded_inference:
        recorded += f" (with compile=False: {replay.recorded_inference})"
    lines = [
        '"""Reproduce one cell of a tf-compat-matrix run, standalone.',
        "",
        f"Cell: {replay.cell_id}",
        f"Recorded status: {recorded}",
        "",
        "Run it with the Python, TensorFlow and Keras named in README.md:",
        "",
        "    python repro.py",
        "",
        "It imports only TensorFlow, Keras and numpy (or the TFLite runtime). Its last",
        "line is the outcome",
        'in the report\'s words: "RESULT: <status>".',
        '"""',
        "",
    ]
    return "\n".join(lines)


def _imports(replay: Replay) -> str:
    lines = ["import os", ""]
    lines += [f"os.environ.setdefault({k!r}, {v!r})" for k, v in sorted(replay.environment.items())]
    lines += ["", "import hashlib", "import sys", "import time", "", "import numpy as np"]
    if replay.interpreter_module == "onnxruntime":  # an ONNX runtime alone
        lines += ["import onnxruntime as RUNTIME", "", "tf = keras = Interpreter = None", ""]
        return "\n".join(lines)
    if replay.interpreter_module:  # a TFLite runtime alone: no TensorFlow, no Keras
        lines += [f"from {replay.interpreter_module} import Interpreter", ""]
        lines += ["tf = keras = RUNTIME = None", ""]
        return "\n".join(lines)
    if replay.task.get("loader") == "tfjs":  # TensorFlow.js in Node, driven from here
        lines += ["import json", "import subprocess", ""]
        lines += ["tf = keras = Interpreter = RUNTIME = None", ""]
        return "\n".join(lines)
    if replay.backend not in (None, "tensorflow"):  # Keras 3 on JAX or PyTorch
        lines += ["import keras", "", "tf = Interpreter = RUNTIME = None", ""]
        return "\n".join(lines)
    lines += ["import tensorflow as tf", "", KERAS_IMPORT[replay.flavour]]
    lines += ["Interpreter = tf.lite.Interpreter", "RUNTIME = None", ""]
    return "\n".join(lines)


def _cell(replay: Replay, code: Bundle) -> str:
    return TEMPLATE.format(
        task=pprint.pformat(replay.task, width=96, sort_dicts=True),
        flavour=replay.flavour,
        keras_version=replay.keras_version,
        policy=replay.policy,
        atol=replay.tolerance[0],
        rtol=replay.tolerance[1],
        loader=code.name("loading", _loader_function(replay.task["loader"])),
        to_numpy_list=code.name("_probe", "to_numpy_list"),
    )


TEMPLATE = '''HERE = os.path.dirname(os.path.abspath(__file__))
TASK = {task}
ATOL, RTOL = {atol!r}, {rtol!r}  # the tolerance of the artifact's policy
CONTEXT = {{
    "tf": tf,
    "keras": keras,
    "flavour": {flavour!r},
    "zoo": None,
    "info": {{"keras_flavour": {flavour!r}, "keras": {keras_version!r}}},
    "interpreter": Interpreter,
    "runtime": RUNTIME,
}}


def here(path):
    return None if path is None else os.path.join(HERE, path)


def check_files():
    """The copied artifact is byte for byte what the run measured."""
    for name, expected in sorted(TASK["files"].items()):
        digest = hashlib.sha256(open(os.path.join(HERE, name), "rb").read()).hexdigest()
        if digest != expected:
            sys.exit("RESULT: the copy of %s does not match its sha256" % name)


def outcome(reference, actual):
    """The report's words for outputs against the reference."""
    if len(reference) != len(actual) or any(r.shape != a.shape for r, a in zip(reference, actual)):
        return "drift", "outputs differ in number or shape"
    worst = [0.0, 0.0]
    for ref, out in zip(reference, actual):
        if ref.dtype.kind == "f":
            r, a = ref.astype(np.float64), out.astype(np.float64)
            if (np.isnan(r) != np.isnan(a)).any() or (np.isposinf(r) != np.isposinf(a)).any() or (
                np.isneginf(r) != np.isneginf(a)
            ).any():
                return "nan", "NaN/Inf positions differ from the reference"
            finite = np.isfinite(r) & np.isfinite(a)
            if finite.any():
                diff = np.abs(r[finite] - a[finite])
                worst[0] = max(worst[0], float(diff.max()))
                scale = np.maximum(np.abs(r[finite]), np.finfo(np.float64).tiny)
                worst[1] = max(worst[1], float((diff / scale).max()))
    if all(r.dtype == a.dtype and r.tobytes() == a.tobytes() for r, a in zip(reference, actual)):
        return "identical", "bitwise equal"
    within = True
    for ref, out in zip(reference, actual):
        if ref.dtype.kind == "f":
            r, a = ref.astype(np.float64), out.astype(np.float64)
            finite = np.isfinite(r) & np.isfinite(a)
            bound = ATOL + RTOL * np.abs(r[finite])
            within = within and bool(np.all(np.abs(r[finite] - a[finite]) <= bound))
        else:
            within = within and bool(np.array_equal(ref, out))
    return ("close" if within else "drift"), "max abs %.3g, max rel %.3g" % tuple(worst)


def first_line(exc):
    return "%s: %s" % (type(exc).__name__, (str(exc).strip().splitlines() or [""])[0][:500])


def numbered(arrays, prefix):
    count = len([k for k in arrays.files if k.startswith(prefix + "_")])
    return [arrays["%s_%d" % (prefix, i)] for i in range(count)]


def attempt(task):
    """Load and predict as the probe did; return the status."""
    if keras is not None:
        keras.mixed_precision.set_global_policy({policy!r})
    started = time.time()
    try:
        loaded = {loader}(CONTEXT, task)
    except Exception as exc:
        print("load: " + first_line(exc))
        return "load-error"
    print("load: ok (%.2f s)" % (time.time() - started))
    reference = np.load(here(task["reference"]), allow_pickle=False)
    inputs, expected = numbered(reference, "input"), numbered(reference, "output")
    try:
        actual = {to_numpy_list}(loaded.predict(inputs))
    except Exception as exc:
        print("predict: " + first_line(exc))
        return "predict-error"
    status, detail = outcome(expected, actual)
    print("compare: %s (%s)" % (status, detail))
    return status


def main():
    check_files()
    module = here(TASK["custom_objects_module"])
    task = dict(TASK, path=here(TASK["path"]), custom_objects_module=module)
    status = attempt(task)
    if status == "load-error" and task["loader"] == "keras" and task["format"] != "weights":
        keras.backend.clear_session()
        inference = attempt(dict(task, compile=False))
        print("inference-only load (compile=False): %s" % inference)
    print("RESULT: %s" % status)


if __name__ == "__main__":
    main()
'''
