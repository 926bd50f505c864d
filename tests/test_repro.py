"""Reproductions are generated from the probes' own loader table."""

from __future__ import annotations

import ast

import pytest

from matrix import axes
from matrix.repro import bundle, script

PAIRS = [(fmt, loader) for fmt, loaders in axes.FORMAT_LOADERS.items() for loader in loaders]


def replay(fmt: str, loader: str, model: str = "mlp", flavour: str = "keras3") -> script.Replay:
    return script.Replay(
        cell_id=f"p/c/{model}/float32/{fmt}/{loader}",
        flavour=flavour,
        keras_version="3.15.1",
        environment={"TF_USE_LEGACY_KERAS": "1"} if flavour == "tf-keras" else {},
        task={
            "loader": loader,
            "format": fmt,
            "model": model,
            "policy": "float32",
            "path": "artifact",
            "files": {"artifact": "0" * 64},
            "reference": "ref.npz",
            "custom_objects_module": None,
            "safe_mode": True,
            "input_names": None,
            "output_names": None,
            "must_resolve": [],
        },
        policy="float32",
        tolerance=(1e-5, 1e-4),
        recorded="identical",
        recorded_inference=None,
    )


@pytest.mark.parametrize(("fmt", "loader"), PAIRS)
def test_every_loader_and_format_has_a_standalone_script(fmt: str, loader: str) -> None:
    text = script.render(replay(fmt, loader))
    tree = ast.parse(text, feature_version=(3, 8))  # the oldest env Python runs it
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert script._loader_function(loader) in defined
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {
        "os",
        "subprocess",  # TF.js: the loader talks to Node
        "onnxruntime",
        "hashlib",
        "sys",
        "time",
        "numpy",
        "tensorflow",
        "keras",
        "tf_keras",
        "re",
        "importlib",
        "inspect",
        "json",
        "random",
        "platform",
        "resource",
        "traceback",
        "threading",
    }
    assert not imported & set(bundle.SIBLINGS)  # nothing imported from the tool


@pytest.mark.parametrize("model", axes.MODELS)
def test_every_zoo_model_rebuilds_inline(model: str) -> None:
    text = script.render(replay("weights", "keras", model))
    tree = ast.parse(text, feature_version=(3, 8))
    defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    assert f"build_{model}" in defined
    others = {f"build_{m}" for m in axes.MODELS if m != model}
    assert not defined & others  # only the cell's own model is copied


def test_names_two_probe_modules_share_are_kept_apart() -> None:
    found = bundle.bundle(
        [("loading", "load_keras"), ("zoo", "build")], {("zoo", "ZOO"): ["custom"]}
    )
    assert found.name("loading", "custom_objects") == "loading_custom_objects"
    assert found.name("zoo", "custom_objects") == "zoo_custom_objects"
    assert "def zoo_custom_objects(keras):" in found.source
    assert "zoo.custom_objects" not in found.source and "_probe." not in found.source


def test_comments_of_the_probe_survive() -> None:
    text = script.render(replay("savedmodel", "saved-model"))
    assert "tensorflow/tensorflow#34253" in text  # why the loaded object is kept alive
