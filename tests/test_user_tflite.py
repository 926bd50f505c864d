"""A user's own .tflite files, measured in every TFLite env (real envs).

A file whose one large float input has a dynamic batch and that answers
with three outputs, and a file converted for a fixed batch: `tf.lite.
Interpreter` and the standalone runtimes load and run both, so every cell
of theirs is measured (the reference comes from the interpreter's own input
details, not from a Keras model the file does not hold), and a run for the
user's files alone measures no zoo model.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

from matrix.report import jsonfile
from tests.conftest import ROOT

pytestmark = pytest.mark.tf

TF = "tf2.21-keras3-py3.11-cpu"
RUNTIMES = ["litert2.3-interpreter-py3.11-cpu", "tflite-runtime2.14-interpreter-py3.11-cpu"]
CONVERT = textwrap.dedent(
    """
    import sys

    import keras
    import tensorflow as tf

    out = sys.argv[1]
    keras.utils.set_random_seed(7)
    signal = keras.Input((4000,), name="signal")
    hidden = keras.layers.Dense(8, activation="relu")
    heads = [keras.layers.Dense(n, name=f"head{n}") for n in (3, 2, 1)]
    model = keras.Model(signal, [head(hidden(signal)) for head in heads])
    with open(f"{out}/dynamic.tflite", "wb") as handle:
        handle.write(tf.lite.TFLiteConverter.from_keras_model(model).convert())

    # The same layers behind an input of batch 2. (Converted from a
    # tf.function's concrete function instead, TF 2.21 keeps the Keras 3
    # variables as resource variables nothing initialises: that file
    # predicts NaN or 1e31 in TF's own tf.lite.Interpreter, as measured.)
    fixed_signal = keras.Input(batch_shape=(2, 4000), name="signal")
    fixed = keras.Model(fixed_signal, [head(hidden(fixed_signal)) for head in heads])
    with open(f"{out}/fixed.tflite", "wb") as handle:
        handle.write(tf.lite.TFLiteConverter.from_keras_model(fixed).convert())
    """
)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("user-tflite")
    envs = [TF, *RUNTIMES]
    ready = subprocess.run(
        [sys.executable, "-m", "matrix", "produce", "--env", TF, "--envs", *envs,
         "--models", "mlp", "--formats", "h5", "--policies", "float32",
         "--output", str(tmp / "warm"), "--envdir", str(ROOT / ".nox")],
        cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert ready.returncode == 0, ready.stdout + ready.stderr  # builds the TF env
    python = ROOT / ".nox" / TF / "bin" / "python"
    (tmp / "convert.py").write_text(CONVERT, encoding="utf-8")
    subprocess.run([str(python), str(tmp / "convert.py"), str(tmp)], check=True, timeout=600,
                   capture_output=True)  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "matrix", "run", "--envs", *envs,
         "--user-model", str(tmp / "dynamic.tflite"), "--user-model", str(tmp / "fixed.tflite"),
         "--output", str(tmp / "out"), "--reports", str(tmp / "reports"),
         "--envdir", str(ROOT / ".nox")],
        cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return jsonfile.loads((tmp / "reports" / "compat.json").read_text(encoding="utf-8"))


def test_every_tflite_env_measures_the_users_files(run: dict[str, Any]) -> None:
    for name in ("dynamic", "fixed"):
        cells = [c for c in run["cells"] if c["producer"] == f"user:{name}"]
        assert {c["consumer"] for c in cells} == {TF, *RUNTIMES}
        for cell in cells:
            assert cell["status"] in ("identical", "close"), cell
        (artifact,) = [a for a in run["artifacts"] if a["producer"] == f"user:{name}"]
        assert artifact["reference_env"] == TF


def test_a_run_for_the_users_files_measures_no_zoo_model(run: dict[str, Any]) -> None:
    assert {c["producer"] for c in run["cells"]} == {"user:dynamic", "user:fixed"}
    assert run["run"]["selection"]["models"] == []
