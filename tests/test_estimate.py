"""`plan` says what a run will cost: envs to build, disk and time."""

from __future__ import annotations

from pathlib import Path

import pytest

from matrix import axes
from matrix.envs.provision import VenvRecord
from matrix.files import JsonObject
from matrix.paths import Layout
from matrix.run import estimate
from matrix.settings import Settings
from tests.conftest import plan_for, set_state

# An env that will be reused as it stands, keyed by its fingerprint (FP).
REUSED = VenvRecord({}, (), "uv", True, None)
FP = REUSED.fingerprint


def _result(key: str, consumer: str) -> JsonObject:
    """A stored result line of one measured cell."""
    return {
        "key": key, "producer": consumer, "consumer": consumer, "model": "mlp",
        "format": "h5", "loader": "keras", "artifact_sha256": "ab", "status": "load-error",
    }  # fmt: skip


def test_an_empty_envdir_builds_every_venv_once(layout: Layout) -> None:
    # tf2.21 keras3 and tf-keras are two envs, two venvs; onednn-off variants share.
    plan = plan_for(Settings(tf=("2.15", "2.21"), formats=("h5", "keras"), onednn_off=True))
    found = estimate.estimate(plan, layout, jobs=2)
    assert found.envs == 6
    assert found.to_build == 3
    assert found.disk_gb > 3 * axes.RELEASES["2.15"].env_disk_gb("keras2")
    assert found.seconds_cold > found.seconds > 0


def test_time_scales_with_cells_and_jobs(layout: Layout) -> None:
    small = estimate.estimate(plan_for(Settings(tf=("2.21",), models=("mlp",))), layout, 1)
    large = estimate.estimate(plan_for(Settings(tf=("2.21",))), layout, 1)
    assert large.cells > 10 * small.cells
    assert large.seconds > small.seconds
    two = estimate.estimate(plan_for(Settings(tf=("2.15", "2.21"))), layout, 2)
    one = estimate.estimate(plan_for(Settings(tf=("2.15", "2.21"))), layout, 1)
    assert two.seconds < one.seconds


def test_unavailable_envs_cost_nothing(tmp_path: Path) -> None:
    plan = plan_for(Settings(tf=("2.5",)), {"3.11": Path("/usr/bin/python3.11")})
    found = estimate.estimate(plan, Layout(tmp_path / "o", tmp_path / "e"), 2)
    assert (found.envs, found.to_build, found.disk_gb) == (0, 0, 0.0)
    assert "0 to build" in found.lines()[0]


def test_the_nightly_estimate_uses_what_the_output_folder_measured(layout: Layout) -> None:
    from matrix.cli import github_matrix
    from matrix.results import store
    from matrix.results.records import PhaseRecord

    plan = plan_for(Settings(envs=("tf2.15-keras2-*", "tf2.21-keras3-*"), devices=("cpu", "gpu")))
    entries = github_matrix(plan, "ubuntu-latest", "gpu-box")
    assert {e["env"] for e in entries} == set(plan.env_ids)
    default = estimate.nightly(plan, layout, entries, gpu_runners=1)
    assert {j.name for j in default.jobs} == {"produce", "consume"}
    assert len(default.jobs) == 2 * len(entries)
    # A consumer measured at 1 s per cell takes longer than the default rate.
    slow = "tf2.21-keras3-py3.11-cpu"
    state = set_state(layout, slow)
    store.write_env_state(layout, state.with_phase("consume", PhaseRecord(tasks=10, seconds=10.0)))
    measured = estimate.nightly(plan, layout, entries, gpu_runners=1)
    time_of = {(j.name, j.env): j.seconds for j in measured.jobs}
    before = {(j.name, j.env): j.seconds for j in default.jobs}
    assert time_of[("consume", slow)] > before[("consume", slow)]
    assert time_of[("produce", slow)] == before[("produce", slow)]
    # Two GPU jobs per stage on one runner run one after the other.
    gpu = [j for j in measured.jobs if j.device == "gpu"]
    assert measured.wall_seconds("gpu") >= sum(j.seconds for j in gpu) - 1e-6
    text = "\n".join(measured.lines())
    assert "CPU half: 2 produce + 2 consume jobs" in text
    assert "runner minutes" in text


def test_gpu_envs_that_can_never_run_get_no_nightly_job() -> None:
    from matrix.cli import github_matrix

    plan = plan_for(Settings(tf=("2.12", "2.15"), devices=("cpu", "gpu")))
    entries = github_matrix(plan, "ubuntu-latest", "gpu-box")
    # TF 2.12 on GPU needs a system CUDA install: no job; TF 2.15 on GPU: a job.
    assert "tf2.12-keras2-py3.11-gpu" not in {e["env"] for e in entries}
    assert "tf2.15-keras2-py3.11-gpu" in {e["env"] for e in entries}


def test_old_era_envs_only_produce_and_runtimes_only_consume(layout: Layout) -> None:
    """The nightly shards each stage over the envs with work in it: a TF 1.15
    env has no consume job (it loads nothing), a LiteRT runtime no produce
    job (it builds nothing), and the runtime's cells are priced."""
    from matrix.cli import github_matrix

    plan = plan_for(Settings(tf=("1.15", "2.21", "litert2.3")))
    produce = {e["env"] for e in github_matrix(plan, "ubuntu-latest", None, "produce")}
    consume = {e["env"] for e in github_matrix(plan, "ubuntu-latest", None, "consume")}
    assert "tf1.15-keras2-py3.7-cpu" in produce and "tf1.15-keras2-py3.7-cpu" not in consume
    assert "litert2.3-interpreter-py3.11-cpu" in consume
    assert "litert2.3-interpreter-py3.11-cpu" not in produce
    found = estimate.nightly(plan, layout, github_matrix(plan, "ubuntu-latest", None))
    assert {(j.name, j.env) for j in found.jobs} == (
        {("produce", env) for env in produce} | {("consume", env) for env in consume}
    )
    runtime = next(j for j in found.jobs if j.env.startswith("litert"))
    assert runtime.seconds > estimate.JOB_SETUP_SECONDS + estimate.BUILD_SECONDS_COLD


def test_a_rerun_is_priced_for_what_the_output_folder_lacks(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plan` counts what is stored for this probe and these envs (the keys
    produce and consume check) and prices only the rest."""
    from matrix import files
    from matrix.results import store
    from matrix.results.records import ArtifactEntry, Manifest

    plan = plan_for(
        Settings(
            envs=("tf2.21-keras3-py3.11-cpu",),
            models=("mlp",),
            policies=("float32",),
            formats=("h5",),
        )
    )
    (env,) = plan.envs
    monkeypatch.setattr(estimate, "reused_record", lambda planned, layout: REUSED)
    empty = estimate.estimate(plan, layout, 1)
    assert (empty.artifacts_done, empty.cells_done) == (0, 0)
    assert (empty.artifacts, empty.cells) == (1, 1)

    entry = ArtifactEntry("mlp", "float32", "h5", "mlp-float32.h5", "saved", "ref.npz", sha256="ab")
    probe = store.probe_version()
    store.write_manifest(
        layout, Manifest(env.id, {entry.path: entry}, probe=probe, env_fingerprint=FP)
    )
    made = estimate.estimate(plan, layout, 1)
    assert (made.artifacts_done, made.cells_done) == (1, 0)
    assert made.seconds < empty.seconds
    key = store.cell_key("ab", FP, probe, "keras")
    files.append_line(layout.results(env.id), _result(key, env.id))
    done = estimate.estimate(plan, layout, 1)
    assert (done.artifacts_done, done.cells_done) == (1, 1)
    assert done.seconds < made.seconds
    assert "1 of 1 artifacts and 1 of 1 cells are reused" in "\n".join(done.lines())
    # Another probe's manifest is redone, and so are its cells.
    store.write_manifest(
        layout, Manifest(env.id, {entry.path: entry}, probe="older", env_fingerprint=FP)
    )
    assert estimate.estimate(plan, layout, 1).cells_done == 0


def test_cells_of_a_loader_the_consumer_lacks_cost_nothing(
    layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TFSMLayer exists only in Keras 3: a Keras 2 env's tfsm-layer cell is
    decided in the report and never measured, so a rerun never owes it."""
    from matrix.results import store
    from matrix.results.records import ArtifactEntry, Manifest

    settings = Settings(
        tf=("2.15",), models=("mlp",), policies=("float32",), formats=("savedmodel",),
        loaders=("keras", "tfsm-layer"),
    )  # fmt: skip
    plan = plan_for(settings)
    (env,) = plan.envs
    monkeypatch.setattr(estimate, "reused_record", lambda planned, layout: REUSED)
    entry = ArtifactEntry(
        "mlp", "float32", "savedmodel", "mlp-float32.savedmodel", "saved", "ref.npz", sha256="ab"
    )
    store.write_manifest(
        layout,
        Manifest(env.id, {entry.path: entry}, probe=store.probe_version(), env_fingerprint=FP),
    )
    found = estimate.estimate(plan, layout, 1)
    assert found.cells == 2
    assert found.cells_done == 1  # the tfsm-layer cell; the keras one is still to measure
