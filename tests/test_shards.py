"""CI sharding with real envs: produce and consume on separate "machines"
(output folders), merged, equal the same plan run on one machine; and a
baseline with an injected regression fails the run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from matrix.report import jsonfile
from tests.conftest import ROOT

pytestmark = pytest.mark.tf

K2 = "tf2.15-keras2-py3.11-cpu"
K3 = "tf2.21-keras3-py3.11-cpu"
SELECTION = [
    "--envs",
    K2,
    K3,
    "--models",
    "mlp",
    "--policies",
    "float32",
    "--formats",
    "h5",
    "keras",
    "savedmodel",
    "--envdir",
    str(ROOT / ".nox"),
]


def matrix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "matrix", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def ok(*args: str) -> None:
    done = matrix(*args)
    assert done.returncode == 0, done.stdout + done.stderr


def folder(root: Path, name: str) -> list[str]:
    return ["--output", str(root / name), "--reports", str(root / f"{name}-reports")]


def copy_artifacts(sources: list[Path], target: Path) -> None:
    for source in sources:
        shutil.copytree(source / "artifacts", target / "artifacts", dirs_exist_ok=True)
        shutil.copytree(source / "envs", target / "envs", dirs_exist_ok=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("shards")
    # Two produce jobs, each on its own machine.
    ok("produce", "--env", K2, *SELECTION, *folder(tmp, "produce-k2"))
    ok("produce", "--env", K3, *SELECTION, *folder(tmp, "produce-k3"))
    produced = [tmp / "produce-k2", tmp / "produce-k3"]
    # Two consume jobs, each with every producer's artifacts downloaded.
    for env, name in ((K2, "consume-k2"), (K3, "consume-k3")):
        copy_artifacts(produced, tmp / name)
        ok("consume", "--env", env, *SELECTION, *folder(tmp, name))
    shards = [str(tmp / n) for n in ("produce-k2", "produce-k3", "consume-k2", "consume-k3")]
    ok("merge", *shards, *SELECTION, *folder(tmp, "merged"))
    # One machine, same plan, same artifacts (a .keras zip records when it was saved).
    copy_artifacts(produced, tmp / "single")
    ok("run", *SELECTION, *folder(tmp, "single"))
    return tmp, _doc(tmp / "merged-reports"), _doc(tmp / "single-reports")


def _doc(reports: Path) -> dict[str, Any]:
    data: dict[str, Any] = jsonfile.loads((reports / "compat.json").read_text(encoding="utf-8"))
    return data


def _without_times(doc: dict[str, Any]) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    doc["run"].pop("when")
    for cell in doc["cells"]:
        cell.pop("seconds")
        for part in ("inference", "own_policy"):
            if isinstance(cell.get(part), dict):
                cell[part].pop("seconds", None)
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
    return doc


def test_two_shards_merged_equal_one_machine(
    runs: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    _, merged, single = runs
    assert merged["pending"] == [] and single["pending"] == []
    assert _without_times(merged) == _without_times(single)


def test_merged_markdown_html_and_junit_are_written(
    runs: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    tmp, _, _ = runs
    for name in ("compat.md", "compat.json", "compat.html", "junit.xml", "history.jsonl"):
        assert (tmp / "merged-reports" / name).is_file(), name


def test_injected_regression_fails_with_exit_code_1(
    runs: tuple[Path, dict[str, Any], dict[str, Any]],
) -> None:
    tmp, merged, _ = runs
    baseline = json.loads(json.dumps(merged))
    # The regression: a cell that fails now "used to work" in the baseline.
    (broken,) = [
        c
        for c in baseline["cells"]
        if (c["producer"], c["consumer"], c["format"]) == (K2, K3, "keras")
    ]
    assert broken["status"] == "load-error"
    broken["status"] = "identical"
    path = tmp / "baseline.json"
    path.write_text(json.dumps(baseline), encoding="utf-8")
    done = matrix("report", *SELECTION, *folder(tmp, "merged"), "--baseline", str(path))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 regression" in done.stdout
    text = (tmp / "merged-reports" / "compat.md").read_text(encoding="utf-8")
    assert "## Changes since" in text and "identical → load-error ❗" in text
    # The same baseline, with --fail-on narrowed to crashes only: no regression.
    done = matrix(
        "report", *SELECTION, *folder(tmp, "merged"), "--baseline", str(path), "--fail-on", "crash"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # And against itself: nothing changed.
    path.write_text(json.dumps(merged), encoding="utf-8")
    assert (
        matrix("report", *SELECTION, *folder(tmp, "merged"), "--baseline", str(path)).returncode
        == 0
    )


def test_history_gets_one_line_per_run(runs: tuple[Path, dict[str, Any], dict[str, Any]]) -> None:
    tmp, _, _ = runs
    lines = (tmp / "single-reports" / "history.jsonl").read_text(encoding="utf-8").splitlines()
    entry = json.loads(lines[-1])
    assert entry["envs"][K3]["tensorflow"].startswith("2.21")
    assert sum(entry["summary"].values()) == entry["cells"]
