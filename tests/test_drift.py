from __future__ import annotations

from matrix.results.drift import config_changes, dtype_changes

SAVED = {
    "inputs": [[None, 8]],
    "layers": [
        {"class": "InputLayer", "policy": "float32"},
        {"class": "Dense", "policy": "mixed_float16", "units": 16, "activation": "relu"},
        {"class": "NaNGuard", "policy": "mixed_float16", "epsilon": 0.001},
    ],
    "weights": ["float32", "float32"],
}


def loaded(**changes: object) -> dict[str, object]:
    layers = [dict(layer) for layer in SAVED["layers"]]  # type: ignore[attr-defined]
    for index, key, value in changes.get("layer", []):  # type: ignore[attr-defined]
        layers[index][key] = value
    return {**SAVED, "layers": layers, **{k: v for k, v in changes.items() if k != "layer"}}


def test_identical_descriptions_have_no_changes() -> None:
    assert config_changes(SAVED, loaded()) == []
    assert dtype_changes(SAVED, loaded()) == []


def test_changed_setting_and_policy_are_named() -> None:
    after = loaded(layer=[(1, "activation", "linear"), (2, "policy", "float32")])
    assert config_changes(SAVED, after) == [
        "layer 1 (Dense): activation 'relu' -> 'linear'",
        "layer 2 (NaNGuard): policy 'mixed_float16' -> 'float32'",
    ]


def test_setting_only_one_side_describes_is_not_a_change() -> None:
    after = loaded()
    del after["layers"][2]["epsilon"]  # type: ignore[index]
    assert config_changes(SAVED, after) == []


def test_class_and_layer_count_changes() -> None:
    after = loaded(
        layers=[*SAVED["layers"][:2], {"class": "Lambda", "policy": "float32"}, {"class": "X"}]
    )  # type: ignore[index]
    assert config_changes(SAVED, after) == ["3 layers -> 4", "layer 2: NaNGuard -> Lambda"]


def test_input_shape_change() -> None:
    assert config_changes(SAVED, loaded(inputs=[[None, 9]])) == [
        "input shapes [[None, 8]] -> [[None, 9]]"
    ]


def test_weight_dtype_drift() -> None:
    assert dtype_changes(SAVED, loaded(weights=["float32", "float16"])) == [
        "weight 1: float32 -> float16"
    ]
    assert dtype_changes(SAVED, loaded(weights=["float32"])) == ["2 weights -> 1"]


def test_nothing_to_compare_is_none() -> None:
    assert config_changes(None, SAVED) is None
    assert dtype_changes(SAVED, None) is None
