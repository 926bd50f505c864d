"""Safe by default: code in a model file does not run, tampered files are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults.conftest import (
    K3,
    PASSING,
    cell,
    document,
    marker,
    markers_written,
    matrix,
    run_ok,
    user_args,
)

pytestmark = pytest.mark.tf


def _marker_run(models: Path, tmp: Path, *extra: str) -> dict[str, object]:
    run_ok(
        "run",
        "--envs",
        K3,
        "--models",
        "mlp",
        "--formats",
        "h5",
        "--policies",
        "float32",
        "--output",
        str(tmp / "out"),
        "--reports",
        str(tmp / "reports"),
        *user_args("marker_keras", models / "marker.keras", models, expected="marker_expected.npz"),
        *user_args("marker_h5", models / "marker.h5", models, expected="marker_expected.npz"),
        *extra,
    )
    return document(tmp / "reports")


def test_lambda_never_runs_under_the_defaults(models: Path, tmp_path: Path) -> None:
    doc = _marker_run(models, tmp_path)
    assert markers_written(tmp_path, marker(models).parent) == []
    # Keras 3.15 enforces safe_mode for .keras and .h5: the gate lets the load
    # through and Keras itself refuses the Lambda.
    for name in ("marker_keras", "marker_h5"):
        refused = cell(doc, producer=f"user:{name}", consumer=K3)
        assert refused["status"] == "load-error" and "Lambda" in refused["error_text"]
    assert doc["run"]["unsafe"] is False


def test_unsafe_opt_in_runs_it_inside_the_sandbox(models: Path, tmp_path: Path) -> None:
    doc = _marker_run(models, tmp_path, "--unsafe")
    assert doc["run"]["unsafe"] is True
    written = markers_written(tmp_path, marker(models).parent)
    # The code ran (the opt-in works) and wrote where the probe runs, inside
    # the output folder; its write outside the output was refused by the
    # sandbox, so the cell reports that error instead of a prediction.
    assert written and all((tmp_path / "out" / "tmp") in p.parents for p in written)
    assert not marker(models).exists()
    ran = cell(doc, producer="user:marker_h5", consumer=K3)
    # Keras 3 runs a Lambda while it rebuilds the model, so the denied write
    # fails the load itself. Keras 3.15 infers a Lambda's output shape by
    # calling it and, when that raises, reports only that it could not infer
    # the shape (keras/src/layers/core/lambda_layer.py): the PermissionError
    # is gone from the message, the markers above show the write was denied.
    assert ran["status"] in ("load-error", "predict-error")
    assert "Permission denied" in ran["error_text"] or (
        "could not automatically infer the shape of the Lambda" in ran["error_text"]
    )
    text = (tmp_path / "reports" / "compat.md").read_text(encoding="utf-8")
    assert "Unsafe mode was on" in text


def test_tampered_artifact_is_refused_never_loaded(tmp_path: Path) -> None:
    out, reports = str(tmp_path / "out"), str(tmp_path / "reports")
    common = [
        "--envs",
        K3,
        "--models",
        "mlp",
        "--formats",
        "h5",
        "--policies",
        "float32",
        "--output",
        out,
        "--reports",
        reports,
    ]
    run_ok("produce", "--env", K3, *common)
    artifact = tmp_path / "out" / "artifacts" / K3 / "mlp-float32.h5"
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    run_ok("consume", "--env", K3, *common)
    run_ok("report", *common)
    refused = cell(document(tmp_path / "reports"), producer=K3, consumer=K3, model="mlp")
    assert refused["status"] == "load-error"
    assert refused["error_type"] == "IntegrityError"
    assert "does not match the manifest" in refused["error"]
    assert refused["seconds"] is None  # no loader ever started


def test_restart_budget_ends_in_crash_cells_with_the_reason(models: Path, tmp_path: Path) -> None:
    faults = []
    for name in ("segv", "abort", "good"):
        faults += user_args(name, models / "faulty.h5", models, name, "faulty_expected.npz")
    run_ok(
        "run",
        "--envs",
        K3,
        "--models",
        "mlp",
        "--formats",
        "h5",
        "--policies",
        "float32",
        "--output",
        str(tmp_path / "out"),
        "--reports",
        str(tmp_path / "reports"),
        "--max-restarts",
        "1",
        *faults,
    )
    doc = document(tmp_path / "reports")
    assert cell(doc, producer="user:segv", consumer=K3)["status"] == "crash"
    assert cell(doc, producer="user:abort", consumer=K3)["status"] == "crash"
    starved = cell(doc, producer="user:good", consumer=K3)
    assert starved["status"] == "crash" and "restart budget (1)" in starved["error"]
    assert cell(doc, producer=K3, consumer=K3, model="mlp")["status"] in PASSING


def test_second_run_on_the_same_output_is_refused_while_one_runs(tmp_path: Path) -> None:
    from matrix import files

    with files.exclusive_lock(tmp_path / "out" / ".lock", "x"):
        done = matrix("run", "--envs", K3, "--models", "mlp", "--output", str(tmp_path / "out"))
    assert done.returncode == 2 and "in use by another run" in done.stderr
