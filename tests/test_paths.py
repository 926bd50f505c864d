"""The layout: every file a run writes, named in one place."""

from __future__ import annotations

from pathlib import Path

from matrix import axes, paths
from matrix.paths import Layout


def test_folders_are_absolute_and_user_models_have_their_own(tmp_path: Path) -> None:
    layout = Layout(Path("out"), Path("envs"))
    assert layout.output.is_absolute() and layout.envdir.is_absolute()
    assert layout.artifacts("tf2.15-keras2-py3.11-cpu").parent.name == "artifacts"
    user = paths.user_producer("ranker")
    assert paths.is_user_producer(user) and not paths.is_user_producer("tf2.15-keras2-py3.11-cpu")
    assert layout.artifacts(user) == layout.output / "user" / "ranker"


def test_messages_are_made_portable(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "o", tmp_path / "e")
    text = f"no file at {layout.output}/artifacts/x in {layout.envdir}/venv"
    assert layout.portable(text) == "no file at <output>/artifacts/x in <envdir>/venv"


def test_artifact_names_follow_the_format_and_the_producers_suffix() -> None:
    layout = Layout(Path("o"), Path("e"))
    assert layout.artifact_name("mlp", "float32", "weights") == "mlp-float32.weights.h5"
    assert layout.artifact_name("mlp", "float32", "weights", "-weights.h5") == (
        "mlp-float32-weights.h5"
    )
    assert set(paths.FORMAT_SUFFIX) == set(axes.FORMATS)


def test_probes_are_found_in_the_checkout_or_the_wheel() -> None:
    assert paths.probe_script("consume").is_file()
