from __future__ import annotations

from pathlib import Path

import pytest

from matrix import axes
from matrix.settings import ConfigError, Settings
from tests.conftest import ALL_PYTHONS, plan_for

K2, K3 = "tf2.15-keras2-py3.11-cpu", "tf2.21-keras3-py3.11-cpu"


def test_default_preset_is_seven_tf_envs_and_four_tflite_runtimes_on_the_host_python() -> None:
    plan = plan_for(Settings())
    assert plan.env_ids == [
        "tf2.15-keras2-py3.11-cpu",
        # One converter per kind: TF.js from Keras 2, ONNX from Keras 3.
        "tf2.15-keras2-py3.11-cpu-to-tfjs",
        "tf2.16-keras3-py3.11-cpu",
        "tf2.16-tf-keras-py3.11-cpu",
        "tf2.21-keras3-py3.11-cpu",
        "tf2.21-keras3-py3.11-cpu-to-onnx",
        "tf2.21-tf-keras-py3.11-cpu",
        # The Keras slice: an old, a pinned-in-production and the newest
        # minor on TensorFlow, the newest on JAX and PyTorch too.
        "keras3.3-tensorflow-py3.11-cpu",
        "keras3.12-tensorflow-py3.11-cpu",
        "keras3.15-tensorflow-py3.11-cpu",
        "keras3.15-jax-py3.11-cpu",
        "keras3.15-torch-py3.11-cpu",
        "litert1.0-interpreter-py3.11-cpu",
        "litert2.0-interpreter-py3.11-cpu",
        "litert2.3-interpreter-py3.11-cpu",
        "tflite-runtime2.14-interpreter-py3.11-cpu",
        "onnxruntime1.22-interpreter-py3.11-cpu",
        "onnxruntime1.32-interpreter-py3.11-cpu",
        "tfjs4.10-interpreter-py3.11-cpu",
        "tfjs4.22-interpreter-py3.11-cpu",
    ]
    # The runtimes read their own formats and nothing else, and build no model.
    runtimes = {p.id for p in plan.envs if p.env.release.interpreter_only}
    read = {c.format for c in plan.cells() if c.consumer in runtimes}
    assert read == {*axes.TFLITE_FORMATS, *axes.DEPLOYED_FORMATS}
    assert not any(p.id in runtimes for p in plan.producer_envs)
    # TensorFlow envs read no ONNX or TF.js file; a converter env writes only
    # its formats and loads nothing.
    tf_envs = {p.id for p in plan.envs if p.env.release.family == "tensorflow"}
    assert not {c.format for c in plan.cells() if c.consumer in tf_envs} & {"onnx", "tfjs-layers"}
    onnx = plan.env("tf2.21-keras3-py3.11-cpu-to-onnx")
    assert {a[3] for a in plan.artifacts() if a[0] == onnx.id} == {"onnx"}
    assert onnx.id not in {p.id for p in plan.consumer_envs}
    assert "tf2onnx==1.17.0" in onnx.env.requirements()
    assert all(p.unavailable is None for p in plan.envs)
    # Every Keras 3 era release of the default has its tf-keras env: the
    # escape hatch is measured on every path the default answers.
    keras3 = {p.env.tf for p in plan.envs if p.env.flavour == "keras3"}
    assert keras3 == {p.env.tf for p in plan.envs if p.env.flavour == "tf-keras"}


def test_tf_selection_keeps_preset_envs_and_adds_default_flavour() -> None:
    plan = plan_for(Settings(tf=("2.21", "2.13")))
    assert plan.env_ids == [
        "tf2.13-keras2-py3.11-cpu",
        "tf2.21-keras3-py3.11-cpu",
        "tf2.21-keras3-py3.11-cpu-to-onnx",  # the preset's converter of 2.21
        "tf2.21-tf-keras-py3.11-cpu",
    ]
    # Without a format it writes, a converter env would build for nothing.
    plain = plan_for(Settings(tf=("2.21",), formats=("h5", "keras")))
    assert "tf2.21-keras3-py3.11-cpu-to-onnx" not in plain.env_ids


def test_python_falls_back_to_newest_installed_with_wheels() -> None:
    pythons = {v: p for v, p in ALL_PYTHONS.items() if v in ("3.8", "3.9", "3.11")}
    plan = plan_for(Settings(tf=("2.7",)), pythons)
    assert plan.env_ids == ["tf2.7-keras2-py3.9-cpu"]


def test_missing_interpreter_is_unavailable_with_reason() -> None:
    plan = plan_for(Settings(tf=("2.5",)), {"3.11": Path("/usr/bin/python3.11")})
    (planned,) = plan.envs
    assert planned.id == "tf2.5-keras2-py3.9-cpu"
    assert planned.unavailable is not None
    assert "no Python 3.9 interpreter found" in planned.unavailable
    assert "found: 3.11" in planned.unavailable
    # The reason says how to get one.
    assert "`uv python install 3.9`" in planned.unavailable
    assert "--download-python" in planned.unavailable


def test_download_python_asks_uv_for_the_missing_minors_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from matrix.selection import machine
    from matrix.selection import select as selection

    installed = {"3.11": Path("/usr/bin/python3.11")}
    asked: list[list[str]] = []

    def download(versions: list[str]) -> None:
        asked.append(versions)
        installed.update({v: Path(f"/uv/python{v}") for v in versions})

    monkeypatch.setattr(machine, "discover", lambda: dict(installed))
    monkeypatch.setattr(machine, "download_pythons", download)
    monkeypatch.setattr(machine, "gpu_visible", lambda: False)
    monkeypatch.setattr(machine, "host_version", lambda: "3.11")
    plain = selection.plan_from(Settings(tf=("2.5", "2.15"), formats=("h5",)))
    assert [p.unavailable is not None for p in plain.envs] == [True, False]
    assert asked == []
    fetched = selection.plan_from(
        Settings(tf=("2.5", "2.15"), formats=("h5",), download_python=True)
    )
    assert asked == [["3.9"]]
    assert [str(p.interpreter) for p in fetched.envs] == [
        "/uv/python3.9",
        "/usr/bin/python3.11",
    ]


def test_gpu_env_without_gpu_is_unavailable_not_an_error() -> None:
    plan = plan_for(Settings(envs=("tf2.18-keras3-py3.11-gpu",)))
    assert plan.envs[0].unavailable == "no GPU visible"
    assert (
        plan_for(Settings(envs=("tf2.18-keras3-py3.11-gpu",)), gpu=True).envs[0].unavailable is None
    )


def test_env_globs_match_the_table() -> None:
    plan = plan_for(Settings(envs=("tf2.1[67]-*-cpu",)))
    assert plan.env_ids == [
        "tf2.16-keras3-py3.11-cpu",
        "tf2.16-tf-keras-py3.11-cpu",
        "tf2.17-keras3-py3.11-cpu",
        "tf2.17-tf-keras-py3.11-cpu",
    ]


def test_glob_matching_nothing_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="matches no env"):
        plan_for(Settings(envs=("tf3.*",)))


def test_cells_pair_every_format_with_its_loaders_only() -> None:
    plan = plan_for(Settings(envs=(K2, K3), models=("mlp",), formats=("h5", "keras", "savedmodel")))
    cells = list(plan.cells())
    # 2 producers x 2 policies x (h5:1 + keras:1 + savedmodel:4 loaders) x 2 consumers
    assert len(cells) == 2 * 2 * 6 * 2
    assert {(c.format, c.loader) for c in cells} == {
        ("h5", "keras"),
        ("keras", "keras"),
        ("savedmodel", "keras"),
        ("savedmodel", "saved-model"),
        ("savedmodel", "serving"),
        ("savedmodel", "tfsm-layer"),
    }


def test_plan_round_trips_through_json() -> None:
    from matrix.selection.plan import Plan

    plan = plan_for(Settings(tf=("2.5", "2.21")), {"3.11": Path("/usr/bin/python3.11")})
    assert Plan.from_dict(plan.to_dict()) == plan


def test_gpu_device_adds_gpu_twins_reported_unavailable_without_a_gpu() -> None:
    plan = plan_for(Settings(envs=("tf2.15-keras2-*", "tf2.21-keras3-*"), devices=("cpu", "gpu")))
    assert plan.env_ids == [
        "tf2.15-keras2-py3.11-cpu",
        "tf2.15-keras2-py3.11-gpu",
        "tf2.21-keras3-py3.11-cpu",
        "tf2.21-keras3-py3.11-gpu",
    ]
    reasons = {p.id: p.unavailable for p in plan.envs}
    assert reasons["tf2.21-keras3-py3.11-gpu"] == "no GPU visible"
    assert reasons["tf2.21-keras3-py3.11-cpu"] is None
    gpu = plan.env("tf2.21-keras3-py3.11-gpu").env
    assert gpu.requirements()[0] == "tensorflow[and-cuda]==2.21.*"
    assert "gpu" in gpu.tags


def test_old_tf_on_gpu_needs_system_cuda() -> None:
    plan = plan_for(Settings(envs=("tf2.12-keras2-py3.11-gpu",)), gpu=True)
    assert "system CUDA" in (plan.envs[0].unavailable or "")


def test_onednn_off_adds_consumer_only_variants_sharing_the_venv() -> None:
    plan = plan_for(Settings(envs=(K3,), onednn_off=True, models=("mlp",)))
    assert plan.env_ids == ["tf2.21-keras3-py3.11-cpu", "tf2.21-keras3-py3.11-cpu-onednn-off"]
    variant = plan.envs[1].env
    assert variant.venv_id == "tf2.21-keras3-py3.11-cpu"
    assert variant.environment()["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert plan.producers == ["tf2.21-keras3-py3.11-cpu"]
    assert {c.consumer for c in plan.cells()} == set(plan.env_ids)
    assert {c.producer for c in plan.cells()} == {"tf2.21-keras3-py3.11-cpu"}


def test_nightly_on_request_only() -> None:
    # tf-nightly changes daily and costs a whole TF row: only when named.
    # keras-nightly is tomorrow's Keras 3, a cheap row: the full preset has it.
    full = plan_for(Settings(preset="full")).env_ids
    assert [e for e in full if "nightly" in e] == [
        f"keras-nightly-{b}-py3.11-cpu" for b in ("tensorflow", "jax", "torch")
    ]
    plan = plan_for(Settings(tf=("nightly",)))
    assert plan.env_ids == ["tfnightly-keras3-py3.11-cpu"]
    assert plan.envs[0].env.requirements() == ["tf-nightly"]


def test_full_preset_is_every_stable_minor_and_flavour() -> None:
    plan = plan_for(Settings(preset="full"))
    # 1.15 (tf.keras and standalone Keras), 2.0-2.15 Keras 2, 2.16-2.21 Keras 3
    # and tf-keras, every Keras 3 minor and keras-nightly on three backends,
    # then five LiteRT releases and tflite-runtime 2.14, three ONNX runtimes,
    # three TF.js, and every tabled converter env.
    converters = len(axes.CONVERTERS)
    assert len(plan.envs) == 2 + 16 + 6 * 2 + (16 + 1) * 3 + 5 + 1 + 3 + 3 + converters
    assert plan.envs[0].id == "tf1.15-keras2-py3.7-cpu"
    keras = [p.env for p in plan.envs if p.env.release.keras_minor]
    assert {e.release.minor for e in keras} == {*axes.KERAS3_MINORS, "nightly"}
    assert {e.backend for e in keras} == {"tensorflow", "jax", "torch"}
    # A Keras minor's envs read and write the Keras 3 formats only.
    assert {c.format for c in plan.cells() if c.consumer == keras[0].id} == {"keras", "weights"}
    assert plan.envs[1].id == "tf1.15-standalone-keras-py3.7-cpu"
    assert plan.envs[-1].id == "tfjs4.22-interpreter-py3.11-cpu"
    # The old era saves for today's envs to read; it loads nothing itself.
    assert "tf2.4-keras2-py3.8-cpu" not in {p.id for p in plan.consumer_envs}
    assert {c.consumer for c in plan.cells()} == {p.id for p in plan.consumer_envs}


def test_newest_python_choice() -> None:
    host = plan_for(Settings(tf=("2.18",), models=("mlp",)))
    newest = plan_for(Settings(tf=("2.18",), python="newest"))
    assert host.env_ids[0] == "tf2.18-keras3-py3.11-cpu"
    assert newest.env_ids[0] == "tf2.18-keras3-py3.12-cpu"


def test_user_models_are_rows_and_baselines_must_be_planned(tmp_path: Path) -> None:
    from matrix.selection.usermodels import UserModel

    user = UserModel("mine", tmp_path / "m.keras", "keras")
    plan = plan_for(Settings(envs=(K2, K3), models=("mlp",)))
    from matrix.selection.plan import make_plan

    with_user = make_plan(
        Settings(envs=(K2, K3), models=("mlp",)),
        ALL_PYTHONS,
        gpu_visible=False,
        host_python="3.11",
        user_models=(user,),
    )
    assert with_user.producers == [*plan.producers, "user:mine"]
    user_cells = [c for c in with_user.cells() if c.producer == "user:mine"]
    assert {(c.format, c.loader) for c in user_cells} == {("keras", "keras")}
    assert len(user_cells) == 2
    stray = UserModel("mine", tmp_path / "m.keras", "keras", baseline="tf2.12-keras2-py3.11-cpu")
    with pytest.raises(
        ConfigError, match=r"baseline env tf2\.12-keras2-py3\.11-cpu is not in the plan"
    ):
        make_plan(
            Settings(tf=("2.15",)),
            ALL_PYTHONS,
            gpu_visible=False,
            host_python="3.11",
            user_models=(stray,),
        )


def test_keras_minors_are_envs_of_their_own_on_each_backend() -> None:
    plan = plan_for(
        Settings(tf=("2.15",), formats=("keras",), keras=("3.3", "3.15"),
                 backends=("tensorflow", "jax"))
    )  # fmt: skip
    assert plan.env_ids == [
        "tf2.15-keras2-py3.11-cpu",
        "keras3.3-tensorflow-py3.11-cpu",
        "keras3.3-jax-py3.11-cpu",
        "keras3.15-tensorflow-py3.11-cpu",
        "keras3.15-jax-py3.11-cpu",
    ]
    old = plan.env("keras3.3-tensorflow-py3.11-cpu").env
    # Paired with the newest TensorFlow that takes it (TF 2.18 asks keras>=3.5).
    assert old.requirements() == ["tensorflow-cpu==2.17.*", "numpy<2", "keras==3.3.*"]
    assert plan.env("keras3.3-jax-py3.11-cpu").env.requirements()[0] == "jax[cpu]==0.5.3"
    assert plan.env("keras3.15-jax-py3.11-cpu").env.environment()["KERAS_BACKEND"] == "jax"
    # JAX has no TextVectorization without TensorFlow: not applicable, with why.
    assert "text" in old.release.unbuildable("jax")
    # --backends alone: the newest minor; --keras all: every one and the nightly.
    newest = plan_for(Settings(tf=("2.15",), formats=("keras",), backends=("torch",)))
    assert newest.env_ids[-1] == "keras3.15-torch-py3.11-cpu"
    every = plan_for(Settings(tf=("2.15",), formats=("keras",), keras=("all",))).env_ids
    assert len(every) == 1 + 16 + 1 and every[-1] == "keras-nightly-tensorflow-py3.11-cpu"
    # A -k pin on a TF env is still an env id of its own.
    pinned = plan_for(Settings(envs=("tf2.18-keras3-py3.11-cpu-k3.6",)))
    assert "keras==3.6.*" in pinned.envs[0].env.requirements()


def test_keras_pins_must_be_keras3_minors() -> None:
    from matrix.selection.config import build_settings

    with pytest.raises(ConfigError, match=r"Unknown Keras 3 minor '2\.15': expected one of 3\.0"):
        build_settings({"keras": ["2.15"]}, {})
    with pytest.raises(ConfigError, match="Unknown backend 'tpu'"):
        build_settings({"backends": ["tpu"]}, {})
