"""The probes run inside every env: Python 3.8 syntax, stdlib + numpy + TF only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Any

import pytest

from matrix import axes
from matrix.paths import PROBES_DIR

PROBES = sorted(PROBES_DIR.glob("*.py"))
SIBLINGS = {p.stem for p in PROBES}
# The runtimes under test: a converter env's converter, an ONNX runtime.
RUNTIMES = {"tf2onnx", "tensorflowjs", "onnxruntime"}
ALLOWED = (
    set(sys.stdlib_module_names)
    | {"numpy", "tensorflow", "keras", "tf_keras"}
    | RUNTIMES
    | SIBLINGS
)


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


def _table_keys(module: str, name: str) -> tuple[str, ...]:
    """The keys of a module-level dict literal `name = {...}` in a probe."""
    tree = ast.parse((PROBES_DIR / f"{module}.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == name:
            assert isinstance(node.value, ast.Dict), f"{module}.{name} is not a dict literal"
            return tuple(ast.literal_eval(k) for k in node.value.keys if k is not None)
    raise AssertionError(f"probes/{module}.py defines no {name}")


def test_loader_and_format_names_match_the_host_table() -> None:
    assert set(_table_keys("loading", "LOADERS")) == set(axes.LOADERS)
    assert set(_table_keys("produce", "SAVERS")) == set(axes.FORMATS)


def _task_reads(module: str) -> set[str]:
    """Every key a probe reads from a task: task["x"] and task.get("x")."""
    tree = ast.parse((PROBES_DIR / f"{module}.py").read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == "task"
            and isinstance(node.slice, ast.Constant)
        ):
            found.add(node.slice.value)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "task"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(node.args[0].value)
    return found


def test_every_task_key_a_probe_reads_is_a_field_the_host_writes() -> None:
    """A renamed task field would reach the probe as a KeyError on every cell
    (or, through .get, as a silent None): the names must agree."""
    from dataclasses import fields

    from matrix.run.tasks import ConsumeTask, ProduceTask, ReferenceTask

    def names(kind: type) -> set[str]:
        return {f.name for f in fields(kind)}

    # compile=False is the one key the consume probe adds to its own copy.
    consume = names(ConsumeTask) | {"compile"}
    loading = consume | names(ReferenceTask)
    assert _task_reads("produce") <= names(ProduceTask), _task_reads("produce") - names(ProduceTask)
    assert _task_reads("consume") <= consume, _task_reads("consume") - consume
    assert _task_reads("reference") <= names(ReferenceTask), _task_reads("reference") - names(
        ReferenceTask
    )
    assert _task_reads("loading") <= loading, _task_reads("loading") - loading
    # And the check can see something: each probe reads at least a few keys.
    assert all(len(_task_reads(m)) >= 3 for m in ("produce", "consume", "reference", "loading"))


def test_a_tflite_file_with_a_fixed_batch_runs_one_batch_at_a_time() -> None:
    """TF 2.4 and older converters declare a batch of 1 and bake it into the
    graph: the loader cuts the reference batch into the file's own size, as
    a device runs it; a dynamic batch (-1) goes in whole."""
    sys.path.insert(0, str(PROBES_DIR))
    try:
        import loading  # a probe module: importable from its own folder only
    finally:
        sys.path.remove(str(PROBES_DIR))
    np = pytest.importorskip("numpy")

    class Fake:
        def __init__(self, signature: list[int]) -> None:
            self.signature = signature

        def get_input_details(self) -> list[dict[str, Any]]:
            return [{"shape": np.array([1, 3]), "shape_signature": np.array(self.signature)}]

    seen: list[int] = []

    def one_example_only(inputs: list[Any]) -> list[Any]:
        seen.append(len(inputs[0]))
        return [np.asarray(inputs[0]) * 2]

    x = np.arange(24, dtype="float32").reshape(8, 3)
    fixed = loading.in_declared_batches(one_example_only, loading.declared_batch(Fake([1, 3])))
    (out,) = fixed([x])
    assert seen == [1] * 8 and np.array_equal(out, x * 2)
    seen.clear()
    dynamic = loading.in_declared_batches(one_example_only, loading.declared_batch(Fake([-1, 3])))
    dynamic([x])
    assert seen == [8]
