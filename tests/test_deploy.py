"""Where models are deployed, with real converters and runtimes: the zoo's
mlp and cnn converted to ONNX (Keras 3's own export, TF 2.21) and to TF.js
(the tensorflowjs converter, TF 2.15) load and predict the same in three
onnxruntime versions and three TF.js versions in Node; the report grids
them; a user's own .onnx file runs in every onnxruntime env, and one whose
external data climbs out of its folder is refused before any runtime sees it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from matrix.report import jsonfile
from tests.conftest import ROOT
from tests.test_onnx_tfjs_inspect import _tensor, onnx_model

pytestmark = pytest.mark.tf

ONNX = "tf2.21-keras3-py3.11-cpu-to-onnx"
TFJS = "tf2.15-keras2-py3.11-cpu-to-tfjs"
ORT = [f"onnxruntime{v}-interpreter-py3.11-cpu" for v in ("1.16", "1.22", "1.32")]
NODE = [f"tfjs{v}-interpreter-py3.11-cpu" for v in ("4.0", "4.10", "4.22")]
PASSING = {"identical", "close"}


def _run(tmp: Path, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "matrix", "run", *args, "--gold", "none", "--no-history",
         "--output", str(tmp / "out"), "--reports", str(tmp / "reports"),
         "--envdir", str(ROOT / ".nox")],
        cwd=ROOT, capture_output=True, text=True, timeout=2400, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return jsonfile.loads((tmp / "reports" / "compat.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("Node and npm are needed: the TF.js envs run in Node")
    tmp = tmp_path_factory.mktemp("deploy")
    formats = ("onnx", "tfjs-layers", "tfjs-graph")
    report = _run(tmp, "--envs", ONNX, TFJS, *ORT, *NODE, "--models", "mlp", "cnn",
                  "--policies", "float32", "--formats", *formats)  # fmt: skip
    return tmp, report


def test_onnx_and_tfjs_files_predict_the_same_in_every_runtime(
    zoo: tuple[Path, dict[str, Any]],
) -> None:
    tmp, report = zoo
    cells = report["cells"]
    by_format = {
        f: [c for c in cells if c["format"] == f] for f in ("onnx", "tfjs-layers", "tfjs-graph")
    }
    assert {c["consumer"] for c in by_format["onnx"]} == set(ORT)
    assert {c["consumer"] for c in by_format["tfjs-layers"]} == set(NODE)
    for fmt, found in by_format.items():
        assert len(found) == 2 * 3, fmt  # two models, three runtime versions
        assert all(c["status"] in PASSING for c in found), [
            (c["consumer"], c["status"], c.get("error")) for c in found
        ]
        # Every loading cell carries the batch check, and these batch alike.
        assert all(c["batch"]["one_at_a_time"]["status"] in PASSING for c in found)
    envs = {e["id"]: e for e in report["envs"]}
    assert envs[NODE[0]]["versions"]["runtime"].startswith("@tensorflow/tfjs 4.0.")
    markdown = (tmp / "reports" / "compat.md").read_text(encoding="utf-8")
    assert "### `onnx` format, `onnxruntime` loader" in markdown
    assert "### `tfjs-graph` format, `tfjs` loader" in markdown
    assert "TF 2.21 (Keras 3) → ONNX" in markdown and "TF.js 4.22" in markdown


def test_a_users_onnx_file_runs_in_every_onnxruntime_env(
    zoo: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    tmp, _ = zoo
    converted = tmp / "out" / "artifacts" / ONNX / "cnn-float32.onnx"
    mine = tmp_path / "mine.onnx"
    shutil.copy(converted, mine)
    hostile = tmp_path / "climbs"
    hostile.mkdir()
    (hostile / "model.onnx").write_bytes(
        onnx_model([_tensor("w", [4], external="../../etc/passwd", length=16)])
    )
    report = _run(tmp_path, "--envs", *ORT, "--user-model", str(mine), "--name", "mine",
                  "--user-model", str(hostile), "--name", "climbs")  # fmt: skip
    cells = {(c["producer"], c["consumer"]): c for c in report["cells"]}
    for env in ORT:
        assert cells[("user:mine", env)]["status"] in PASSING, cells[("user:mine", env)]
        refused = cells[("user:climbs", env)]
        assert refused["status"] == "not-applicable" and "external data" in refused["reason"]
