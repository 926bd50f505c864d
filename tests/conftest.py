"""Shared fixtures: settings, layouts and plans built from real files."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from matrix import axes, discovery
from matrix.paths import Layout
from matrix.results import store
from matrix.results.records import EnvState, Versions
from matrix.selection.env import Env
from matrix.selection.plan import Plan, make_plan
from matrix.settings import Settings

ROOT = Path(__file__).resolve().parent.parent

# The tests plan from the release table alone: what the package index has
# today must not change what they expect (tests/test_discovery.py serves an
# index of its own). Subprocesses inherit it.
os.environ.setdefault("COMPAT_MATRIX_RELEASES", "table")
_TABLE = dict(axes.RELEASES)  # as the package ships it

# A machine with every Python the TF table could want, as plain paths.
ALL_PYTHONS = {f"3.{n}": Path(f"/opt/python3.{n}/bin/python3.{n}") for n in range(6, 14)}


@pytest.fixture(autouse=True)
def _release_table() -> Iterator[None]:
    """Each test starts from the release table alone: reading a published
    report adds the untabled releases it measured (a release candidate) to
    this process's table, and a module's fixture may have read one before
    this test began; none of that may leak into this test's plan."""
    _restore_table()
    yield
    _restore_table()


def _restore_table() -> None:
    axes.RELEASES.clear()
    axes.adopt(_TABLE)
    discovery._ADOPTED.clear()


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "out", tmp_path / "envs")


def plan_for(settings: Settings, pythons: dict[str, Path] | None = None, gpu: bool = False) -> Plan:
    return make_plan(
        settings,
        ALL_PYTHONS if pythons is None else pythons,
        gpu_visible=gpu,
        host_python="3.11",
    )


@pytest.fixture
def host_python() -> Path:
    return Path(sys.executable)


SCHEMA = ROOT / "reports" / "compat.schema.json"


def assert_valid_report(path: Path) -> None:
    """A written compat.json matches reports/compat.schema.json."""
    import json

    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), schema)


def set_state(layout: Layout, env_id: str, **changes: object) -> EnvState:
    """Write an env's state with these fields changed, as a run would leave it
    (`versions` as the probe's hello: a plain dict)."""
    env = Env.parse(env_id)
    versions = changes.pop("versions", None)
    state = replace(store.read_env_state(layout, env), **changes)  # type: ignore[arg-type]
    if versions is not None:
        state = replace(state, versions=Versions.from_dict(versions))
    store.write_env_state(layout, state)
    return state
