"""The probes run inside every env: Python 3.8 syntax, stdlib + numpy + TF only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from matrix.paths import PROBES_DIR
from matrix.selection import axes

PROBES = sorted(PROBES_DIR.glob("*.py"))
SIBLINGS = {p.stem for p in PROBES}
ALLOWED = set(sys.stdlib_module_names) | {"numpy", "tensorflow", "keras", "tf_keras"} | SIBLINGS


def test_there_are_probes() -> None:
    assert {p.name for p in PROBES} >= {
        "_probe.py",
        "zoo.py",
        "loading.py",
        "produce.py",
        "consume.py",
        "reference.py",
    }


@pytest.mark.parametrize("path", PROBES, ids=lambda p: p.name)
def test_probe_parses_as_python_38(path: Path) -> None:
    ast.parse(path.read_text(encoding="utf-8"), filename=str(path), feature_version=(3, 8))


@pytest.mark.parametrize("path", PROBES, ids=lambda p: p.name)
def test_probe_imports_only_stdlib_numpy_and_tensorflow(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            assert name.split(".")[0] in ALLOWED, f"{path.name} imports {name}"


def test_zoo_names_match_the_host_table() -> None:
    tree = ast.parse((PROBES_DIR / "zoo.py").read_text(encoding="utf-8"))
    zoo = next(
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "ZOO"
    )
    assert isinstance(zoo, ast.Dict)
    assert tuple(ast.literal_eval(k) for k in zoo.keys if k is not None) == axes.MODELS


def test_loader_and_format_names_match_the_host_table() -> None:
    consume = (PROBES_DIR / "loading.py").read_text(encoding="utf-8")
    produce = (PROBES_DIR / "produce.py").read_text(encoding="utf-8")
    for loader in axes.LOADERS:
        assert f'"{loader}":' in consume
    for fmt in axes.FORMATS:
        assert f'"{fmt}":' in produce
