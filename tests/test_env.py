from __future__ import annotations

import pytest

from matrix.selection.env import Env


def test_id_round_trips_through_parse() -> None:
    env = Env("2.18", "keras3", "3.11", "cpu", keras="3.6")
    assert env.id == "tf2.18-keras3-py3.11-cpu-k3.6"
    assert Env.parse(env.id) == env


def test_tf_keras_env_installs_tf_keras_and_sets_legacy_switch() -> None:
    env = Env.parse("tf2.18-tf-keras-py3.11-cpu")
    assert "tf-keras==2.18.*" in env.requirements()
    assert env.environment()["TF_USE_LEGACY_KERAS"] == "1"


def test_old_tf_pins_numpy_1() -> None:
    assert "numpy<2" in Env.parse("tf2.15-keras2-py3.11-cpu").requirements()
    assert "numpy<2" not in Env.parse("tf2.21-keras3-py3.11-cpu").requirements()


@pytest.mark.parametrize(
    ("env_id", "message"),
    [
        ("tf2.99-keras3-py3.11-cpu", "Unknown release '2.99'"),
        ("tf2.15-keras3-py3.11-cpu", "has no 'keras3' flavour"),
        ("tf2.21-keras3-py3.8-cpu", "has wheels for Python 3.10"),
        ("tf2.15-keras2-py3.11-cpu-k3.6", "needs the keras3 flavour"),
        ("mlp", "Invalid env id"),
    ],
)
def test_bad_ids_say_what_is_wrong(env_id: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Env.parse(env_id)
