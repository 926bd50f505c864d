"""The nightly workflow, validated offline: schema, then the structure it relies on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "compat-matrix.yml"


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    return data


def test_matches_the_github_workflow_schema() -> None:
    tool = shutil.which("check-jsonschema")
    assert tool, "check-jsonschema is a test dependency"
    done = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_nightly_off_the_hour_and_on_demand(workflow: dict[str, Any]) -> None:
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    (cron,) = [entry["cron"] for entry in triggers["schedule"]]
    assert cron.split()[0] not in ("0", "00")
    assert "workflow_dispatch" in triggers


def test_every_job_has_a_timeout(workflow: dict[str, Any]) -> None:
    for name, job in workflow["jobs"].items():
        assert isinstance(job.get("timeout-minutes"), int), name


def test_the_job_matrix_comes_from_the_tool(workflow: dict[str, Any]) -> None:
    jobs = workflow["jobs"]
    plan_step = " ".join(step.get("run", "") for step in jobs["plan"]["steps"])
    assert "python -m matrix plan" in plan_step and "--github-matrix" in plan_step
    assert "vars.GPU_RUNNER" in plan_step
    assert "--github-matrix $stage" in plan_step and "for stage in produce consume" in plan_step
    for name in ("produce", "consume"):
        assert jobs[name]["strategy"]["matrix"]["include"] == (
            f"${{{{ fromJSON(needs.plan.outputs.{name}) }}}}"
        )
        assert f"needs.plan.outputs.{name} != '[]'" in jobs[name]["if"]
        assert jobs[name]["strategy"]["fail-fast"] is False
        assert jobs[name]["runs-on"] == "${{ matrix.runner }}"
        uploads = [s for s in jobs[name]["steps"] if "upload-artifact" in s.get("uses", "")]
        assert uploads and "${{ matrix.env }}" in uploads[0]["with"]["name"]
        assert uploads[0]["if"] == "always()"


def test_consumers_download_every_producer(workflow: dict[str, Any]) -> None:
    consume = workflow["jobs"]["consume"]
    downloads = [s for s in consume["steps"] if "download-artifact" in s.get("uses", "")]
    (producers,) = [d for d in downloads if d["with"].get("pattern") == "produce-*"]
    assert producers["with"]["merge-multiple"]
    assert "always()" in consume["if"]


def test_every_job_plans_from_the_releases_the_plan_job_found(workflow: dict[str, Any]) -> None:
    """The index is asked once, first; every job reads the same answer."""
    jobs = workflow["jobs"]
    plan_runs = [s.get("run", "") for s in jobs["plan"]["steps"]]
    first = next(i for i, r in enumerate(plan_runs) if "python -m matrix releases" in r)
    assert first < next(i for i, r in enumerate(plan_runs) if "python -m matrix plan" in r)
    assert "--write releases.json" in plan_runs[first]
    assert "--releases releases.json" in workflow["env"]["SELECTION"]
    for name in ("produce", "consume", "report"):
        names = [s["with"].get("name") for s in jobs[name]["steps"]
                 if "download-artifact" in s.get("uses", "")]  # fmt: skip
        assert "releases" in names, name


def test_a_night_restores_the_last_nights_results(workflow: dict[str, Any]) -> None:
    """Each shard caches what it computed, keyed by env and probe digest (a
    probe change starts cold); a restore is by prefix, the newest night's."""
    kept_by = {"produce": "build/matrix/artifacts/", "consume": "build/matrix/results/"}
    for name, kept in kept_by.items():
        (cache,) = [s for s in workflow["jobs"][name]["steps"]
                    if s.get("uses", "").startswith("actions/cache@")]  # fmt: skip
        assert kept in cache["with"]["path"]
        key, prefix = cache["with"]["key"], cache["with"]["restore-keys"]
        assert "${{ matrix.env }}" in key and "hashFiles('probes/**')" in key
        assert key.startswith(prefix) and "github.run_id" in key


def test_report_always_merges_compares_and_publishes(workflow: dict[str, Any]) -> None:
    report = workflow["jobs"]["report"]
    assert report["if"] == "always()"
    commands = " ".join(step.get("run", "") for step in report["steps"])
    assert "python -m matrix merge" in commands
    # The baseline is the last successful run's report artifact (compat.json
    # is too large to commit), used when it exists.
    assert "gh run download" in commands and "--name compat-reports" in commands
    # The baseline is found plain or gzipped (publish packs a large one):
    # the step's own shell picks it, run here on each kind of artifact.
    merge = next(s["run"] for s in report["steps"] if "matrix merge" in s.get("run", ""))
    pick = merge.split("python -m matrix merge")[0] + 'printf "%s\\n" "${baseline[@]}"'
    for kept, expected in (("compat.json", ["--baseline", "baseline/compat.json"]),
                           ("compat.json.gz", ["--baseline", "baseline/compat.json.gz"]),
                           (None, [""])):  # fmt: skip
        with tempfile.TemporaryDirectory() as folder:
            if kept:
                (Path(folder) / "baseline").mkdir()
                (Path(folder) / "baseline" / kept).write_bytes(b"{}")
            done = subprocess.run(["bash", "-c", pick], cwd=folder, capture_output=True,
                                  text=True, check=True)  # fmt: skip
            assert done.stdout.splitlines() == expected, (kept, done.stdout)
    assert report["permissions"]["actions"] == "read"
    assert '--step-summary "$GITHUB_STEP_SUMMARY"' in commands
    uploads = [s for s in report["steps"] if "upload-artifact" in s.get("uses", "")]
    assert uploads[0]["if"] == "always()" and uploads[0]["with"]["path"] == "reports/"


def test_the_plan_step_prints_a_matrix_github_accepts() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "matrix",
            "plan",
            "--preset",
            "default",
            "--devices",
            "cpu",
            "gpu",
            "--github-matrix",
            "--gpu-runner",
            "",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    jobs = json.loads(done.stdout)
    assert len(done.stdout.strip().splitlines()) == 1  # one line for $GITHUB_OUTPUT
    assert jobs and all(set(job) == {"env", "python", "runner"} for job in jobs)
    # No GPU runner: no GPU jobs (a converter env's id goes on: `-cpu-to-onnx`).
    assert all("-cpu" in job["env"] and "-gpu" not in job["env"] for job in jobs)
