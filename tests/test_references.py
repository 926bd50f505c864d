"""User models come in by copy, never followed; a reference from the user's
own expected outputs needs no env; a refused folder is never read."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from matrix.paths import Layout
from matrix.results import store
from matrix.run import references
from matrix.run.ready import ReadyEnv
from matrix.safety import inspections
from matrix.selection.plan import PlannedEnv
from matrix.selection.usermodels import UserModel
from matrix.settings import Settings
from tests.conftest import plan_for


def _no_env(planned: PlannedEnv) -> ReadyEnv | None:
    raise AssertionError(f"no env should be readied, but {planned.id} was asked for")


def _saved_model_folder(root: Path) -> Path:
    folder = root / "exported"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"")
    return folder


def test_a_folder_with_a_symlink_is_refused_before_a_byte_is_copied(
    layout: Layout, tmp_path: Path
) -> None:
    folder = _saved_model_folder(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("token", encoding="utf-8")
    (folder / "variables" / "leak").symlink_to(secret)
    user = UserModel("mine", folder, "savedmodel")
    plan = replace(plan_for(Settings(tf=("2.21",), models=("mlp",))), user_models=(user,))
    references.prepare(plan, Settings(), layout, _no_env)
    (entry,) = store.read_manifest(layout, user.producer).artifacts.values()
    assert entry.reference_error and "refused before copying" in entry.reference_error
    assert "link" in entry.reference_error
    assert not (layout.artifacts(user.producer) / entry.path).exists()
    inspection = inspections.read(layout, store.inspection_key(entry))
    assert inspection is not None and inspection.findings


def test_expected_outputs_make_the_reference_without_any_env(
    layout: Layout, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The copy is inspected (by a worker, as every artifact is); this test is
    # about the reference, so the inspection is taken as clean.
    monkeypatch.setattr(references.inspections, "ensure", lambda layout, items: {})
    model = tmp_path / "model.h5"
    model.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    np.save(tmp_path / "x.npy", np.ones((2, 3), np.float32))
    np.save(tmp_path / "y.npy", np.zeros((2, 1), np.float32))
    user = UserModel("mine", model, "h5", inputs=tmp_path / "x.npy", expected=tmp_path / "y.npy")
    plan = replace(plan_for(Settings(tf=("2.21",), models=("mlp",))), user_models=(user,))
    references.prepare(plan, Settings(), layout, _no_env)
    (entry,) = store.read_manifest(layout, user.producer).artifacts.values()
    assert entry.reference_env == "the user's expected outputs"
    assert entry.reference_sha256 and entry.sha256
    root = layout.artifacts(user.producer)
    assert store.verify_entry(root, entry)
    with np.load(root / entry.reference) as data:
        assert sorted(data.files) == ["input_0", "output_0"]
    assert model.read_bytes().startswith(b"\x89HDF")  # the user's file, untouched
    # A second run with nothing changed keeps the entry as it is.
    references.prepare(plan, Settings(), layout, _no_env)
    assert store.read_manifest(layout, user.producer).artifacts[entry.path] == entry
