"""bisect on real envs: a .keras file of Keras 3.13 does not load in 3.12
(quantization_config); between the measured 3.12.4 and 3.13.2 the patch
releases on the package index are searched, and 3.13.0 is the first whose
files 3.12 refuses (reproduced standalone: tests/test_keras_minors.py and
the closing note of the bisection issue)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.tf

OLD, NEW = "keras3.12-tensorflow-py3.11-cpu", "keras3.13-tensorflow-py3.11-cpu"


def _matrix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "matrix", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=2400, check=False)  # fmt: skip


def test_bisect_finds_the_first_keras_patch_whose_files_break(tmp_path: Path) -> None:
    envdir = str(ROOT / ".nox")
    done = _matrix("run", "--envs", OLD, NEW, "--models", "mlp", "--formats", "keras",
                   "--policies", "float32", "--loaders", "keras", "--gold", "none",
                   "--no-history", "--output", str(tmp_path / "out"),
                   "--reports", str(tmp_path / "reports"), "--envdir", envdir)  # fmt: skip
    assert done.returncode in (0, 1), done.stdout + done.stderr
    found = _matrix("bisect", "--document", str(tmp_path / "reports" / "compat.json"),
                    "--group", "keras3-quantization-config:producer", "--budget", "4",
                    "--output", str(tmp_path / "bisect"), "--envdir", envdir,
                    "--reports", str(tmp_path / "bisected"))  # fmt: skip
    assert found.returncode == 0, found.stdout + found.stderr
    answer = json.loads((tmp_path / "bisected" / "bisect.json").read_text(encoding="utf-8"))
    (bisection,) = answer["bisections"]
    assert bisection["first"] == "3.13.0" and bisection["last"] == "3.12.4", bisection
    assert bisection["words"] == "fails when saved with keras 3.13.0 or newer (3.12.4 works)"
    assert 1 <= bisection["steps"] <= 2
