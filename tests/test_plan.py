from __future__ import annotations

from pathlib import Path

import pytest

from matrix.config import ConfigError, Settings
from tests.conftest import ALL_PYTHONS, plan_for


def test_default_preset_is_the_seven_env_matrix_on_the_host_python() -> None:
    plan = plan_for(Settings())
    assert plan.env_ids == [
        "tf2.12-keras2-py3.11-cpu",
        "tf2.15-keras2-py3.11-cpu",
        "tf2.16-keras3-py3.11-cpu",
        "tf2.18-keras3-py3.11-cpu",
        "tf2.18-tf-keras-py3.11-cpu",
        "tf2.20-keras3-py3.11-cpu",
        "tf2.21-keras3-py3.11-cpu",
    ]
    assert all(p.unavailable is None for p in plan.envs)


def test_tf_selection_keeps_preset_envs_and_adds_default_flavour() -> None:
    plan = plan_for(Settings(tf=("2.18", "2.13")))
    assert plan.env_ids == [
        "tf2.13-keras2-py3.11-cpu",
        "tf2.18-keras3-py3.11-cpu",
        "tf2.18-tf-keras-py3.11-cpu",
    ]


def test_python_falls_back_to_newest_installed_with_wheels() -> None:
    pythons = {v: p for v, p in ALL_PYTHONS.items() if v in ("3.8", "3.9", "3.11")}
    plan = plan_for(Settings(tf=("2.7",)), pythons)
    assert plan.env_ids == ["tf2.7-keras2-py3.9-cpu"]


def test_missing_interpreter_is_unavailable_with_reason() -> None:
    plan = plan_for(Settings(tf=("2.5",)), {"3.11": Path("/usr/bin/python3.11")})
    (planned,) = plan.envs
    assert planned.id == "tf2.5-keras2-py3.9-cpu"
    assert planned.unavailable is not None
    assert "no Python 3.9 interpreter found" in planned.unavailable
    assert "found: 3.11" in planned.unavailable


def test_gpu_env_without_gpu_is_unavailable_not_an_error() -> None:
    plan = plan_for(Settings(envs=("tf2.18-keras3-py3.11-gpu",)))
    assert plan.envs[0].unavailable == "no GPU visible"
    assert (
        plan_for(Settings(envs=("tf2.18-keras3-py3.11-gpu",)), gpu=True).envs[0].unavailable is None
    )


def test_env_globs_match_the_table() -> None:
    plan = plan_for(Settings(envs=("tf2.1[67]-*-cpu",)))
    assert plan.env_ids == [
        "tf2.16-keras3-py3.11-cpu",
        "tf2.16-tf-keras-py3.11-cpu",
        "tf2.17-keras3-py3.11-cpu",
        "tf2.17-tf-keras-py3.11-cpu",
    ]


def test_glob_matching_nothing_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="matches no env"):
        plan_for(Settings(envs=("tf3.*",)))


def test_cells_pair_every_format_with_its_loaders_only() -> None:
    plan = plan_for(Settings(tf=("2.15", "2.21"), models=("mlp",)))
    cells = list(plan.cells())
    # 2 producers x 2 policies x (h5:1 + keras:1 + savedmodel:3 loaders) x 2 consumers
    assert len(cells) == 2 * 2 * 5 * 2
    assert {(c.format, c.loader) for c in cells} == {
        ("h5", "keras"),
        ("keras", "keras"),
        ("savedmodel", "keras"),
        ("savedmodel", "saved-model"),
        ("savedmodel", "tfsm-layer"),
    }


def test_plan_round_trips_through_json() -> None:
    from matrix.plan import Plan

    plan = plan_for(Settings(tf=("2.5", "2.21")), {"3.11": Path("/usr/bin/python3.11")})
    assert Plan.from_dict(plan.to_dict()) == plan
