"""Fault injection: real envs, real saved models, custom objects that misbehave.

The fault models are saved by the tests themselves in the Keras 3 env: a
small functional model with a custom `FaultLayer` (left unregistered), and a
plain one. Each fault is a copy of one of them, given as a user model, with
a custom-objects module whose `FaultLayer` does the damage at predict time
(or at load time, for the load faults). Every fault model comes with inputs
and expected outputs, so no reference stage runs the faulty code.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from matrix.report import jsonfile
from tests.conftest import ROOT, assert_valid_report

K3 = "tf2.21-keras3-py3.11-cpu"
PASSING = {"identical", "close"}

SAVE = textwrap.dedent(
    """
    import os, sys, zipfile
    import numpy as np
    import keras

    out = sys.argv[1]

    class FaultLayer(keras.layers.Layer):
        def call(self, x):
            return x * 1.0

    init = keras.initializers.GlorotUniform(seed=1)
    x = np.random.RandomState(0).standard_normal((3, 4)).astype("float32")
    np.savez(out + "/inputs.npz", input_0=x)

    inputs = keras.Input((4,), name="x")
    head = keras.layers.Dense(2, kernel_initializer=init)
    faulty = keras.Model(inputs, head(FaultLayer()(inputs)))
    faulty.save(out + "/faulty.h5")
    np.savez(out + "/faulty_expected.npz", output_0=faulty(x).numpy())

    plain = keras.Model(inputs, head(inputs))
    plain.save(out + "/plain.h5")
    plain.save(out + "/plain.keras")
    plain.export(out + "/plain_served")
    np.savez(out + "/plain_expected.npz", output_0=plain(x).numpy())

    # A Lambda whose code writes two marker files whenever it runs: one where
    # the probe runs (a relative path), one outside the output folder.
    touch = eval(
        "lambda t: (open('lambda-ran.txt', 'w').write('ran'), open(%r, 'w').write('ran'), t)[2]"
        % os.environ["MARKER"]
    )
    lam = keras.Model(inputs, head(keras.layers.Lambda(touch)(inputs)))
    lam.save(out + "/marker.keras")
    lam.save(out + "/marker.h5")
    np.savez(out + "/marker_expected.npz", output_0=lam(x).numpy())
    # The same Lambda inside a nested model.
    inner_in = keras.Input((4,), name="inner_x")
    inner = keras.Model(inner_in, keras.layers.Lambda(touch)(inner_in), name="inner")
    nested = keras.Model(inputs, head(inner(inputs)))
    nested.save(out + "/nested.h5")
    # Building the models ran the Lambda; loading them must not.
    os.remove(os.environ["MARKER"])
    os.remove("lambda-ran.txt")

    # A SavedModel whose serving function writes files: WriteFile (absolute and
    # relative) and PrintV2 to a file.
    import tensorflow as tf

    class Writer(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
        def serve(self, x):
            tf.io.write_file(os.environ["MARKER"] + ".writefile", "ran")
            tf.io.write_file("writefile-ran.txt", "ran")
            tf.print("ran", output_stream="file://" + os.environ["MARKER"] + ".print")
            return {"output_0": x * 2.0}

    writer = Writer()
    signatures = {"serving_default": writer.serve}
    tf.saved_model.save(writer, out + "/writer_served", signatures=signatures)
    """
)

# A FaultLayer that misbehaves only when predicting eagerly: Keras 3 calls
# `call` symbolically while loading, and these faults are predict-time ones.
_PREDICT_FAULT = """
import os, signal, time
import tensorflow as tf

def get_custom_objects(keras):
    class FaultLayer(keras.layers.Layer):
        def call(self, x):
            if tf.executing_eagerly():
{body}
            return x * 1.0
    return {{"FaultLayer": FaultLayer}}
"""

_LOAD_FAULT = """
import os

def get_custom_objects(keras):
    class FaultLayer(keras.layers.Layer):
        def __init__(self, **kwargs):
{body}
            super().__init__(**kwargs)

        def call(self, x):
            return x * 1.0
    return {{"FaultLayer": FaultLayer}}
"""

HOSTILE = (
    "boom | pipe\nsecond line `tick` <script>alert(1)</script> \x1b[31mred\x1b[0m "
    "nul\x00 @someone " + "x" * 5000
)

PREDICT_FAULTS = {
    "segv": "                import ctypes; ctypes.string_at(0)",
    "abort": "                os.abort()",
    "hang": "                while True: time.sleep(0.05)",
    "sigkill": "                os.kill(os.getpid(), signal.SIGKILL)",
    "memory": (
        "                blocks = []\n"
        "                while True: blocks.append(bytearray(256 * 2**20))"
    ),
    "hostile": f"                raise ValueError({HOSTILE!r})",
    "good": "                pass",
}
LOAD_FAULTS = {
    "exit_on_load": "            os._exit(7)",
    "raise_on_load": "            raise RuntimeError('this layer refuses to be built')",
}


def write_modules(folder: Path) -> None:
    for name, body in PREDICT_FAULTS.items():
        (folder / f"{name}.py").write_text(_PREDICT_FAULT.format(body=body), encoding="utf-8")
    for name, body in LOAD_FAULTS.items():
        (folder / f"{name}.py").write_text(_LOAD_FAULT.format(body=body), encoding="utf-8")


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The saved models and fault modules, made once in the Keras 3 env."""
    folder = tmp_path_factory.mktemp("fault-models")
    python = ensure_env(K3)
    (folder / "save.py").write_text(SAVE, encoding="utf-8")
    marker(folder).parent.mkdir(exist_ok=True)
    env = {**os.environ, "MARKER": str(marker(folder)), "TF_CPP_MIN_LOG_LEVEL": "3"}
    scratch = folder / "scratch"
    scratch.mkdir()
    subprocess.run(
        [str(python), str(folder / "save.py"), str(folder)],
        env=env,
        check=True,
        capture_output=True,
        timeout=600,
        cwd=scratch,
    )
    write_modules(folder)
    return folder


def marker(models: Path) -> Path:
    """Where the hostile models' code writes when it runs (outside any output)."""
    return models.parent / "markers" / "code-ran.txt"


def markers_written(*roots: Path) -> list[Path]:
    """Every marker any hostile payload wrote, wherever it landed."""
    names = ("code-ran.txt", "lambda-ran.txt", "writefile-ran.txt")
    found = []
    for root in roots:
        if root.is_dir():
            found += [p for p in root.rglob("*") if p.name.startswith(names)]
    return found


def ensure_env(env_id: str) -> Path:
    """Build (or reuse) an env in the repository's .nox; its python."""
    from matrix.envs.provision import provision
    from matrix.paths import Layout
    from matrix.selection import machine
    from matrix.selection.plan import make_plan
    from matrix.settings import Settings

    plan = make_plan(
        Settings(envs=(env_id,)),
        machine.discover(),
        gpu_visible=False,
        host_python=machine.host_version(),
    )
    layout = Layout(ROOT / "build" / "fault-envs", ROOT / ".nox")
    provision(plan.envs[0], layout, install_timeout=1800)
    return layout.venv_python(env_id)


def matrix(*args: str, env: dict[str, str] | None = None, timeout: int = 1800) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "matrix", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


def run_ok(*args: str, env: dict[str, str] | None = None) -> None:
    done = matrix(*args, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def document(reports: Path) -> dict[str, Any]:
    assert_valid_report(reports / "compat.json")
    return jsonfile.loads((reports / "compat.json").read_text(encoding="utf-8"))


def cell(doc: dict[str, Any], **match: str) -> dict[str, Any]:
    found = [c for c in doc["cells"] if all(c[k] == v for k, v in match.items())]
    assert len(found) == 1, f"{len(found)} cells match {match}"
    return found[0]


def user_args(
    name: str,
    path: Path,
    folder: Path,
    module: str | None = None,
    expected: str = "plain_expected.npz",
) -> list[str]:
    args = [
        "--user-model",
        str(path),
        "--name",
        name,
        "--inputs",
        str(folder / "inputs.npz"),
        "--expected",
        str(folder / expected),
    ]
    if module:
        args += ["--custom-objects", str(folder / f"{module}.py")]
    return args
