from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.conftest import ROOT


@pytest.mark.skipif(shutil.which("nox") is None, reason="nox is not on PATH")
def test_nox_lists_per_env_sessions_with_tags() -> None:
    sessions = listing("-t", "produce", "consume")
    produce = sessions["produce(tf2.15-keras2-py3.11-cpu)"]
    assert {"produce", "tf2.15", "keras2", "cpu"} <= set(produce["tags"])
    assert "consume(tf2.21-keras3-py3.11-cpu)" in sessions
    assert "consume(tf2.21-tf-keras-py3.11-cpu)" in sessions
    assert "matrix" not in sessions


@pytest.mark.skipif(shutil.which("nox") is None, reason="nox is not on PATH")
def test_nox_has_the_host_sessions_and_matrix_is_the_default() -> None:
    assert set(listing("-s", "matrix", "report", "tests", "lint")) == {
        "matrix",
        "report",
        "tests",
        "lint",
    }
    assert set(listing()) == {"matrix"}


def listing(*selection: str) -> dict[str, dict[str, object]]:
    done = subprocess.run(
        ["nox", "-l", "--json", *selection],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return {s["session"]: s for s in json.loads(done.stdout)}
