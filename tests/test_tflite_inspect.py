"""The .tflite inspector against files built by hand: what it must find,
and what it must refuse to parse."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from matrix import sniff
from matrix.safety import gate, tflite
from matrix.safety.findings import Kind, Scope
from matrix.safety.limits import DEFAULT
from matrix.safety.scan import inspect_path
from matrix.selection.env import Env
from tests.flatbuild import tflite as build

FULLY_CONNECTED, CUSTOM = 9, 32


def write(tmp_path: Path, data: bytes, name: str = "model.tflite") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_a_plain_model_is_read_to_the_last_operator(tmp_path: Path) -> None:
    path = write(tmp_path, build([(FULLY_CONNECTED, None, 5)], [([1, 8], 0), ([8, 3], 0)]))
    assert sniff.content_format(path) == "tflite"
    assert tflite.operator_codes(path) == [(FULLY_CONNECTED, None, 5)]
    assert tflite.inspect_tflite(path, DEFAULT, path.name) == []
    inspection = inspect_path(path, tmp_path / "scratch")
    assert (inspection.format, inspection.findings) == ("tflite", ())


def test_a_flex_op_that_writes_files_is_refused_for_the_tflite_loader(tmp_path: Path) -> None:
    path = write(tmp_path, build([(FULLY_CONNECTED, None, 1), (CUSTOM, "FlexWriteFile", 1)]))
    (finding,) = tflite.inspect_tflite(path, DEFAULT, path.name)
    assert (finding.kind, finding.scope) == (Kind.OUTSIDE, Scope.GRAPH)
    assert "FlexWriteFile" in finding.what and "files" in finding.what
    inspection = inspect_path(path, tmp_path / "scratch")
    consumer = gate.consumer_of(Env.parse("litert2.3-interpreter-py3.11-cpu"), [])
    refused = gate.decide(inspection, "tflite", "tflite", consumer, unsafe=False).refused
    assert refused is not None and "FlexWriteFile" in refused
    assert gate.decide(inspection, "tflite", "tflite", consumer, unsafe=True).refused is None


def test_a_custom_op_only_informs(tmp_path: Path) -> None:
    path = write(tmp_path, build([(CUSTOM, "MyOwnKernel", 1), (CUSTOM, "FlexAddV2", 1)]))
    findings = tflite.inspect_tflite(path, DEFAULT, path.name)
    assert [f.kind for f in findings] == [Kind.CUSTOM, Kind.CUSTOM]
    consumer = gate.consumer_of(Env.parse("tf2.21-keras3-py3.11-cpu"), [])
    inspection = inspect_path(path, tmp_path / "scratch")
    assert gate.decide(inspection, "tflite", "tflite", consumer, unsafe=False).refused is None


def test_tensors_declaring_more_than_the_file_could_need_are_a_bomb(tmp_path: Path) -> None:
    # 100,000 x 100,000 float32: 40 GB for the interpreter to allocate.
    path = write(tmp_path, build([(FULLY_CONNECTED, None, 1)], [([100_000, 100_000], 0)]))
    (finding,) = tflite.inspect_tflite(path, DEFAULT, path.name)
    assert finding.kind is Kind.RESOURCE and "40000000000 bytes" in finding.what


def test_a_buffer_pointing_past_the_file_cannot_be_parsed(tmp_path: Path) -> None:
    path = write(tmp_path, build([(FULLY_CONNECTED, None, 1)], buffers=[(1 << 40, 16)]))
    (finding,) = tflite.inspect_tflite(path, DEFAULT, path.name)
    assert finding.kind is Kind.UNREADABLE and "buffer 0" in finding.what


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[:40], "past the end"),  # cut short
        (lambda b: struct.pack("<I", 1 << 30) + b[4:], "outside"),  # root past the end
        (lambda b: b[:8] + b"\xff" * (len(b) - 8), ""),  # every offset garbage
    ],
)
def test_broken_files_are_unreadable_never_followed(
    tmp_path: Path, damage: object, message: str
) -> None:
    good = build([(FULLY_CONNECTED, None, 1)], [([1, 8], 0)])
    path = write(tmp_path, damage(good))  # type: ignore[operator]
    (finding,) = tflite.inspect_tflite(path, DEFAULT, path.name)
    assert finding.kind is Kind.UNREADABLE and message in finding.what


def test_a_vector_claiming_billions_of_elements_is_refused(tmp_path: Path) -> None:
    data = bytearray(build([(FULLY_CONNECTED, None, 1)], [([1, 8], 0)]))
    marker = struct.pack("<I", 2) + struct.pack("<i", 1) + struct.pack("<i", 8)
    at = data.index(marker)  # the shape vector [1, 8]
    struct.pack_into("<I", data, at, 0x7FFFFFFF)
    path = write(tmp_path, bytes(data))
    (finding,) = tflite.inspect_tflite(path, DEFAULT, path.name)
    assert finding.kind is Kind.UNREADABLE


def test_names_and_bytes_must_agree(tmp_path: Path) -> None:
    hdf5 = write(tmp_path, b"\x89HDF\r\n\x1a\n" + bytes(64), "renamed.tflite")
    inspection = inspect_path(hdf5, tmp_path / "scratch")
    assert [f.kind for f in inspection.findings] == [Kind.MISMATCH]
    flat = write(tmp_path, build([(FULLY_CONNECTED, None, 1)]), "model.h5")
    assert [f.kind for f in inspect_path(flat, tmp_path / "s2").findings] == [Kind.MISMATCH]
