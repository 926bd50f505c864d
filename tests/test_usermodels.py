from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matrix.selection.usermodels import check_unique, parse, read_arrays
from matrix.settings import ConfigError


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "model.keras").write_bytes(b"zip")
    (tmp_path / "old.h5").write_bytes(b"hdf5")
    saved = tmp_path / "served"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"pb")
    np.save(tmp_path / "x.npy", np.ones((2, 3), np.float32))
    np.savez(tmp_path / "xs.npz", input_1=np.zeros(2), input_0=np.ones(2))
    np.savez(tmp_path / "y.npz", output_0=np.ones(2))
    (tmp_path / "layers.py").write_text("CUSTOM_OBJECTS = {}\n", encoding="utf-8")
    return tmp_path


def test_formats_are_detected_and_names_default_to_the_file(files: Path) -> None:
    models = parse([{"path": "model.keras"}, {"path": "old.h5"}, {"path": "served"}], files)
    assert [(m.name, m.format) for m in models] == [
        ("model", "keras"),
        ("old", "h5"),
        ("served", "savedmodel"),
    ]
    assert models[0].producer == "user:model"


def test_all_options_resolve_relative_to_the_config(files: Path) -> None:
    (model,) = parse(
        [
            {
                "path": "model.keras",
                "inputs": "x.npy",
                "expected": "y.npz",
                "custom-objects": "layers.py",
                "baseline": "tf2.15-keras2-py3.11-cpu",
                "name": "mine",
            }
        ],
        files,
    )
    assert model.inputs == files / "x.npy"
    assert model.custom_objects == files / "layers.py"
    assert model.baseline == "tf2.15-keras2-py3.11-cpu"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"path": "missing.keras"}, "does not exist"),
        ({"path": "x.npy"}, "expected a .h5, .hdf5, .keras, .tflite or .onnx file"),
        ({"path": "model.keras", "inputs": "layers.py"}, "expected a .npy or .npz file"),
        ({"path": "model.keras", "expected": "y.npz"}, "need the inputs"),
        ({"path": "model.keras", "custom-objects": "x.npy"}, "expected a .py file"),
        (
            {"path": "model.keras", "baseline": "tf9.9-keras3-py3.11-cpu"},
            "Invalid user-model baseline",
        ),
        ({"path": "model.keras", "name": "a b"}, "Invalid user model name"),
        ({"path": "model.keras", "colour": "red"}, "Unknown user-model setting 'colour'"),
        ({"name": "x"}, "expected a table with at least path"),
    ],
)
def test_bad_user_models_fail_before_anything_runs(
    files: Path, entry: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        parse([entry], files)


def test_folder_without_saved_model_is_refused(files: Path) -> None:
    (files / "empty").mkdir()
    with pytest.raises(ConfigError, match="must be a SavedModel"):
        parse([{"path": "empty"}], files)


def test_malformed_inputs_file_is_a_clear_error(files: Path) -> None:
    (files / "bad.npz").write_bytes(b"not a zip at all")
    with pytest.raises(ConfigError, match=r"Invalid inputs .*bad\.npz"):
        parse([{"path": "model.keras", "inputs": "bad.npz"}], files)


def test_pickled_inputs_are_refused(files: Path) -> None:
    np.save(files / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ConfigError, match="without pickled objects"):
        parse([{"path": "model.keras", "inputs": "objects.npy"}], files)


def test_npz_arrays_come_in_numbered_order(files: Path) -> None:
    first, second = read_arrays(files / "xs.npz", "inputs")
    assert first.tolist() == [1.0, 1.0] and second.tolist() == [0.0, 0.0]


def test_duplicate_names_are_refused(files: Path) -> None:
    models = parse([{"path": "model.keras"}, {"path": "old.h5", "name": "model"}], files)
    with pytest.raises(ConfigError, match="Two user models are named 'model'"):
        check_unique(models)
