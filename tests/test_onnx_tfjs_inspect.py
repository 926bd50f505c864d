""".onnx files and TF.js folders, hostile ones built here byte by byte:
external data outside the folder, weight paths climbing out, size bombs,
Python-running operator domains, files that do not parse. Decided by
content, never by name."""

from __future__ import annotations

import json
from pathlib import Path

from matrix import sniff
from matrix.safety import scan
from matrix.safety.findings import Kind


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: bytes | int | str) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _tensor(name: str, dims: list[int], raw: bytes = b"", external: str | None = None,
            length: int = 0) -> bytes:  # fmt: skip
    body = b"".join(_field(1, d) for d in dims) + _field(2, 1) + _field(8, name)
    if external is not None:
        body += _field(13, _field(1, "location") + _field(2, external))
        body += _field(13, _field(1, "length") + _field(2, str(length)))
        body += _field(14, 1)
    elif raw:
        body += _field(9, raw)
    return body


def onnx_model(tensors: list[bytes], ops: list[tuple[str, str]] = (("", "Relu"),)) -> bytes:  # type: ignore[assignment]
    """A ModelProto: IR 8, opset 13, a graph with these initializers and nodes."""
    nodes = b"".join(_field(1, _field(4, op) + _field(7, domain)) for domain, op in ops)
    graph = nodes + b"".join(_field(5, t) for t in tensors) + _field(2, "g")
    return _field(1, 8) + _field(2, "tf2onnx") + _field(7, graph) + _field(8, _field(2, 13))


def _inspect(path: Path, tmp: Path) -> scan.Inspection:
    return scan.inspect_path(path, tmp / "scratch")


def test_a_plain_onnx_file_is_read_by_content(tmp_path: Path) -> None:
    model = tmp_path / "model.bin"  # no .onnx name: the bytes decide
    model.write_bytes(onnx_model([_tensor("w", [2, 2], raw=b"\0" * 16)]))
    found = _inspect(model, tmp_path)
    assert found.format == "onnx" and found.findings == ()
    assert found.traits["opsets"] == {"ai.onnx": 13} and found.traits["ops"] == ["ai.onnx:Relu"]


def test_hostile_onnx_files_are_refused(tmp_path: Path) -> None:
    outside = tmp_path / "climbs"
    outside.mkdir()
    (outside / "model.onnx").write_bytes(
        onnx_model([_tensor("w", [4], external="../../etc/passwd", length=16)])
    )
    absolute = tmp_path / "absolute.onnx"
    absolute.write_bytes(onnx_model([_tensor("w", [4], external="/etc/passwd", length=16)]))
    bomb = tmp_path / "bomb.onnx"
    bomb.write_bytes(onnx_model([_tensor("w", [1 << 20, 1 << 20], raw=b"\0" * 8)]))
    python = tmp_path / "pyop.onnx"
    python.write_bytes(onnx_model([], ops=[("ai.onnx.contrib", "PyOp")]))
    for path, kind, words in (
        (outside, Kind.OUTSIDE, "not a plain path inside the model's folder"),
        (absolute, Kind.OUTSIDE, "not a plain path"),
        (bomb, Kind.RESOURCE, "declaring"),
        (python, Kind.CODE, "runs Python"),
    ):
        found = _inspect(path, tmp_path)
        assert found.format == "onnx", path
        assert any(f.kind is kind and words in f.what for f in found.findings), found.findings
    # External data beside the model, inside its folder: fine.
    fine = tmp_path / "fine"
    fine.mkdir()
    (fine / "weights.bin").write_bytes(b"\0" * 16)
    (fine / "model.onnx").write_bytes(onnx_model([_tensor("w", [4], external="weights.bin",
                                                          length=16)]))  # fmt: skip
    assert _inspect(fine, tmp_path).findings == ()
    link = tmp_path / "link"
    link.mkdir()
    (link / "weights.bin").symlink_to("/etc/passwd")
    (link / "model.onnx").write_bytes((fine / "model.onnx").read_bytes())
    assert any(f.kind is Kind.OUTSIDE for f in _inspect(link, tmp_path).findings)


def test_a_truncated_onnx_file_is_no_model(tmp_path: Path) -> None:
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(onnx_model([_tensor("w", [2], raw=b"\0" * 8)])[:-5])
    found = _inspect(cut, tmp_path)
    # The bytes are not a ModelProto: the name's claim is refused, nothing loads it.
    assert found.findings and found.findings[0].kind in (Kind.MISMATCH, Kind.UNREADABLE)


def _tfjs(folder: Path, paths: list[str], shape: list[int], graph: bool = False) -> Path:
    folder.mkdir()
    dense = {"class_name": "Dense", "config": {"units": 2}}
    keras = {"class_name": "Sequential", "config": {"layers": [dense]}, "keras_version": "2.15.0"}
    topology = {"node": [{"name": "x", "op": "Placeholder"}]} if graph else keras
    weights = [{"name": "w", "shape": shape, "dtype": "float32"}]
    manifest = [{"paths": paths, "weights": weights}]
    (folder / "model.json").write_text(json.dumps({
        "format": "graph-model" if graph else "layers-model", "modelTopology": topology,
        "weightsManifest": manifest}), encoding="utf-8")  # fmt: skip
    return folder


def test_tfjs_folders_by_content_and_hostile_ones_refused(tmp_path: Path) -> None:
    layers = _tfjs(tmp_path / "layers", ["group1-shard1of1.bin"], [2, 2])
    (layers / "group1-shard1of1.bin").write_bytes(b"\0" * 16)
    found = _inspect(layers, tmp_path)
    assert found.format == "tfjs-layers" and found.findings == (), found.findings
    assert found.traits["layers"] == ["Dense"] and found.traits["keras_version"] == "2.15.0"
    graph = _tfjs(tmp_path / "graph", ["w.bin"], [4], graph=True)
    (graph / "w.bin").write_bytes(b"\0" * 16)
    assert sniff.content_format(graph) == "tfjs-graph"
    for name, paths, shape, words in (
        ("climbs", ["../../../etc/passwd"], [4], "not a plain path"),
        ("url", ["https://example.com/w.bin"], [4], "not a plain path"),
        ("missing", ["nowhere.bin"], [4], "no such file"),
    ):
        folder = _tfjs(tmp_path / name, paths, shape)
        found = _inspect(folder, tmp_path)
        assert any(f.kind is Kind.OUTSIDE and words in f.what for f in found.findings), name
    bomb = _tfjs(tmp_path / "bomb", ["w.bin"], [1 << 20, 1 << 20])
    (bomb / "w.bin").write_bytes(b"\0" * 16)
    assert any(f.kind is Kind.RESOURCE for f in _inspect(bomb, tmp_path).findings)
