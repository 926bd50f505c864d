from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def matrix(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "matrix", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_works() -> None:
    done = matrix("--help")
    assert done.returncode == 0
    assert "run" in done.stdout and "report" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tf", "2.99"], "Unknown release '2.99': expected one of 1.15, 2.0"),
        (["--models", "resnet"], "Unknown model 'resnet': expected one of mlp, cnn, lstm, custom"),
        (["--formats", "coreml"], "Unknown format 'coreml'"),
        (["--loaders", "litert"], "Unknown loader 'litert'"),
        (["--envs", "tf9.*"], "matches no env"),
        (["--envs", "tf2.21-keras2-py3.11-cpu"], "has no 'keras2' flavour"),
        (["--jobs", "lots"], "Invalid 'jobs'"),
    ],
)
def test_bad_selection_exits_2_and_runs_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out"
    done = matrix("run", *args, "--output", str(out), "--reports", str(tmp_path / "r"))
    assert done.returncode == 2
    assert message in done.stderr
    assert not out.exists()


def test_malformed_config_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.compat-matrix]\nmodels = ["mlp", "gpt"]\n', encoding="utf-8")
    done = matrix("run", "--config", str(config), "--output", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "Unknown model 'gpt'" in done.stderr


def test_plan_json_lists_envs_with_tags() -> None:
    done = matrix("plan", "--tf", "2.15", "2.21", "--json")
    assert done.returncode == 0, done.stderr
    envs = json.loads(done.stdout)
    assert [e["id"] for e in envs] == [
        "tf2.15-keras2-py3.11-cpu",
        "tf2.15-keras2-py3.11-cpu-to-tfjs",  # the default's converters of these releases
        "tf2.21-keras3-py3.11-cpu",
        "tf2.21-keras3-py3.11-cpu-to-onnx",
        "tf2.21-tf-keras-py3.11-cpu",
    ]
    assert "tf2.21" in envs[2]["tags"] and "keras3" in envs[2]["tags"]


def test_report_with_nothing_to_report_fails_and_writes_nothing(tmp_path: Path) -> None:
    done = matrix(
        "report",
        "--tf",
        "2.15",
        "--models",
        "mlp",
        "--output",
        str(tmp_path / "o"),
        "--reports",
        str(tmp_path / "r"),
    )
    assert done.returncode == 1
    assert "nothing to report" in done.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--models", "mpl"], "Did you mean 'mlp'?"),
        (["--tf", "2.15.1"], "Did you mean '2.15'?"),
        (["--envs", "tf2.15-keras2-py3.11-cpu", "--tf", "2.21"], "--envs and --tf both select"),
        (["--config", "nowhere.toml"], "does not exist"),
        (["--tf", "2.15", "--pin", "tf9.*=six"], "matches no planned env"),
        (["--keras", "3.99"], "Unknown Keras 3 minor '3.99': expected one of 3.0, 3.1"),
        (["--keras", "3.15", "--backends", "tpu"], "Unknown backend 'tpu': expected one of"),
        (["--envs", "tf2.18-keras3-py3.11-cpu-k9.9"], "Keras 3 minor"),
        (["--formats", "h5", "--loaders", "saved-model"], "no cells"),
        (["--loaders", "tfsm"], "Did you mean 'tfsm-layer'?"),
        (["--estimate"], "give it with --github-matrix"),
    ],
)
def test_no_ops_and_conflicts_are_errors_that_say_what_to_do(args: list[str], message: str) -> None:
    done = matrix("plan", *args)
    assert done.returncode == 2, done.stdout
    assert message in done.stderr


def test_env_globs_stay_on_the_selected_devices() -> None:
    done = matrix("plan", "--envs", "tf2.21-keras3-*", "--json")
    assert done.returncode == 0, done.stderr
    assert {e["device"] for e in json.loads(done.stdout)} == {"cpu"}


def test_control_characters_never_reach_the_terminal(tmp_path: Path) -> None:
    name = "evil\x1b[31mred.h5"
    done = matrix("plan", "--user-model", str(tmp_path / name))
    assert done.returncode == 2
    assert "\x1b" not in done.stderr and "\\x1b" in done.stderr


def test_second_run_on_the_same_output_is_refused(tmp_path: Path) -> None:
    from matrix import files

    out = tmp_path / "out"
    with files.exclusive_lock(out / ".lock", "x"):
        done = matrix(
            "run",
            "--tf",
            "2.15",
            "--models",
            "mlp",
            "--output",
            str(out),
            "--reports",
            str(tmp_path / "r"),
        )
    assert done.returncode == 2
    assert "in use by another run" in done.stderr


def test_github_matrix_lists_runnable_envs_with_runner_labels() -> None:
    done = matrix(
        "plan",
        "--envs",
        "tf2.21-keras3-*",
        "--devices",
        "cpu",
        "gpu",
        "--onednn-off",
        "--github-matrix",
    )
    assert done.returncode == 0, done.stderr
    jobs = json.loads(done.stdout)  # no GPU runner: no GPU job
    assert [j["env"] for j in jobs] == [
        "tf2.21-keras3-py3.11-cpu",
        "tf2.21-keras3-py3.11-cpu-onednn-off",
    ]
    # A variant only consumes: its artifacts would be its base's.
    stages = {
        stage: [j["env"] for j in json.loads(matrix(*args, stage).stdout)]
        for stage in ("produce", "consume")
        for args in [
            (
                "plan",
                "--envs",
                "tf2.21-keras3-*",
                "--devices",
                "cpu",
                "--onednn-off",
                "--github-matrix",
            )
        ]
    }
    assert stages == {
        "produce": ["tf2.21-keras3-py3.11-cpu"],
        "consume": ["tf2.21-keras3-py3.11-cpu", "tf2.21-keras3-py3.11-cpu-onednn-off"],
    }
    done = matrix(
        "plan",
        "--envs",
        "tf2.21-keras3-*",
        "--devices",
        "cpu",
        "gpu",
        "--github-matrix",
        "--gpu-runner",
        "gpu-a100",
    )
    jobs = {j["env"]: j["runner"] for j in json.loads(done.stdout)}
    assert jobs == {
        "tf2.21-keras3-py3.11-cpu": "ubuntu-latest",
        "tf2.21-keras3-py3.11-gpu": "gpu-a100",
    }


def test_upgrade_question_selects_every_flavour_of_both_versions() -> None:
    done = matrix("plan", "--from", "2.15", "--to", "2.21", "--formats", "h5", "keras", "--json")
    assert done.returncode == 0, done.stderr
    assert [e["id"].split("-py")[0] for e in json.loads(done.stdout)] == [
        "tf2.15-keras2",
        "tf2.21-keras3",
        "tf2.21-tf-keras",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2.15"], "--from and --to go together"),
        (["--from", "2.15", "--to", "3.0"], "Unknown TensorFlow version '3.0' for --from/--to"),
        (["--baseline", "/nonexistent.json"], "Invalid --baseline"),
        (["--fail-on", "oops"], "Unknown --fail-on status 'oops'"),
    ],
)
def test_bad_reporting_options_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    done = matrix(
        "report", *args, "--output", str(tmp_path / "o"), "--reports", str(tmp_path / "r")
    )
    assert done.returncode == 2
    assert message in done.stderr
