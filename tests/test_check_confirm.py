"""`check --confirm` on real files in real envs: a prediction becomes a
measurement, and a wrong prediction says so.

A .keras file and a .tflite file saved in TensorFlow 2.21 (Keras 3), and an
HDF5 file saved in TensorFlow 2.15 (Keras 2), checked for 2.21 against the
measured results the test writes first (so the index holds those envs
whatever the shipped one covers). Every prediction comes back measured,
with the cell's status, and the exit code is the measurement's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from matrix.check.command import BREAKS, UNKNOWN, WORKS
from tests.conftest import ROOT

pytestmark = pytest.mark.tf

K2 = "tf2.15-keras2-py3.11-cpu"
K3 = "tf2.21-keras3-py3.11-cpu"
SAVE_K3 = textwrap.dedent(
    """
    import sys
    import keras
    import tensorflow as tf

    out = sys.argv[1]
    keras.utils.set_random_seed(3)
    inputs = keras.Input((6,), name="features")
    hidden = keras.layers.Dense(5, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    model.save(f"{out}/mine.keras")
    with open(f"{out}/mine.tflite", "wb") as handle:
        handle.write(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    """
)
SAVE_K2 = textwrap.dedent(
    """
    import sys
    import tensorflow as tf

    tf.keras.utils.set_random_seed(3)
    model = tf.keras.Sequential([tf.keras.layers.Dense(4, input_shape=(6,)),
                                 tf.keras.layers.Dense(2)])
    model.save(sys.argv[1] + "/mine.h5")
    """
)


def _matrix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "matrix", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=1800, check=False)  # fmt: skip


def test_confirm_turns_predictions_into_measurements(tmp_path: Path) -> None:
    done = _matrix("run", "--envs", K2, K3, "--models", "mlp", "--formats", "h5", "keras",
                   "tflite", "--policies", "float32", "--gold", "none", "--no-history",
                   "--output", str(tmp_path / "zoo"), "--reports", str(tmp_path / "zoo-reports"),
                   "--envdir", str(ROOT / ".nox"))  # fmt: skip
    assert done.returncode in (0, 1), done.stdout + done.stderr
    for env, script in ((K3, SAVE_K3), (K2, SAVE_K2)):
        (tmp_path / "save.py").write_text(script, encoding="utf-8")
        python = ROOT / ".nox" / env / "bin" / "python"
        subprocess.run([str(python), str(tmp_path / "save.py"), str(tmp_path)], check=True,
                       timeout=600, capture_output=True)  # fmt: skip
    files = [str(tmp_path / name) for name in ("mine.keras", "mine.tflite", "mine.h5")]
    results = str(tmp_path / "zoo-reports" / "compat.json")
    checked = _matrix("check", *files, "--to", "2.21", "--results", results,
                      "--confirm", "--json", "--output", str(tmp_path / "check"),
                      "--envdir", str(ROOT / ".nox"))  # fmt: skip
    assert checked.returncode in (WORKS, BREAKS, UNKNOWN), checked.stdout + checked.stderr
    answer = json.loads(checked.stdout)
    by_name = {Path(f["file"]).name: f for f in answer["files"]}
    assert set(by_name) == {"mine.keras", "mine.tflite", "mine.h5"}
    for name, found in by_name.items():
        (prediction,) = found["predictions"]
        assert prediction["target"] == K3, name
        assert prediction["basis"] == "measured", (name, prediction)
        assert prediction["measured_status"] in ("identical", "close"), (name, prediction)
        assert prediction["verdict"] == "works"
        assert prediction["predicted"] in ("works", "breaks", "unknown")
        assert ("was right" in prediction["why"]) == (prediction["predicted"] == "works")
    assert checked.returncode == WORKS
