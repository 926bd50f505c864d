"""Keras 3 minors and backends with real envs: what measurement showed, pinned.

Keras 3.15 writes `input_axes` into its initializers' configs, which Keras
3.14 refuses (keras-team/keras#22789): a `.keras` file moves forward only,
its weights both ways. The same Keras on JAX and on TensorFlow read each
other's files and predict within float32's tolerance. Envs are built once
in the repository's `.nox` (TF 2.21 is shared with the other real-env tests).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from matrix.report import jsonfile
from tests.conftest import ROOT, assert_valid_report

pytestmark = pytest.mark.tf

OLD = "keras3.14-tensorflow-py3.11-cpu"
NEW = "keras3.15-tensorflow-py3.11-cpu"
JAX = "keras3.15-jax-py3.11-cpu"
PASSING = {"identical", "close"}


def matrix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "matrix", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=2400,
        check=False,
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("keras-minors")
    places = ["--output", str(tmp / "out"), "--reports", str(tmp / "reports")]
    done = matrix(
        "run", "--envs", OLD, NEW, JAX, "--models", "mlp", "lstm", "--policies", "float32",
        *places, "--envdir", str(ROOT / ".nox"), "--gold", "none",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert_valid_report(tmp / "reports" / "compat.json")
    return tmp, jsonfile.loads((tmp / "reports" / "compat.json").read_text(encoding="utf-8"))


def one(doc: dict[str, Any], **match: str) -> dict[str, Any]:
    (cell,) = [c for c in doc["cells"] if all(c[k] == v for k, v in match.items())]
    return cell


def test_a_keras_file_moves_forward_only_and_its_weights_both_ways(
    run: tuple[Path, dict[str, Any]],
) -> None:
    _, doc = run
    newer_in_older = one(doc, producer=NEW, consumer=OLD, model="mlp", format="keras")
    assert newer_in_older["status"] == "load-error"
    assert newer_in_older["known"] == "keras3-initializer-axes"
    assert "input_axes" in newer_in_older["error_text"]
    assert one(doc, producer=OLD, consumer=NEW, model="mlp", format="keras")["status"] in PASSING
    # The weights of the same model move either way, bit for bit.
    for producer, consumer in ((NEW, OLD), (OLD, NEW)):
        moved = one(doc, producer=producer, consumer=consumer, model="mlp", format="weights")
        assert moved["status"] == "identical"
    # The report says who reads the newer file.
    text = (run[0] / "reports" / "compat.md").read_text(encoding="utf-8")
    assert "(not 3.14.1 on TensorFlow)" in text
    keras = next(
        a for a in doc["artifacts"] if a["producer"] == NEW and a["model"] == "mlp"
        and a["format"] == "keras"
    )  # fmt: skip
    assert keras["readers"]["keras3"]["oldest"] == "3.15.1"


def test_the_same_keras_on_jax_and_tensorflow_reads_each_others_files(
    run: tuple[Path, dict[str, Any]],
) -> None:
    _, doc = run
    for producer, consumer in ((JAX, NEW), (NEW, JAX)):
        for fmt in ("keras", "weights"):
            cell = one(doc, producer=producer, consumer=consumer, model="lstm", format=fmt)
            assert cell["status"] in PASSING, cell
            assert cell["max_abs"] < 1e-5
    jax = next(e for e in doc["envs"] if e["id"] == JAX)
    assert jax["versions"].get("tensorflow") is None  # no TensorFlow in a JAX env
    assert jax["versions"]["backend"].startswith("jax ")


def test_a_jax_cell_replays_by_hand(run: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = run
    cell = f"{NEW}/{JAX}/lstm/float32/keras/keras"
    done = matrix("repro", cell, "--output", str(tmp / "out"), "--envdir", str(ROOT / ".nox"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "reproduced:" in done.stdout
    script = (tmp / "out" / "repro" / cell.replace("/", "__") / "repro.py").read_text("utf-8")
    # No TensorFlow at the top: the script ran in the JAX env, which has none
    # (a string input alone would import it, and the lstm has none).
    assert not re.search(r"^(import|from) tensorflow", script, re.M)
