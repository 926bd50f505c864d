from __future__ import annotations

from pathlib import Path

import pytest

from matrix.selection.config import build_settings, read_pyproject
from matrix.settings import ConfigError, Tolerance


def test_cli_beats_file() -> None:
    settings = build_settings({"models": ["cnn"], "jobs": 3}, {"models": ["mlp"], "jobs": None})
    assert settings.models == ("mlp",)
    assert settings.jobs == 3


def test_file_keys_may_use_dashes_and_partial_tables() -> None:
    settings = build_settings(
        {"max-restarts": 2, "timeouts": {"cell": 5}, "tolerances": {"float32": {"atol": 0.5}}}, {}
    )
    assert settings.max_restarts == 2
    assert settings.timeouts.cell == 5.0
    assert settings.timeouts.start == 600.0
    assert settings.tolerances["float32"] == Tolerance(0.5, 1e-4)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"models": ["mlp", "resnet"]}, "Unknown model 'resnet': expected one of mlp, cnn"),
        ({"tf": ["2.44"]}, "Unknown release '2.44': expected one of 1.15, 2.0"),
        ({"formats": ["coreml"]}, "Unknown format 'coreml': expected one of h5, keras, savedmodel"),
        ({"loaders": ["onnx"]}, "Unknown loader 'onnx'"),
        ({"policies": ["float64"]}, "Unknown policy 'float64'"),
        ({"preset": "huge"}, "Unknown preset 'huge': expected one of default, full"),
        ({"jobs": "many"}, "Invalid 'jobs': expected int"),
        ({"jobs": -1}, "expected a number >= 0"),
        ({"models": "mlp cnn"}, "Unknown model 'mlp cnn'"),
        ({"models": [1]}, "expected a list of names"),
        ({"colour": "red"}, "Unknown setting 'colour'"),
        ({"timeouts": {"cell": 0}}, "Invalid timeout 'cell': expected seconds > 0"),
        ({"timeouts": {"lunch": 5}}, "Unknown timeout 'lunch'"),
        ({"tolerances": {"float32": {"atol": "tight"}}}, "tolerances.float32.atol"),
        ({"tolerances": {"int8": {"atol": 1}}}, "Unknown policy or quantised format 'int8'"),
    ],
)
def test_bad_values_name_the_setting_and_the_choices(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        build_settings(values, {})


def test_malformed_pyproject_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text("[tool.compat-matrix\nmodels = [", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected valid TOML"):
        read_pyproject(path)


def test_missing_pyproject_means_defaults(tmp_path: Path) -> None:
    assert read_pyproject(tmp_path / "absent.toml") == {}


def test_jobs_auto_is_bounded_by_cores() -> None:
    import os

    assert 1 <= build_settings({"jobs": "auto"}, {}).effective_jobs() <= (os.cpu_count() or 1)
