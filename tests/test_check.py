"""check: a prediction in seconds from measured cells, exit codes CI can read,
bad and hostile files refused with a clear line (no TensorFlow anywhere)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from matrix.check import index as indexes
from matrix.check.agreement import agreement
from matrix.check.command import BAD, BREAKS, UNKNOWN, WORKS
from matrix.check.predict import Writer, nearest_producer, predict, writer_of
from tests.conftest import ROOT

K2 = "tf2.15-keras2-py3.11-cpu"
K3 = "tf2.21-keras3-py3.11-cpu"
TFK = "tf2.21-tf-keras-py3.11-cpu"
LITE = "litert2.3-py3.11-cpu"


def _index() -> indexes.Index:
    """Two Keras 2 models measured in Keras 3 and tf-keras: an LSTM's h5
    breaks in Keras 3 (and loads in tf-keras), a Dense model's loads."""
    envs = {
        K2: indexes.EnvFacts(K2, "2.15", "keras2", "keras2", "2.15", "2.15.0", "tensorflow"),
        K3: indexes.EnvFacts(K3, "2.21", "keras3", "keras3", "2.21", "3.15.1", "tensorflow"),
        TFK: indexes.EnvFacts(TFK, "2.21", "tf-keras", "tf-keras", "2.21", "2.21.0", "tensorflow"),
    }
    broken = ["load-error", "load-error", "keras3-rnn-time-major"]
    close = ["close", None, None]
    outcomes: dict[tuple[str, str, str, str], Any] = {
        (K2, "lstm", "float32", "h5"): {K3: {"keras": broken}, TFK: {"keras": close}},
        (K2, "mlp", "float32", "h5"): {K3: {"keras": ["identical", None, None]},
                                        TFK: {"keras": ["identical", None, None]}},
    }  # fmt: skip
    causes = {"keras3-rnn-time-major": {"title": "time_major", "kind": "upstream", "links": []}}
    models = {"lstm": ["Dense", "LSTM"], "mlp": ["BatchNormalization", "Dense"]}
    return indexes.Index(envs=envs, models=models, causes=causes, outcomes=outcomes)


def test_a_layer_that_breaks_somewhere_breaks_the_file_there() -> None:
    traits = {"keras_version": "2.15.0", "layers": ["Dense", "LSTM"], "policies": ["float32"]}
    (found,) = predict(_index(), traits, "h5", [K3])
    assert found.verdict == "breaks" and found.cause == "keras3-rnn-time-major"
    assert found.evidence == [f"{K2}/{K3}/lstm/float32/h5/keras"]
    assert [w["kind"] for w in found.ways] == ["tf-keras"]  # measured beside it
    (fine,) = predict(_index(), {**traits, "layers": ["Dense"]}, "h5", [K3])
    assert fine.verdict == "works"


def test_what_nothing_measured_resembles_is_unknown() -> None:
    odd = {"keras_version": "2.15.0", "layers": ["MultiHeadAttention"], "policies": ["float32"]}
    assert predict(_index(), odd, "h5", [K3])[0].verdict == "unknown"
    far = {"keras_version": "2.5.0", "layers": ["Dense"], "policies": ["float32"]}
    assert predict(_index(), far, "h5", [K3])[0].verdict == "unknown"  # no writer near 2.5
    silent: dict[str, Any] = {"layers": ["Dense"]}
    assert "give --from" in predict(_index(), silent, "h5", [K3])[0].why
    assert predict(_index(), silent, "h5", [K3], from_release="2.15")[0].verdict == "works"


def test_a_writer_is_matched_by_tensorflow_where_keras_is_not_recorded() -> None:
    assert writer_of({"tensorflow_version": "2.21.0"}) == Writer("keras3", None, (2, 21))
    assert writer_of({}, from_release="2.15") == Writer("keras2", (2, 15), (2, 15))
    assert writer_of({}, from_release="keras3.12") == Writer("keras3", (3, 12), None)
    index = _index()
    # A TFLite file is the converter's: any Keras line, the nearest TF minor.
    index.outcomes[(K3, "mlp", "float32", "tflite")] = {LITE: {"tflite": ["close", None, None]}}
    assert nearest_producer(index, Writer(None, None, (2, 20)), "tflite", None) == K3
    assert nearest_producer(index, Writer(None, None, (2, 12)), "tflite", None) is None


def test_a_tflite_file_is_predicted_from_its_operators() -> None:
    index = _index()
    index.envs[LITE] = indexes.EnvFacts(
        LITE, "litert2.3", "litert", "interpreter", None, None, None
    )
    index.outcomes[(K3, "mlp", "float32", "tflite")] = {LITE: {"tflite": ["close", None, None]}}
    index.outcomes[(K3, "lstm", "float32", "tflite")] = {
        LITE: {"tflite": ["load-error", None, "flex-ops"]}
    }
    index.ops[(K3, "mlp", "float32", "tflite")] = ["FULLY_CONNECTED:v9"]
    flex_ops = ["FULLY_CONNECTED:v9", "FlexTensorListReserve:v1"]
    index.ops[(K3, "lstm", "float32", "tflite")] = flex_ops
    lite = {"ops": ["FULLY_CONNECTED:v9"]}
    (fine,) = predict(index, lite, "tflite", [LITE], from_release="2.21")
    assert fine.verdict == "works", fine
    flex = {"ops": ["FULLY_CONNECTED:v9", "FlexTensorListReserve:v1"]}
    (broken,) = predict(index, flex, "tflite", [LITE], from_release="2.21")
    assert broken.verdict == "breaks" and broken.cause == "flex-ops", broken
    assert "FlexTensorListReserve:v1 operator" in broken.why
    newer = {"ops": ["FULLY_CONNECTED:v12"]}
    (unseen,) = predict(index, newer, "tflite", [LITE], from_release="2.21")
    assert unseen.verdict == "unknown" and "FULLY_CONNECTED:v12" in unseen.why


def test_agreement_leaves_each_model_out() -> None:
    found = agreement(_index())
    # The LSTM left out: its LSTM layer is in no other model (unknown). The
    # Dense model left out: in Keras 3 the LSTM model's failure is pinned on
    # the layers no working model clears, Dense among them (a wrong "breaks",
    # the safe mistake); in tf-keras its BatchNormalization is unknown.
    assert (found.predicted, found.unknown, found.false_breaks, found.false_works) == (1, 3, 1, 0)
    assert "0 'works' that failed" in found.line()


def test_the_shipped_index_is_what_the_published_reports_give() -> None:
    from matrix.report import facts

    documents = facts.read_published(ROOT)
    built = indexes.build(documents.items())  # fmt: skip
    shipped = indexes.read()
    assert shipped.to_dict() == json.loads(json.dumps(built.to_dict()))


def test_predictions_agree_with_the_measurements() -> None:
    """Over the shipped index, every zoo artifact predicted without its own
    model: at least 95% of predicted cells agree, and no 'works' for a cell
    measured as a failure."""
    found = agreement(indexes.read())
    assert found.predicted > 1000
    assert found.share >= 0.95, found.line()
    assert found.false_works == 0, found.line()


def _check(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "matrix", "check", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_bad_input_is_exit_2_with_a_clear_line(tmp_path: Path) -> None:
    text = tmp_path / "notes.h5"
    text.write_text("not a model", encoding="utf-8")
    truncated = tmp_path / "cut.keras"
    truncated.write_bytes(b"PK\x03\x04" + b"\x00" * 20)
    for path in (text, truncated):
        done = _check(str(path), "--to", "2.21")
        assert done.returncode == BAD, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        assert "refused" in done.stdout
    missing = _check(str(tmp_path / "none.h5"), "--to", "2.21")
    assert missing.returncode == BAD and "No such model file" in missing.stderr
    unknown = _check(str(text), "--to", "9.9")
    assert unknown.returncode == BAD and "Unknown release '9.9'" in unknown.stderr


def keras_file(path: Path, layers: list[str], keras_version: str) -> Path:
    """A .keras archive as Keras 3 writes one: its config, metadata and weights."""
    import zipfile

    import h5py

    config = {
        "module": "keras", "class_name": "Functional",
        "config": {"layers": [{"module": "keras.layers", "class_name": name, "config": {}}
                              for name in ["InputLayer", *layers]]},
    }  # fmt: skip
    weights = path.with_suffix(".h5")
    with h5py.File(weights, "w") as handle:
        handle.create_group("layers")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": keras_version}))
        archive.write(weights, "model.weights.h5")
    return path


def test_check_imports_no_tensorflow_and_answers_in_seconds(tmp_path: Path) -> None:
    model = keras_file(tmp_path / "m.keras", layers=["Dense"], keras_version="3.12.4")
    started = time.monotonic()
    done = _check(str(model), "--to", "2.21", "--json")
    seconds = time.monotonic() - started
    assert done.returncode in (WORKS, BREAKS, UNKNOWN), done.stderr
    answer = json.loads(done.stdout)
    (found,) = answer["files"]
    assert found["format"] == "keras" and found["traits"]["keras_version"] == "3.12.4"
    assert found["predictions"][0]["basis"] == "predicted"
    assert seconds < 5, seconds
    assert "tensorflow" not in _check_modules(model)


def _check_modules(model: Path) -> set[str]:
    """The modules a check imports, as the interpreter lists them."""
    code = (
        "import sys; from matrix import cli; "
        f"cli.main(['check', {str(model)!r}, '--to', '2.21']); "
        "print('MODULES', ' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    line = next(x for x in done.stdout.splitlines() if x.startswith("MODULES"))
    return set(line.split()[1:])
