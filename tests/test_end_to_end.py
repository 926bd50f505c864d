"""The whole pipeline with real TensorFlow envs: facts only real TF produces.

One run over Keras 2 (TF 2.15), Keras 3 (TF 2.21) and tf-keras (TF 2.18)
envs, plus a GPU env this machine cannot run, with a zoo slice that covers
the failure families; then the same output folder again with user models
saved by the test itself. Envs are built once in the repository's `.nox`.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from matrix.report import jsonfile
from matrix.results.cells import KEY_FIELDS
from tests.conftest import ROOT, assert_valid_report

pytestmark = pytest.mark.tf

K2 = "tf2.15-keras2-py3.11-cpu"
K3 = "tf2.21-keras3-py3.11-cpu"
TFK = "tf2.18-tf-keras-py3.11-cpu"
GPU = "tf2.21-keras3-py3.11-gpu"
ENVS = [K2, K3, TFK, GPU]
MODELS = ["mlp", "custom", "subclassed", "unregistered", "lambda"]
PASSING = {"identical", "close"}


def run_matrix(tmp: Path, *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "matrix",
            "run",
            "--envs",
            *ENVS,
            "--models",
            *MODELS,
            "--policies",
            "float32",
            "mixed_float16",
            "--formats",
            "all",
            "--output",
            str(tmp / "out"),
            "--reports",
            str(tmp / "reports"),
            "--envdir",
            str(ROOT / ".nox"),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=2400,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert_valid_report(tmp / "reports" / "compat.json")
    return jsonfile.loads((tmp / "reports" / "compat.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("e2e")
    return tmp, run_matrix(tmp)


def cells(doc: dict[str, Any], **match: str) -> list[dict[str, Any]]:
    """Cells matching; those of the GPU env only when asked for by name."""
    found = [
        c
        for c in doc["cells"]
        if all(c[k] == v for k, v in match.items())
        and (GPU in match.values() or GPU not in (c["producer"], c["consumer"]))
    ]
    assert found, f"no cell matches {match}"
    return found


def one(doc: dict[str, Any], **match: str) -> dict[str, Any]:
    (cell,) = cells(doc, **match)
    return cell


def cell_id(cell: dict[str, Any]) -> str:
    """How compat.md and `repro` name a cell."""
    return "/".join(cell[k] for k in KEY_FIELDS)


# -- the spine ----------------------------------------------------------------


def test_every_planned_cell_has_a_status(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    assert doc["pending"] == []
    envs = {e["id"]: e["versions"] for e in doc["envs"]}
    assert envs[K2]["tensorflow"].startswith("2.15.") and envs[K2]["keras"].startswith("2.15")
    assert envs[K3]["tensorflow"].startswith("2.21.") and envs[K3]["keras"].startswith("3.")
    assert envs[TFK]["keras"].startswith("2.18") and envs[TFK]["keras_flavour"] == "tf-keras"
    assert envs[K2]["numpy"].startswith("1.")


def test_keras2_dot_keras_file_does_not_load_in_keras3(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    for cell in cells(doc, model="mlp", producer=K2, consumer=K3, format="keras"):
        assert cell["status"] == "load-error"
        assert cell["error_type"] == "builtins.TypeError"
        assert "keras.src.engine.functional" in cell["error"]
        assert "Traceback" in cell["error_text"]


def test_keras2_h5_float32_predicts_the_same_in_keras3(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    cell = one(doc, model="mlp", producer=K2, consumer=K3, format="h5", policy="float32")
    assert cell["status"] in PASSING
    assert cell["max_abs"] is not None and cell["max_abs"] <= 1e-5


def test_keras2_savedmodel_serves_the_same_in_tf_2_21(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    for loader in ("saved-model", "tfsm-layer"):
        for cell in cells(doc, model="mlp", producer=K2, consumer=K3, loader=loader):
            assert cell["status"] in PASSING, cell


def test_keras3_refuses_savedmodel_dirs_in_load_model(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    for cell in cells(doc, model="mlp", consumer=K3, format="savedmodel", loader="keras"):
        assert cell["status"] == "load-error"
        assert "TFSMLayer" in cell["error_text"]


def test_tfsm_layer_is_not_applicable_outside_keras3(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    for consumer in (K2, TFK):
        for cell in cells(doc, consumer=consumer, loader="tfsm-layer"):
            assert cell["status"] == "not-applicable"
            assert "Keras 3" in cell["reason"]


def test_same_env_round_trip_is_identical(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    for env in (K2, K3, TFK):
        cell = one(doc, model="mlp", producer=env, consumer=env, format="h5", policy="float32")
        assert cell["status"] == "identical"


def test_rerun_with_nothing_changed_recomputes_nothing(run: tuple[Path, dict[str, Any]]) -> None:
    tmp, first = run
    results = sorted((tmp / "out" / "results").glob("*.jsonl"))
    logs = sorted((tmp / "out" / "logs").rglob("*.log"))
    before = [p.read_bytes() for p in results + logs]
    second = run_matrix(tmp)
    assert [p.read_bytes() for p in results + logs] == before
    assert second["cells"] == first["cells"]


# -- every axis and failure family ---------------------------------------------


def test_tf_keras_reads_keras2_files_but_keras3_reads_none_of_its(
    run: tuple[Path, dict[str, Any]],
) -> None:
    _, doc = run
    cell = one(doc, model="mlp", producer=K2, consumer=TFK, format="keras", policy="float32")
    assert cell["status"] in PASSING
    for cell in cells(doc, model="mlp", producer=TFK, consumer=K3, format="keras"):
        assert cell["status"] == "load-error"
        assert "Functional" in cell["error"]


def test_keras2_cannot_write_subclassed_models_as_h5(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    for cell in cells(doc, model="subclassed", producer=K2, format="h5"):
        assert cell["status"] == "no-artifact"
        assert cell["error_type"] == "builtins.NotImplementedError"


def test_subclassed_model_loses_its_mixed_policy_silently(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    cell = one(
        doc, model="subclassed", producer=K2, consumer=K2, format="keras", policy="mixed_float16"
    )
    assert cell["status"] in PASSING
    assert "config" in cell["silent_changes"]
    assert any("policy 'mixed_float16' -> 'float32'" in c for c in cell["config_drift"])
    assert cell["own_policy"]["status"] in PASSING


def test_custom_layer_loads_with_custom_objects(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    cell = one(doc, model="custom", producer=K2, consumer=K3, format="h5", policy="float32")
    assert cell["status"] in PASSING


def test_unregistered_layer_fails_naming_the_class(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    # Keras 2 h5 files reach the custom layer everywhere (Keras 2 cannot read
    # Keras 3 h5 files at all: it stops at their InputLayer config first).
    pairs = [(p, c) for p in (K2, TFK) for c in (K2, K3, TFK)] + [(K3, K3)]
    for producer, consumer in pairs:
        for cell in cells(
            doc, model="unregistered", producer=producer, consumer=consumer, format="h5"
        ):
            assert cell["status"] == "load-error"
            assert "Unregistered" in cell["error"]


def test_lambda_needs_unsafe_where_no_safe_mode_guards_it(
    run: tuple[Path, dict[str, Any]],
) -> None:
    _, doc = run
    assert doc["run"]["unsafe"] is False
    # Keras 2.15 reads an h5 Lambda with no safe_mode check: the gate refuses.
    h5 = one(doc, model="lambda", producer=K3, consumer=K2, format="h5", policy="float32")
    assert h5["status"] == "not-applicable" and "--unsafe" in h5["reason"]
    # Keras 3.15 enforces safe_mode for .keras and (since 3.11.3, CVE-2025-9905)
    # for h5: the cells show Keras's own refusal.
    for fmt in ("keras", "h5"):
        refused = one(doc, model="lambda", producer=K3, consumer=K3, format=fmt, policy="float32")
        assert refused["status"] == "load-error" and "Lambda" in refused["error"], refused
    served = one(
        doc, model="lambda", producer=K3, consumer=K2, loader="saved-model", policy="float32"
    )
    assert served["status"] in PASSING


def test_weights_format_rebuilds_from_the_zoo(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    for producer in (K2, K3, TFK):
        for consumer in (K2, K3, TFK):
            cell = one(
                doc,
                model="mlp",
                producer=producer,
                consumer=consumer,
                format="weights",
                policy="float32",
            )
            assert cell["status"] == "identical", cell


def test_gpu_env_is_planned_and_unavailable_without_a_gpu(
    run: tuple[Path, dict[str, Any]],
) -> None:
    _, doc = run
    envs = {e["id"]: e for e in doc["envs"]}
    assert envs[GPU]["status"] == "unavailable" and envs[GPU]["reason"] == "no GPU visible"
    for cell in cells(doc, consumer=GPU):
        assert cell["status"] == "unavailable"
    assert GPU not in doc["producers"] or all(
        c["status"] == "unavailable" for c in doc["cells"] if c["producer"] == GPU
    )


def test_markdown_groups_by_format_and_loader_with_a_key(run: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = run
    text = (tmp / "reports" / "compat.md").read_text(encoding="utf-8")
    assert "### `keras` format, `keras` loader" in text
    assert "### `weights` format, `keras` loader" in text
    assert "| TF 2.18 (tf-keras) " in text
    assert "Silent changes" in text


# -- user models -----------------------------------------------------------------

SAVE_USER_MODELS = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf
    sys.path.insert(0, sys.argv[2])
    import eps_layers
    out = sys.argv[1]
    keras = tf.keras
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2, name="y")(inputs))
    model.save(out + "/dense.h5")
    model.save(out + "/served", save_format="tf")
    guard = keras.Model(inputs, eps_layers.EpsGuard(epsilon=1e-3)(inputs))
    guard.save(out + "/guard.h5")
    x = np.random.RandomState(0).standard_normal((3, 4)).astype("float32")
    x[0, :] = 2.0  # zero variance: only the epsilon keeps this row finite
    np.savez(out + "/guard_inputs.npz", input_0=x)
    np.savez(out + "/guard_expected.npz", output_0=guard(x).numpy())
    open(out + "/broken.keras", "wb").write(b"not a zip file at all")
    """
)

EPS_LAYERS = textwrap.dedent(
    """
    import tensorflow as tf

    class EpsGuard(tf.keras.layers.Layer):
        def __init__(self, epsilon=0.0, **kwargs):
            super().__init__(**kwargs)
            self.epsilon = epsilon

        def call(self, x):
            centred = x - tf.reduce_mean(x, axis=-1, keepdims=True)
            variance = tf.reduce_mean(centred * centred, axis=-1, keepdims=True)
            return centred / (variance + self.epsilon)

        def get_config(self):
            return {**super().get_config(), "epsilon": self.epsilon}
    """
)

# What consumers get: a reimplementation that forgot the epsilon.
NO_EPSILON = textwrap.dedent(
    """
    import tensorflow as tf

    def get_custom_objects(keras):
        class EpsGuard(keras.layers.Layer):
            def __init__(self, epsilon=0.0, **kwargs):
                super().__init__(**kwargs)

            def call(self, x):
                centred = x - tf.reduce_mean(x, axis=-1, keepdims=True)
                return centred / tf.reduce_mean(centred * centred, axis=-1, keepdims=True)

        return {"EpsGuard": EpsGuard}
    """
)


# What consumers get from another reimplementation: right epsilon, output
# scaled by 1.001, a drift well past the float32 tolerance.
SCALED = textwrap.dedent(
    """
    import tensorflow as tf

    def get_custom_objects(keras):
        class EpsGuard(keras.layers.Layer):
            def __init__(self, epsilon=0.0, **kwargs):
                super().__init__(**kwargs)
                self.epsilon = epsilon

            def call(self, x):
                centred = x - tf.reduce_mean(x, axis=-1, keepdims=True)
                variance = tf.reduce_mean(centred * centred, axis=-1, keepdims=True)
                return 1.001 * centred / (variance + self.epsilon)

        return {"EpsGuard": EpsGuard}
    """
)


def user_models(mine: Path) -> list[str]:
    return [
        "--user-model", str(mine / "dense.h5"),
        "--user-model", str(mine / "served"),
        "--user-model", str(mine / "guard.h5"), "--inputs", str(mine / "guard_inputs.npz"),
        "--expected", str(mine / "guard_expected.npz"),
        "--custom-objects", str(mine / "no_epsilon.py"),
        "--user-model", str(mine / "guard.h5"), "--name", "scaled",
        "--inputs", str(mine / "guard_inputs.npz"),
        "--expected", str(mine / "guard_expected.npz"),
        "--custom-objects", str(mine / "scaled.py"),
        "--user-model", str(mine / "broken.keras"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def user_run(
    run: tuple[Path, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    tmp, _ = run
    mine = tmp_path_factory.mktemp("user")
    (mine / "eps_layers.py").write_text(EPS_LAYERS, encoding="utf-8")
    (mine / "no_epsilon.py").write_text(NO_EPSILON, encoding="utf-8")
    (mine / "scaled.py").write_text(SCALED, encoding="utf-8")
    (mine / "save.py").write_text(SAVE_USER_MODELS, encoding="utf-8")
    python = ROOT / ".nox" / K2 / "bin" / "python"
    subprocess.run(
        [str(python), str(mine / "save.py"), str(mine), str(mine)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    doc = run_matrix(tmp, *user_models(mine))
    return mine, doc


def test_user_h5_is_a_row_with_a_baseline_reference(user_run: tuple[Path, dict[str, Any]]) -> None:
    mine, doc = user_run
    assert "user:dense" in doc["producers"]
    (artifact,) = [a for a in doc["artifacts"] if a["producer"] == "user:dense"]
    assert artifact["reference_env"] == K2  # the first env of the plan that loads it
    digest = hashlib.sha256((mine / "dense.h5").read_bytes()).hexdigest()
    assert artifact["source_sha256"] == digest
    for consumer in (K2, K3, TFK):
        assert one(doc, producer="user:dense", consumer=consumer)["status"] in PASSING


def test_user_savedmodel_serves_everywhere(user_run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = user_run
    for consumer in (K2, K3, TFK):
        cell = one(doc, producer="user:served", consumer=consumer, loader="saved-model")
        assert cell["status"] in PASSING
    assert one(doc, producer="user:served", consumer=K3, loader="keras")["status"] == "load-error"


def test_implementation_without_epsilon_shows_as_nan(user_run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = user_run
    statuses = {c["consumer"]: c["status"] for c in cells(doc, producer="user:guard")}
    assert statuses[K2] == "nan"
    assert statuses[TFK] == "nan"


def test_model_no_env_can_load_is_reported_not_dropped(
    user_run: tuple[Path, dict[str, Any]],
) -> None:
    _, doc = user_run
    (artifact,) = [a for a in doc["artifacts"] if a["producer"] == "user:broken"]
    assert artifact["reference_error"]
    # Its name says .keras but its bytes are no zip: refused by content, with
    # the reason, in every consumer's column (never dropped from the report).
    for consumer in (K2, K3, TFK):
        refused = one(doc, producer="user:broken", consumer=consumer)
        assert refused["status"] == "not-applicable" and refused["reason"], refused


def test_rerun_with_user_models_starts_no_tensorflow(
    run: tuple[Path, dict[str, Any]], user_run: tuple[Path, dict[str, Any]]
) -> None:
    tmp, _ = run
    mine, first = user_run
    logs = sorted((tmp / "out" / "logs").rglob("*.log"))
    before = [p.read_bytes() for p in logs]
    second = run_matrix(tmp, *user_models(mine))
    assert [p.read_bytes() for p in logs] == before  # no probe started, not even to retry
    assert second["cells"] == first["cells"]


def test_user_files_are_never_modified(user_run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = user_run
    sources = {a["source"]: a["source_sha256"] for a in doc["artifacts"] if a.get("source")}
    for path, digest in sources.items():
        if Path(path).is_file():
            assert hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest


# -- upgrade advice --------------------------------------------------------------


def test_upgrade_advice_from_measured_cells(run: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = run
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "matrix",
            "report",
            "--envs",
            *ENVS,
            "--models",
            *MODELS,
            "--policies",
            "float32",
            "mixed_float16",
            "--formats",
            "all",
            "--output",
            str(tmp / "out"),
            "--reports",
            str(tmp / "advice"),
            "--envdir",
            str(ROOT / ".nox"),
            "--from",
            "2.15",
            "--to",
            "2.21",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    advice = jsonfile.loads((tmp / "advice" / "compat.json").read_text(encoding="utf-8"))["advice"]
    assert advice["from_envs"] == [K2] and advice["to_env"] == K3
    rows = {(r["model"], r["policy"], r["format"]): r for r in advice["rows"]}
    assert rows[("mlp", "float32", "h5")]["works"]
    dot_keras = rows[("mlp", "float32", "keras")]
    assert not dot_keras["works"] and dot_keras["direct"]["status"] == "load-error"
    assert "re-save it as h5 in TF 2.15" in [w["how"] for w in dot_keras["alternatives"]]
    served = rows[("mlp", "float32", "savedmodel")]
    assert "load it with `tf.saved_model.load` and call its `serving_default` signature" in [
        w["how"] for w in served["alternatives"]
    ]
    text = (tmp / "advice" / "compat.md").read_text(encoding="utf-8")
    assert "## Upgrade advice: TF 2.15 → 2.21" in text


# -- replaying cells by hand ------------------------------------------------------


def _sample(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """One measured cell per outcome (and one that loads only with
    compile=False), the first in plan order, GPU cells left out."""
    found: dict[str, dict[str, Any]] = {}
    for cell in doc["cells"]:
        if GPU in (cell["producer"], cell["consumer"]):
            continue
        if cell["status"] in ("identical", "close", "drift", "nan", "load-error", "predict-error"):
            found.setdefault(cell["status"], cell)
        inference = cell.get("inference") or {}
        if inference.get("status") in PASSING:
            found.setdefault("inference-only", cell)
    return found


def _repro(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable, "-m", "matrix", "repro", *args,
            "--output", str(tmp / "out"), "--envdir", str(ROOT / ".nox"),
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip


def test_replayed_cells_reproduce_their_status(
    run: tuple[Path, dict[str, Any]], user_run: tuple[Path, dict[str, Any]]
) -> None:
    tmp, _ = run
    _, doc = user_run
    samples = _sample(doc)
    assert set(samples) >= {
        "identical", "close", "drift", "nan", "load-error", "predict-error", "inference-only"
    }  # fmt: skip
    for outcome, cell in samples.items():
        done = _repro(tmp, cell_id(cell))
        assert done.returncode == 0, (outcome, cell_id(cell), done.stdout + done.stderr)
        assert "reproduced:" in done.stdout


def test_a_repro_folder_is_a_bug_report(
    run: tuple[Path, dict[str, Any]], user_run: tuple[Path, dict[str, Any]]
) -> None:
    tmp, _ = run
    _, doc = user_run
    cell = _sample(doc)["load-error"]
    folder = tmp / "report-sample"
    done = _repro(tmp, cell_id(cell), "--no-run", "--folder", str(folder))
    assert done.returncode == 0, done.stderr
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "pip install" in readme and f"RESULT: {cell['status']}" in readme
    assert cell["error"][:40] in readme
    text = (folder / "repro.py").read_text(encoding="utf-8")
    assert "import zoo" not in text and "import _probe" not in text
    assert "import matrix" not in text and "from matrix" not in text


def test_cells_nothing_ran_for_cannot_be_replayed(run: tuple[Path, dict[str, Any]]) -> None:
    tmp, doc = run
    refused = next(c for c in doc["cells"] if c["status"] == "not-applicable")
    done = _repro(tmp, cell_id(refused))
    assert done.returncode == 2 and "nothing to replay" in done.stderr


def test_every_loading_cell_carries_the_batch_check(run: tuple[Path, dict[str, Any]]) -> None:
    """Each cell that loaded also predicted one example at a time and padded
    to the next power of two; each way is measured (a status against the
    whole batch) or says why it could not run. Keras, SavedModel and
    serving loads of these models batch the same either way."""
    _, report = run
    loaded = [c for c in report["cells"] if c["status"] in PASSING]
    assert loaded
    for cell in loaded:
        batch = cell.get("batch")
        assert batch and batch["padded_to"] >= 2, cell
        for way in ("one_at_a_time", "padded"):
            assert "status" in batch[way] or batch[way].get("error"), (way, cell)
    keras = [c for c in loaded if c["loader"] in ("keras", "saved-model", "serving")]
    assert all(c["batch"][w].get("status") in PASSING for c in keras
               for w in ("one_at_a_time", "padded")), [c["batch"] for c in keras][:3]  # fmt: skip
