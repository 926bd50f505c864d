"""Interrupted and repeated runs: kill -9 at any moment, then run again."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.faults.conftest import K3, document, ensure_env, run_ok

pytestmark = pytest.mark.tf

SELECTION = [
    "--envs",
    K3,
    "--models",
    "mlp",
    "cnn",
    "custom",
    "--policies",
    "float32",
    "mixed_float16",
]
MEASURED = {"identical", "close", "load-error", "predict-error", "not-applicable", "no-artifact"}


def _start(out: Path, reports: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "matrix",
            "run",
            *SELECTION,
            "--output",
            str(out),
            "--reports",
            str(reports),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _kill_when(process: subprocess.Popen[bytes], ready: Any, limit: float = 900) -> None:
    deadline = time.monotonic() + limit
    while not ready():
        assert process.poll() is None, "the run ended before the moment to kill it"
        assert time.monotonic() < deadline, "the moment to kill never came"
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # the host only: probes have their own groups
    process.wait()


def _probes_of(out: Path) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                command = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if str(out).encode() in command and b"probes/" in command:
                found.append(int(proc.name))
    return found


def _lines(out: Path) -> int:
    path = out / "results" / f"{K3}.jsonl"
    return len(path.read_bytes().splitlines()) if path.exists() else 0


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    ensure_env(K3)
    tmp = tmp_path_factory.mktemp("interrupted")
    out, reports = tmp / "out", tmp / "reports"
    manifest = out / "artifacts" / K3 / "manifest.json"
    # Once while saving (the manifest holds some artifacts), once while loading.
    _kill_when(_start(out, reports), manifest.exists)
    _kill_when(_start(out, reports), lambda: _lines(out) >= 10)
    run_ok("run", *SELECTION, "--output", str(out), "--reports", str(reports))
    return tmp, document(reports)


def test_orphaned_probes_exit_with_their_host(interrupted: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = interrupted
    deadline = time.monotonic() + 15
    while _probes_of(tmp / "out") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _probes_of(tmp / "out") == []


def test_rerun_completes_every_cell_once(interrupted: tuple[Path, dict[str, Any]]) -> None:
    tmp, doc = interrupted
    assert doc["pending"] == []
    assert {c["status"] for c in doc["cells"]} <= MEASURED
    keys = []
    for line in (tmp / "out" / "results" / f"{K3}.jsonl").read_bytes().splitlines():
        try:
            keys.append(json.loads(line)["key"])
        except ValueError:
            continue  # a line the kill cut: skipped by every reader
    assert len(keys) == len(set(keys)), "a cell was recorded twice"


def test_reports_are_whole_after_kills(interrupted: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = interrupted
    assert not list((tmp / "reports").glob(".*tmp"))
    text = (tmp / "reports" / "compat.md").read_text(encoding="utf-8")
    assert text.startswith("# TensorFlow/Keras compatibility report") and text.endswith("\n")


def _normalised(doc: dict[str, Any]) -> dict[str, Any]:
    """compat.json without what changes between runs: times, dates, and the
    artifact hashes (a .keras zip and a SavedModel record when they were made)."""
    # TensorFlow numbers its traced functions per process (a converter's
    # error names `__inference_function_2473`), so the numbers go too.
    doc = json.loads(re.sub(r"(__inference_\w+?)_\d+", r"\1_N", json.dumps(doc)))
    doc["run"].pop("when")
    for env in doc["envs"]:
        env.pop("rebuild_reason", None)
        for timing in [k for k in env if k.endswith(("_startups", "_work"))]:
            env.pop(timing)  # start-up and work seconds of its probes
    doc["run"].get("releases", {}).pop("when", None)
    # History says when things were seen and which runs came before, not
    # what was measured; what it found must be nothing new in either.
    history = doc.pop("history", None) or {}
    assert not (history.get("since_last") or {}).get("new_failures"), history
    for cause in doc["causes"].values():  # when each cause was seen: this run's time
        cause.pop("first_seen", None)
        cause.pop("last_seen", None)
    for artifact in doc["artifacts"]:
        artifact.pop("sha256")
        artifact.pop("files")
    for item in doc["cells"]:
        item.pop("seconds")
        for part in ("inference", "own_policy"):
            if isinstance(item.get(part), dict):
                item[part].pop("seconds", None)
    return doc


def test_two_runs_over_the_same_inputs_agree(interrupted: tuple[Path, dict[str, Any]]) -> None:
    tmp, first = interrupted
    shutil.rmtree(tmp / "out")
    run_ok("run", *SELECTION, "--output", str(tmp / "out"), "--reports", str(tmp / "again"))
    assert _normalised(document(tmp / "again")) == _normalised(first)
