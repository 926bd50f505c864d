"""The inspector, on files built here: what it finds, and what it refuses to read."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from matrix import sniff
from matrix.safety import folders, kerasconfig, protowire
from matrix.safety.findings import Kind
from matrix.safety.limits import DEFAULT, Limits
from matrix.safety.scan import inspect_path

LAMBDA = {"class_name": "Lambda", "config": {"name": "lam", "function": ["Zm9v", None, None]}}
DENSE = {"class_name": "Dense", "config": {"name": "dense", "units": 2, "activation": "relu"}}


def model(*layers: dict[str, object]) -> dict[str, object]:
    return {"class_name": "Functional", "config": {"name": "m", "layers": list(layers)}}


def kinds(findings: list[object]) -> list[str]:
    return [f.kind.value for f in findings]  # type: ignore[attr-defined]


# -- Keras configs ------------------------------------------------------------


def test_lambda_anywhere_in_a_config_is_code() -> None:
    nested = model(DENSE, {"class_name": "TimeDistributed", "config": {"layer": LAMBDA}})
    found = kerasconfig.inspect_config(nested, "model_config")
    assert kinds(found) == ["code"] and "Lambda layer 'lam'" in found[0].what
    assert "layers[1].config.layer" in found[0].where


def test_json_escapes_are_decoded_before_matching() -> None:
    text = json.dumps(model(LAMBDA)).replace('"Lambda"', '"\\u004cambda"')
    assert "Lambda" not in text
    assert kinds(kerasconfig.inspect_json(text, "c")) == ["code"]


@pytest.mark.parametrize(
    ("obj", "kind"),
    [
        ({"class_name": "function", "module": "os", "config": "system"}, "code"),
        ({"class_name": "function", "module": "keras.utils", "config": "get_file"}, "code"),
        ({"class_name": "function", "module": "keras.src.losses.losses", "config": "mse"}, None),
        ({"class_name": "function", "module": "builtins", "config": "mean_squared_error"}, None),
        ({"class_name": "TFSMLayer", "config": {"filepath": "/elsewhere"}}, "code"),
        ({"class_name": "__lambda__", "config": {"code": "..."}}, "code"),
        ({"class_name": "Scale", "module": "my.layers", "registered_name": "my>Scale"}, "module"),
        ({"class_name": "my>Scale"}, "custom"),
        ({"class_name": "Dense", "module": "keras.layers"}, None),
    ],
)
def test_what_counts_as_code(obj: dict[str, object], kind: str | None) -> None:
    found = kerasconfig.inspect_config(model(obj), "c")
    assert kinds(found) == ([kind] if kind else [])


def test_module_findings_carry_the_name_keras_looks_up() -> None:
    obj = {"class_name": "Scale", "module": "my.layers", "registered_name": "my>Scale"}
    (found,) = kerasconfig.inspect_config(model(obj), "c")
    assert (found.name, found.module) == ("my>Scale", "my.layers")


def test_malformed_or_deep_configs_are_unreadable() -> None:
    assert kinds(kerasconfig.inspect_json("{not json", "c")) == ["unreadable"]
    deep = "[" * 100_000 + "]" * 100_000
    assert kinds(kerasconfig.inspect_json(deep, "c")) in (["unreadable"], ["resource"])


# -- content, not names ----------------------------------------------------------


def _h5(path: Path, config: dict[str, object] | None) -> Path:
    with h5py.File(path, "w") as handle:
        if config is not None:
            handle.attrs["model_config"] = json.dumps(config)
        handle.create_dataset("model_weights/dense/kernel", data=np.ones((4, 2), "f4"))
    return path


def test_the_name_and_the_bytes_must_agree(tmp_path: Path) -> None:
    renamed = _h5(tmp_path / "model.keras", model(DENSE))
    inspection = inspect_path(renamed, tmp_path)
    assert kinds(list(inspection.findings)) == ["mismatch"]
    assert "its name says a Keras v3 zip, but its bytes are HDF5" in inspection.findings[0].what


def test_a_name_that_claims_nothing_is_decided_by_content(tmp_path: Path) -> None:
    plain = _h5(tmp_path / "model.bin", model(DENSE))
    assert inspect_path(plain, tmp_path).format == "h5"
    assert sniff.claimed_format(plain) is None


# -- HDF5 ---------------------------------------------------------------------------


def test_h5_config_and_weights(tmp_path: Path) -> None:
    assert kinds(list(inspect_path(_h5(tmp_path / "a.h5", model(LAMBDA)), tmp_path).findings)) == [
        "code"
    ]
    weights = inspect_path(_h5(tmp_path / "b.h5", None), tmp_path)
    assert weights.format == "weights" and weights.findings == ()


def test_h5_external_links_and_storage_reach_outside(tmp_path: Path) -> None:
    path = _h5(tmp_path / "ext.h5", model(DENSE))
    with h5py.File(path, "r+") as handle:
        handle["stolen"] = h5py.ExternalLink("/etc/hostname", "/data")
        handle.create_dataset("raw", shape=(4,), dtype="u1", external=[("/etc/hostname", 0, 4)])
    found = inspect_path(path, tmp_path).findings
    assert sorted(kinds(list(found))) == ["outside", "outside"]


def test_h5_fill_value_bomb(tmp_path: Path) -> None:
    path = _h5(tmp_path / "bomb.h5", model(DENSE))
    with h5py.File(path, "r+") as handle:
        handle.create_dataset("big", shape=(2**30,), dtype="f8", chunks=(2**14,), fillvalue=1.0)
    (found,) = inspect_path(path, tmp_path).findings
    assert found.kind is Kind.RESOURCE and "bomb" in found.what


def test_h5_oversized_config_is_not_read(tmp_path: Path) -> None:
    from matrix.safety import hdf5

    path = _h5(tmp_path / "big.h5", model(DENSE, {"class_name": "X", "pad": "x" * 4096}))
    _, found = hdf5.inspect_hdf5(path, Limits(config_bytes=1024), "big.h5")
    assert kinds(found) == ["resource"]


def test_truncated_h5_is_unreadable(tmp_path: Path) -> None:
    data = _h5(tmp_path / "full.h5", model(DENSE)).read_bytes()
    (tmp_path / "cut.h5").write_bytes(data[: len(data) // 2])
    assert kinds(list(inspect_path(tmp_path / "cut.h5", tmp_path).findings)) == ["unreadable"]


# -- .keras archives -----------------------------------------------------------------


def _keras(path: Path, config: object, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path


def test_keras_archive_config(tmp_path: Path) -> None:
    assert kinds(
        list(inspect_path(_keras(tmp_path / "a.keras", model(LAMBDA)), tmp_path).findings)
    ) == ["code"]
    assert inspect_path(_keras(tmp_path / "b.keras", model(DENSE)), tmp_path).findings == ()


def test_zip_members_that_climb_out(tmp_path: Path) -> None:
    path = _keras(tmp_path / "slip.keras", model(DENSE), {"../../etc/x": b"!", "/abs": b"!"})
    found = inspect_path(path, tmp_path).findings
    assert kinds(list(found)) == ["outside", "outside"]


def test_zip_bomb_is_refused_before_inflating(tmp_path: Path) -> None:
    path = tmp_path / "bomb.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", b'{"pad": "' + b" " * (80 * 2**20) + b'"}')
    found = inspect_path(path, tmp_path).findings
    assert kinds(list(found)) == ["resource"] and "zip bomb" in found[0].what
    assert path.stat().st_size < 2**20


def test_a_zip_without_config_is_not_a_keras_file(tmp_path: Path) -> None:
    path = tmp_path / "x.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("other.txt", "hello")
    assert kinds(list(inspect_path(path, tmp_path).findings)) == ["mismatch"]


# -- SavedModel graphs -------------------------------------------------------------------


def _varint(value: int) -> bytes:
    out = b""
    while True:
        byte, value = value & 0x7F, value >> 7
        out += bytes([byte | (0x80 if value else 0)])
        if not value:
            return out


def _field(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _node(name: str, op: str, inputs: tuple[str, ...] = (), stream: str | None = None) -> bytes:
    node = _field(1, name) + _field(2, op) + b"".join(_field(3, i) for i in inputs)
    if stream is not None:
        node += _field(5, _field(1, "output_stream") + _field(2, _field(2, stream)))
    return node


def _savedmodel(folder: Path, *functions: tuple[str, tuple[str, ...], list[bytes]]) -> Path:
    library = b"".join(
        _field(
            1,
            _field(1, _field(1, name) + b"".join(_field(2, _field(1, a)) for a in args))
            + b"".join(_field(3, n) for n in nodes),
        )
        for name, args, nodes in functions
    )
    graph = _field(1, _node("x", "Placeholder")) + _field(2, library)
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(_field(2, _field(2, graph)))
    (folder / "variables").mkdir()
    return folder


def test_savedmodel_ops_that_reach_outside(tmp_path: Path) -> None:
    path = _savedmodel(
        tmp_path / "sm",
        (
            "__inference_serve_1",
            ("x",),
            [_node("w", "WriteFile", ("path", "x")), _node("path", "Const")],
        ),
        ("__inference_print_2", (), [_node("p", "PrintV2", (), "file:///tmp/out")]),
        ("__inference_dead_3", (), [_node("f", "EagerPyFunc")]),
    )
    found = inspect_path(path, tmp_path).findings
    whats = sorted(f.what.split(" ")[0] for f in found)
    assert whats == ["EagerPyFunc", "PrintV2", "WriteFile"]
    assert all(f.kind is Kind.OUTSIDE for f in found)


def test_savers_fed_by_the_loader_pass_and_baked_paths_do_not(tmp_path: Path) -> None:
    saver = (
        "__inference__traced_save_4",
        ("file_prefix",),
        [
            _node("join", "StringJoin", ("file_prefix", "suffix")),
            _node("suffix", "Const"),
            _node("save", "SaveV2", ("join:output:0", "names", "slices")),
        ],
    )
    assert inspect_path(_savedmodel(tmp_path / "ok", saver), tmp_path).findings == ()
    baked = (
        "__inference_steal_5",
        (),
        [
            _node("where", "Const"),
            _node("restore", "RestoreV2", ("where:output:0", "names", "slices")),
        ],
    )
    (found,) = inspect_path(_savedmodel(tmp_path / "baked", baked), tmp_path).findings
    assert "RestoreV2" in found.what and "baked" in found.what


def test_malformed_protobuf_is_unreadable(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(_varint(2 << 3 | 2) + _varint(1000) + b"short")
    assert kinds(list(inspect_path(folder, tmp_path).findings)) == ["unreadable"]
    with pytest.raises(protowire.ProtoError):
        list(protowire.fields(b"\xff" * 11))


# -- user folders --------------------------------------------------------------------------


def test_symlinks_and_special_files_are_found_before_copying(tmp_path: Path) -> None:
    source = tmp_path / "served"
    (source / "variables").mkdir(parents=True)
    (source / "saved_model.pb").write_bytes(b"")
    (source / "variables" / "stolen").symlink_to("/etc/hostname")
    os.mkfifo(source / "pipe")
    found = folders.problems(source, DEFAULT)
    assert sorted(f.what.split(" ")[0] for f in found) == ["FIFO", "symbolic"]


def test_clean_folders_copy_byte_for_byte(tmp_path: Path) -> None:
    source = tmp_path / "served"
    (source / "variables").mkdir(parents=True)
    (source / "variables" / "data").write_bytes(b"\x00\x01" * 1000)
    assert folders.problems(source, DEFAULT) == []
    folders.copy(source, tmp_path / "copy")
    assert (tmp_path / "copy" / "variables" / "data").read_bytes() == b"\x00\x01" * 1000
