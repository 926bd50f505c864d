"""TFLite across runtimes, and old models from the gold store, with real envs.

One run: TF 2.21 (Keras 3) and TF 2.21 with tf-keras convert and load; the
newest LiteRT (2.3) and the last tflite-runtime (2.14) run what they
convert; the gold store's TF 1.15 producers (tf.keras, and standalone Keras
2.3.1) are replayed against them without building TF 1.15.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from matrix.report import jsonfile
from tests.conftest import ROOT, assert_valid_report

pytestmark = pytest.mark.tf

K3 = "tf2.21-keras3-py3.11-cpu"
TFK = "tf2.21-tf-keras-py3.11-cpu"
LITERT = "litert2.3-interpreter-py3.11-cpu"
OLD_RUNTIME = "tflite-runtime2.14-interpreter-py3.11-cpu"
OLD_TF = "tf2.12-keras2-py3.11-cpu"
GOLD_K2 = "gold:tf1.15-keras2-py3.7-cpu"
GOLD_SK = "gold:tf1.15-standalone-keras-py3.7-cpu"
MODELS = ["mlp", "cnn", "custom", "lstm", "subclassed"]
PASSING = {"identical", "close"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("tflite")
    done = subprocess.run(
        [
            sys.executable, "-m", "matrix", "run",
            "--envs", K3, TFK, LITERT, OLD_RUNTIME,
            "--models", *MODELS, "--policies", "float32",
            "--formats", "h5", "savedmodel", "weights", "tflite", "tflite-fp16", "tflite-int8",
            "--loaders", "keras", "tflite",
            "--gold", GOLD_K2.removeprefix("gold:"), GOLD_SK.removeprefix("gold:"),
            "--output", str(tmp / "out"), "--reports", str(tmp / "reports"),
            "--envdir", str(ROOT / ".nox"),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=2400, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert_valid_report(tmp / "reports" / "compat.json")
    doc = jsonfile.loads((tmp / "reports" / "compat.json").read_text(encoding="utf-8"))
    doc["markdown"] = (tmp / "reports" / "compat.md").read_text(encoding="utf-8")
    doc["output_folder"] = str(tmp / "out")
    return doc


@pytest.fixture(scope="module")
def skew(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The zoo's one op-version skew: the embedding model converted by TF
    2.21 (and TF 2.12), read by both interpreters."""
    tmp = tmp_path_factory.mktemp("skew")
    done = subprocess.run(
        [
            sys.executable, "-m", "matrix", "run",
            "--envs", K3, OLD_TF,
            "--models", "embedding", "--policies", "float32", "mixed_float16",
            "--formats", "tflite", "--loaders", "tflite",
            "--output", str(tmp / "out"), "--reports", str(tmp / "reports"),
            "--envdir", str(ROOT / ".nox"),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return jsonfile.loads((tmp / "reports" / "compat.json").read_text(encoding="utf-8"))


def cells(doc: dict[str, Any], **match: str) -> list[dict[str, Any]]:
    found = [c for c in doc["cells"] if all(c[k] == v for k, v in match.items())]
    assert found, f"no cell matches {match}"
    return found


def statuses(doc: dict[str, Any], **match: str) -> set[str]:
    return {c["status"] for c in cells(doc, **match)}


def test_the_newest_converter_runs_in_the_newest_litert(run: dict[str, Any]) -> None:
    for model in ("mlp", "cnn", "custom"):
        for fmt in ("tflite", "tflite-fp16", "tflite-int8"):
            assert statuses(run, producer=K3, consumer=LITERT, model=model, format=fmt) <= PASSING


def test_no_op_version_skew_among_the_zoo_models(run: dict[str, Any]) -> None:
    """What TF 2.21 converts from the zoo needs no op version tflite-runtime
    2.14 lacks: every model it converts runs there (no skew to pin among
    these models; the inspector lists each operator's version)."""
    for producer in (K3, TFK):
        for cell in cells(run, producer=producer, consumer=OLD_RUNTIME):
            if cell["status"] != "no-artifact":
                assert cell["status"] in PASSING, cell


def test_a_new_converter_writes_an_op_version_an_old_interpreter_lacks(
    skew: dict[str, Any],
) -> None:
    """Pinned as real TensorFlow does it: for the mixed_float16 embedding
    model TF 2.13 and later write CAST version 5, which TF 2.5-2.12's
    tf.lite.Interpreter does not have. The new interpreter runs that file,
    the old one runs the float32 file of the same model."""
    mixed = {"producer": K3, "model": "embedding", "policy": "mixed_float16"}
    (cell,) = cells(skew, consumer=OLD_TF, **mixed)
    assert cell["status"] == "load-error", cell
    assert "'CAST' version '5'" in cell["error"]
    assert cell["known"] == "tflite-op-version-skew"
    assert statuses(skew, consumer=K3, **mixed) <= PASSING
    float32 = {"producer": K3, "model": "embedding", "policy": "float32"}
    assert statuses(skew, consumer=OLD_TF, **float32) <= PASSING


def test_keras3_lstm_does_not_convert_with_a_dynamic_batch(run: dict[str, Any]) -> None:
    (cell, *_) = cells(run, producer=K3, consumer=LITERT, model="lstm", format="tflite")
    assert cell["status"] == "no-artifact"
    assert "TensorListReserve" in cell["error"] or "tensor list" in (cell["error_text"] or "")
    assert cell["known"] == "tflite-lstm-tensor-list"


def test_runtimes_read_tflite_files_only(run: dict[str, Any]) -> None:
    for runtime in (LITERT, OLD_RUNTIME):
        assert {c["format"] for c in cells(run, consumer=runtime)} == {
            "tflite", "tflite-fp16", "tflite-int8"
        }  # fmt: skip
        # What the runtime was asked to load at all, not only what is reported:
        # an h5 file never reaches an interpreter.
        results = Path(run["output_folder"]) / "results" / f"{runtime}.jsonl"
        asked = {json.loads(line)["format"] for line in results.read_text().splitlines()}
        assert asked == {"tflite", "tflite-fp16", "tflite-int8"}
    envs = {e["id"]: e for e in run["envs"]}
    assert envs[LITERT]["versions"]["runtime"].startswith("ai-edge-litert 2.3")
    assert envs[OLD_RUNTIME]["versions"]["runtime"].startswith("tflite-runtime 2.14")


def test_a_tf_1_15_h5_from_the_gold_store_in_tf_2_21(run: dict[str, Any]) -> None:
    """Pinned as real TensorFlow does it (the gold files were written by TF
    1.15.5 with tf.keras 2.2.4-tf and by standalone Keras 2.3.1)."""
    for gold in (GOLD_K2, GOLD_SK):
        assert statuses(run, producer=gold, consumer=TFK, model="mlp", format="h5") <= PASSING
    assert statuses(run, producer=GOLD_SK, consumer=K3, model="mlp", format="h5") <= PASSING
    # tf.keras 1.15 writes its initializers with a dtype Keras 3 does not take.
    (refused,) = cells(run, producer=GOLD_K2, consumer=K3, model="mlp", format="h5")
    assert refused["status"] == "load-error" and "'dtype'" in refused["error_text"]
    assert refused["known"] == "keras3-tf1-initializer-dtype"
    # A TF 1.15 LSTM's weights in today's LSTM: the recurrent defaults changed.
    for consumer in (K3, TFK):
        (moved,) = cells(run, producer=GOLD_K2, consumer=consumer, model="lstm", format="weights")
        assert moved["status"] == "drift" and moved["known"] == "tf1-recurrent-defaults-changed"
    frozen = {g["producer"]: g for g in run["gold"]}
    assert frozen[GOLD_K2]["tensorflow"].startswith("1.15")
    assert (frozen[GOLD_K2]["keras"], frozen[GOLD_SK]["keras"]) == ("2.2.4-tf", "2.3.1")
    assert "### Gold producers" in run["markdown"]


def test_a_tf_1_15_subclassed_savedmodel_loads_with_its_initial_weights(
    run: dict[str, Any],
) -> None:
    """Pinned as tf-keras does it: TF 1.15 wrote no build_input_shape, so with
    custom_objects the Dense layers inside Block stay unbuilt and the first
    call replaces their restored variables: the model predicts untrained.
    What tf-keras saves itself records the shapes and predicts the same."""
    (moved,) = cells(
        run, producer=GOLD_K2, consumer=TFK, model="subclassed", format="savedmodel", loader="keras"
    )
    assert moved["status"] == "drift", moved
    assert moved["known"] == "keras2-savedmodel-nested-layers-unbuilt"
    (own,) = cells(
        run, producer=TFK, consumer=TFK, model="subclassed", format="savedmodel", loader="keras"
    )
    assert own["status"] in PASSING, own


def test_a_tf_1_15_conversion_runs_in_today_s_runtimes(run: dict[str, Any]) -> None:
    for runtime in (LITERT, OLD_RUNTIME, K3):
        assert statuses(run, producer=GOLD_K2, consumer=runtime, model="mlp", format="tflite") <= (
            PASSING
        )


def test_gold_producers_are_replayed_not_built(run: dict[str, Any]) -> None:
    """A row of the report, no env of the run: nothing of TF 1.15 was installed."""
    assert GOLD_K2 in run["producers"]
    assert all(not e["id"].startswith("tf1.15") for e in run["envs"])
