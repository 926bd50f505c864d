"""The hostile-model suite: files built the way public write-ups describe.

Every payload here would write a marker file if any code of it ran. Each is
given as a user model, with the defaults and without --expected (so the
reference stage is reached too), to a run over a Keras 2, a Keras 3 and a
tf-keras env. None may run, nothing may be written outside the output folder
or copied into it from outside, the bombs must be refused within seconds and
bounded memory, and every cell must say why it was refused.
"""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from tests.conftest import ROOT
from tests.faults.conftest import K3, document, ensure_env, marker, markers_written, run_ok

pytestmark = pytest.mark.tf

# Files whose only finding is code in a Keras config: Keras 3.15's safe_mode
# refuses them itself.
GUARDED_BY_KERAS = {
    "lambda_h5", "lambda_keras", "nested_h5", "escaped_h5", "late_h5", "module_keras", "tfsm_keras"
}  # fmt: skip
K2 = "tf2.15-keras2-py3.11-cpu"
TFK = "tf2.18-tf-keras-py3.11-cpu"
ENVS = (K2, K3, TFK)
GiB = 2**30
SECRET = "the-host-secret"


def _rewrite_config(source: Path, target: Path, change: Any) -> None:
    shutil.copyfile(source, target)
    with h5py.File(target, "r+") as handle:
        text = handle.attrs["model_config"]
        text = text.decode() if isinstance(text, bytes) else text
        handle.attrs["model_config"] = change(text)


def _escaped(text: str) -> str:
    """The same config with "Lambda" spelled as a JSON escape."""
    escaped = text.replace('"class_name": "Lambda"', '"class_name": "\\u004cambda"')
    assert escaped != text
    return escaped


def _late(text: str) -> str:
    """The Lambda pushed behind a megabyte of other config."""
    config = json.loads(text)
    config["config"]["padding"] = "x" * 2**20
    return json.dumps({"padding_first": "y" * 2**20, **config})


def _keras_with(source: Path, target: Path, change: Any) -> None:
    """A copy of a .keras archive with its config.json changed."""
    with zipfile.ZipFile(source) as good, zipfile.ZipFile(target, "w") as bad:
        for item in good.infolist():
            data = good.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                change(config)
                data = json.dumps(config).encode()
            bad.writestr(item, data)


def _module_activation(config: dict[str, Any]) -> None:
    layer = config["config"]["layers"][-1]
    layer["config"]["activation"] = {
        "module": "os",
        "class_name": "function",
        "config": "system",
        "registered_name": None,
    }


def _tfsm_layer(served: Path) -> Any:
    def change(config: dict[str, Any]) -> None:
        config["config"]["layers"].insert(
            1,
            {
                "module": "keras.layers",
                "class_name": "TFSMLayer",
                "config": {
                    "name": "tfsm",
                    "filepath": str(served),
                    "call_endpoint": "serving_default",
                },
                "registered_name": None,
            },
        )

    return change


def _zip_bomb(target: Path, size: int) -> None:
    """A small .keras whose config.json inflates to `size` bytes."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        with archive.open("config.json", "w", force_zip64=True) as member:
            member.write(b'{"class_name": "Functional", "padding": "')
            block = b" " * 2**24
            for _ in range(size // len(block)):
                member.write(block)
            member.write(b'"}')


def _fill_value_bomb(source: Path, target: Path) -> None:
    """A real model file plus one dataset that declares 8 GiB of fill value."""
    shutil.copyfile(source, target)
    with h5py.File(target, "r+") as handle:
        handle.create_dataset(
            "model_weights/extra/kernel",
            shape=(2**31,),
            dtype="f4",
            chunks=(2**16,),
            fillvalue=1.0,
        )


def _zip_slip(source: Path, target: Path) -> None:
    with zipfile.ZipFile(source) as good, zipfile.ZipFile(target, "w") as bad:
        for item in good.infolist():
            bad.writestr(item, good.read(item))
        bad.writestr("../../../../tmp/compat-matrix-slip.txt", "escaped")


def _symlinked_folder(source: Path, target: Path, secret: Path) -> None:
    shutil.copytree(source, target)
    (target / "assets").mkdir(exist_ok=True)
    (target / "assets" / "vocabulary.txt").symlink_to(secret)


@pytest.fixture(scope="module")
def hostile(models: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    secret = folder / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(SECRET, encoding="utf-8")
    files = {
        "lambda_h5": models / "marker.h5",
        "lambda_keras": models / "marker.keras",
        "nested_h5": models / "nested.h5",
        "escaped_h5": folder / "escaped.h5",
        "late_h5": folder / "late.h5",
        "renamed": folder / "renamed.keras",
        "module_keras": folder / "module.keras",
        "tfsm_keras": folder / "tfsm.keras",
        "writer": models / "writer_served",
        "symlinks": folder / "symlinks",
        "zip_bomb": folder / "bomb.keras",
        "fill_bomb": folder / "fill.h5",
        "zip_slip": folder / "slip.keras",
    }
    _rewrite_config(models / "marker.h5", files["escaped_h5"], _escaped)
    _rewrite_config(models / "marker.h5", files["late_h5"], _late)
    shutil.copyfile(models / "marker.h5", files["renamed"])
    _keras_with(models / "plain.keras", files["module_keras"], _module_activation)
    _keras_with(models / "plain.keras", files["tfsm_keras"], _tfsm_layer(files["writer"]))
    _symlinked_folder(models / "plain_served", files["symlinks"], secret)
    _zip_bomb(files["zip_bomb"], GiB)
    _fill_value_bomb(models / "plain.h5", files["fill_bomb"])
    _zip_slip(models / "plain.keras", files["zip_slip"])
    return files


@pytest.fixture(scope="module")
def run(hostile: dict[str, Path], models: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    for env in ENVS:
        ensure_env(env)
    tmp = tmp_path_factory.mktemp("hostile-run")
    args = [
        "run",
        "--envs",
        *ENVS,
        "--models",
        "mlp",
        "--formats",
        "h5",
        "--policies",
        "float32",
        "--output",
        str(tmp / "out"),
        "--reports",
        str(tmp / "reports"),
        "--envdir",
        str(ROOT / ".nox"),
    ]
    for name, path in hostile.items():
        args += ["--user-model", str(path), "--name", name]
    probes_before = sorted(p.name for p in (ROOT / "probes").iterdir())
    started = time.monotonic()
    run_ok(*args)
    return {
        "tmp": tmp,
        "doc": document(tmp / "reports"),
        "seconds": time.monotonic() - started,
        "probes_before": probes_before,
    }


def _cells(doc: dict[str, Any], name: str) -> list[dict[str, Any]]:
    found = [c for c in doc["cells"] if c["producer"] == f"user:{name}"]
    assert found, name
    return found


def test_no_payload_ran_anywhere(run: Any, models: Path) -> None:
    assert markers_written(run["tmp"], marker(models).parent, ROOT / "probes") == []
    assert not Path("/tmp/compat-matrix-slip.txt").exists()


def test_nothing_was_written_into_the_tools_own_code(run: Any) -> None:
    assert sorted(p.name for p in (ROOT / "probes").iterdir()) == run["probes_before"]


@pytest.mark.parametrize(
    ("name", "because"),
    [
        ("lambda_h5", "Lambda layer"),
        ("nested_h5", "Lambda layer"),
        ("escaped_h5", "Lambda layer"),
        ("late_h5", "Lambda layer"),
        ("renamed", "its name says a Keras v3 zip, but its bytes are HDF5"),
        ("module_keras", "function os.system"),
        ("tfsm_keras", "TFSMLayer"),
        ("writer", "WriteFile op"),
        ("symlinks", "symbolic link"),
        ("zip_bomb", "zip bomb"),
        ("fill_bomb", "fill-value or compression bomb"),
        ("zip_slip", "points outside the archive"),
    ],
)
def test_each_file_is_refused_with_what_was_found(run: Any, name: str, because: str) -> None:
    """Keras 3.15 enforces safe_mode for .keras and .h5 with no known way past
    it: there the gate lets code in a config through and Keras itself refuses
    it (a load-error, and still no marker). Everywhere else, and for whatever
    is not config code, the gate refuses before any loader runs."""
    doc = run["doc"]
    (artifact,) = [a for a in doc["artifacts"] if a["producer"] == f"user:{name}"]
    reference_error = artifact["reference_error"] or ""
    assert "no env could load it" in reference_error or "refused" in reference_error
    for found in _cells(doc, name):
        if found["consumer"] == K3 and name in GUARDED_BY_KERAS:
            assert found["status"] == "load-error", found
            continue
        if name == "writer" and found["consumer"] == K3 and found["loader"] == "keras":
            # Keras 3 refuses a SavedModel folder before reading a byte of it.
            assert found["status"] == "load-error" and "File format not supported" in found["error"]
            continue
        if found["loader"] == "tfsm-layer" and found["consumer"] != K3:
            assert "exists only in Keras 3" in found["reason"]
            continue
        assert found["status"] == "not-applicable", found
        assert because in found["reason"], found


def test_writefile_savedmodel_is_refused_for_every_loader(run: Any) -> None:
    loaders = {c["loader"] for c in _cells(run["doc"], "writer")}
    assert {"keras", "saved-model", "serving", "tfsm-layer"} <= loaders
    for found in _cells(run["doc"], "writer"):
        if found["loader"] == "tfsm-layer" and found["consumer"] != K3:
            continue  # TFSMLayer exists only in Keras 3: not-applicable for that reason
        if found["loader"] == "keras" and found["consumer"] == K3:
            continue  # Keras 3 refuses SavedModel folders unread (checked above)
        assert "WriteFile op" in found["reason"] or "PrintV2" in found["reason"], found


def test_symlink_targets_are_never_copied_in(run: Any) -> None:
    copied = run["tmp"] / "out" / "user" / "symlinks"
    texts = [p.read_bytes() for p in copied.rglob("*") if p.is_file()] if copied.exists() else []
    assert all(SECRET.encode() not in t for t in texts)


MEASURE = """
import json, resource, sys, time
from pathlib import Path
from matrix.paths import Layout
from matrix.safety import inspections
layout = Layout(Path(sys.argv[1]), Path(sys.argv[1]))
started = time.monotonic()
found = inspections.ensure(layout, [(p.stem, p) for p in Path(sys.argv[1]).glob("*.*")])
print(json.dumps({
    "seconds": time.monotonic() - started,
    "kinds": {k: [f.kind.value for f in v.findings] for k, v in found.items()},
    "peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
}))
"""


def test_bombs_are_refused_fast_with_bounded_memory(
    hostile: dict[str, Path], tmp_path: Path
) -> None:
    """Inspected in a fresh process, so RUSAGE_CHILDREN is the inspector's peak alone."""
    import subprocess
    import sys

    for name in ("zip_bomb", "fill_bomb"):
        shutil.copyfile(hostile[name], tmp_path / hostile[name].name)
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    measured = json.loads(done.stdout.splitlines()[-1])
    assert measured["kinds"] == {"bomb": ["resource"], "fill": ["resource"]}
    assert measured["seconds"] < 20
    assert measured["peak_kib"] < 512 * 1024  # under 512 MiB, for a 1 GiB and an 8 GiB bomb


def test_cells_say_why_in_the_report(run: Any) -> None:
    text = (run["tmp"] / "reports" / "compat.md").read_text(encoding="utf-8")
    assert "refused without --unsafe" in text
    doc = run["doc"]
    assert doc["run"]["unsafe"] is False
    envs = {e["id"]: e for e in doc["envs"]}
    expected = "ABI" if _landlock_abi() > 0 else "unavailable"
    for env in ENVS:
        assert envs[env]["sandbox"]["landlock"].startswith(expected), envs[env]["sandbox"]


def _landlock_abi() -> int:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return int(libc.syscall(444, None, ctypes.c_size_t(0), 1))


def test_control_zoo_cells_still_pass(run: Any) -> None:
    for env in ENVS:
        (found,) = [
            c
            for c in run["doc"]["cells"]
            if c["producer"] == env and c["consumer"] == env and c["model"] == "mlp"
        ]
        assert found["status"] in {"identical", "close"}, found


def test_fill_value_bomb_is_a_real_hdf5_file(hostile: dict[str, Path]) -> None:
    """The control: h5py reads the declared shape, so a loader would allocate it."""
    with h5py.File(hostile["fill_bomb"], "r") as handle:
        dataset = handle["model_weights/extra/kernel"]
        assert dataset.shape == (2**31,) and dataset.id.get_storage_size() == 0
        assert np.asarray(dataset[:4]).tolist() == [1.0] * 4
    assert hostile["fill_bomb"].stat().st_size < 2**20
