"""The whole pipeline with real TensorFlow envs: facts only real TF produces.

Builds (or reuses) .nox/tf2.15-keras2-py3.11-cpu and .nox/tf2.21-keras3-py3.11-cpu,
saves `mlp` in both, loads everything everywhere, and reads compat.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.tf

K2 = "tf2.15-keras2-py3.11-cpu"
K3 = "tf2.21-keras3-py3.11-cpu"
PASSING = {"identical", "close"}


def run_matrix(tmp: Path, *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "matrix",
            "run",
            "--envs",
            K2,
            K3,
            "--models",
            "mlp",
            "--output",
            str(tmp / "out"),
            "--reports",
            str(tmp / "reports"),
            "--envdir",
            str(ROOT / ".nox"),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((tmp / "reports" / "compat.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("e2e")
    return tmp, run_matrix(tmp)


def cells(doc: dict[str, Any], **match: str) -> list[dict[str, Any]]:
    found = [c for c in doc["cells"] if all(c[k] == v for k, v in match.items())]
    assert found, f"no cell matches {match}"
    return found


def test_every_planned_cell_has_a_status(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    assert doc["pending"] == []
    # 2 producers x 2 policies x 5 (format, loader) pairs x 2 consumers
    assert len(doc["cells"]) == 40
    envs = {e["id"]: e for e in doc["envs"]}
    assert envs[K2]["tensorflow"].startswith("2.15.") and envs[K2]["keras"].startswith("2.15")
    assert envs[K3]["tensorflow"].startswith("2.21.") and envs[K3]["keras"].startswith("3.")
    assert envs[K2]["numpy"].startswith("1.")


def test_keras2_dot_keras_file_does_not_load_in_keras3(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    for cell in cells(doc, producer=K2, consumer=K3, format="keras", loader="keras"):
        assert cell["status"] == "load-error"
        assert cell["error_type"] == "builtins.TypeError"
        assert "keras.src.engine.functional" in cell["error"]
        assert "Traceback" in cell["error_text"]


def test_keras2_h5_float32_loads_and_predicts_the_same_in_keras3(
    run: tuple[Path, dict[str, Any]],
) -> None:
    _, doc = run
    (cell,) = cells(doc, producer=K2, consumer=K3, format="h5", loader="keras", policy="float32")
    assert cell["status"] in PASSING
    assert cell["max_abs"] is not None and cell["max_abs"] <= 1e-5


def test_keras2_savedmodel_serves_the_same_in_tf_2_21(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    for cell in cells(doc, producer=K2, consumer=K3, format="savedmodel", loader="saved-model"):
        assert cell["status"] in PASSING, cell
    for cell in cells(doc, producer=K2, consumer=K3, format="savedmodel", loader="tfsm-layer"):
        assert cell["status"] in PASSING, cell


def test_keras3_refuses_savedmodel_dirs_in_load_model(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    for cell in cells(doc, consumer=K3, format="savedmodel", loader="keras"):
        assert cell["status"] == "load-error"
        assert "TFSMLayer" in cell["error_text"]


def test_tfsm_layer_is_not_applicable_in_keras2(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    for cell in cells(doc, consumer=K2, loader="tfsm-layer"):
        assert cell["status"] == "not-applicable"
        assert "Keras 3" in cell["reason"]


def test_same_env_round_trip_is_identical(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    for env in (K2, K3):
        for cell in cells(doc, producer=env, consumer=env, format="h5", policy="float32"):
            assert cell["status"] == "identical"


def test_markdown_report_is_written(run: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = run
    text = (tmp / "reports" / "compat.md").read_text(encoding="utf-8")
    assert "### `keras` format, `keras` loader" in text
    assert "| 2.15 k2 " in text


def test_rerun_with_nothing_changed_recomputes_nothing(run: tuple[Path, dict[str, Any]]) -> None:
    tmp, first = run
    results = sorted((tmp / "out" / "results").glob("*.jsonl"))
    logs = sorted((tmp / "out" / "logs").rglob("*.log"))
    before = [p.read_bytes() for p in results + logs]
    second = run_matrix(tmp)
    assert [p.read_bytes() for p in results + logs] == before
    assert second["cells"] == first["cells"]
