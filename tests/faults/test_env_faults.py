"""Env-level faults: the env is `env-error` (or `unavailable`) with the
installer's or interpreter's words, and the rest of the matrix still runs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.faults.conftest import K3, PASSING, cell, document, ensure_env, run_ok

pytestmark = pytest.mark.tf

RESOLVER = "tf2.21-keras3-py3.10-cpu"  # asks for a numpy TF 2.21 cannot use
NO_WHEEL = "tf2.20-keras3-py3.10-cpu"  # asks for an h5py with no cp310 wheel
OFFLINE = "tf2.19-keras3-py3.10-cpu"  # its index cannot be reached
BROKEN = "tf2.15-keras2-py3.10-cpu"  # installed fine, then NumPy 2 forced in


@pytest.fixture(scope="module")
def install_faults(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("install-faults")
    ensure_env(K3)
    run_ok(
        "run",
        "--envs",
        K3,
        RESOLVER,
        NO_WHEEL,
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
        "--pin",
        "tf2.21-keras3-py3.10-*=numpy<1.20",
        "--pin",
        "tf2.20-keras3-py3.10-*=h5py==3.1.0",
    )
    return document(tmp / "reports")


def _env(doc: dict[str, Any], env_id: str) -> dict[str, Any]:
    (found,) = [e for e in doc["envs"] if e["id"] == env_id]
    return found


def test_resolver_conflict_is_an_env_error_with_the_installer_words(
    install_faults: dict[str, Any],
) -> None:
    env = _env(install_faults, RESOLVER)
    assert env["status"] == "env-error"
    assert "installing failed" in env["reason"] and "numpy" in env["reason"]


def test_missing_wheel_is_an_env_error_not_a_build(install_faults: dict[str, Any]) -> None:
    env = _env(install_faults, NO_WHEEL)
    assert env["status"] == "env-error"
    assert "h5py" in env["reason"]


def test_other_envs_complete_beside_broken_installs(install_faults: dict[str, Any]) -> None:
    doc = install_faults
    assert doc["pending"] == []
    assert cell(doc, producer=K3, consumer=K3, model="mlp")["status"] in PASSING
    assert cell(doc, producer=K3, consumer=RESOLVER, model="mlp")["status"] == "env-error"
    assert cell(doc, producer=NO_WHEEL, consumer=K3, model="mlp")["status"] == "no-artifact"


def test_download_failure_is_an_env_error(tmp_path: Path) -> None:
    shutil.rmtree(ROOT / ".nox" / OFFLINE, ignore_errors=True)
    unreachable = {
        "UV_INDEX_URL": "http://127.0.0.1:9/simple",
        "UV_NO_CACHE": "1",
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
    }
    run_ok(
        "run",
        "--envs",
        K3,
        OFFLINE,
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
        env=unreachable,
    )
    doc = document(tmp_path / "reports")
    env = _env(doc, OFFLINE)
    assert env["status"] == "env-error" and "installing failed" in env["reason"]
    assert cell(doc, producer=K3, consumer=K3, model="mlp")["status"] in PASSING


def test_tensorflow_import_failure_is_an_env_error(tmp_path: Path) -> None:
    python = ensure_env(BROKEN)
    try:
        # What users do by hand: a NumPy 2 forced into a TF built for NumPy 1.
        subprocess.run(
            ["uv", "pip", "install", "--python", str(python), "--no-deps", "numpy==2.1.3"],
            check=True,
            capture_output=True,
            timeout=600,
        )
        run_ok(
            "run",
            "--envs",
            K3,
            BROKEN,
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
        )
        doc = document(tmp_path / "reports")
        env = _env(doc, BROKEN)
        assert env["status"] == "env-error"
        assert "before it loaded TensorFlow" in env["reason"] and "numpy" in env["reason"].lower()
        assert cell(doc, producer=K3, consumer=K3, model="mlp")["status"] in PASSING
        assert cell(doc, producer=K3, consumer=BROKEN, model="mlp")["status"] == "env-error"
    finally:
        shutil.rmtree(ROOT / ".nox" / BROKEN, ignore_errors=True)  # never leave it broken


def test_missing_interpreter_is_unavailable_with_the_reason(tmp_path: Path) -> None:
    hidden = {
        "PYENV_ROOT": str(tmp_path / "none"),
        "XDG_DATA_HOME": str(tmp_path / "none"),
        "UV_PYTHON_INSTALL_DIR": str(tmp_path / "none"),
        "PATH": "/usr/bin:/bin",
    }
    run_ok(
        "run",
        "--envs",
        K3,
        "tf2.5-keras2-py3.9-cpu",
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
        env=hidden,
    )
    doc = document(tmp_path / "reports")
    env = _env(doc, "tf2.5-keras2-py3.9-cpu")
    assert env["status"] == "unavailable"
    assert "no Python 3.9 interpreter found" in env["reason"]
    assert cell(doc, producer=K3, consumer=K3, model="mlp")["status"] in PASSING
