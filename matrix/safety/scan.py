"""Inspect one model file or folder: what it is, and what loading it would do.

The format comes from the bytes (`sniff`); a name that claims another format
is a finding. Then the inspector of that format reads what loaders would
read. Runs in the inspection worker (`worker.py`), never in the host's own
process, so a file that crashes or exhausts the HDF5 library costs only the
worker.
"""

from __future__ import annotations

from pathlib import Path

from matrix import sniff
from matrix.safety import archive, folders, hdf5, onnx, savedmodel, tfjs, tflite, traits
from matrix.safety.findings import Finding, Inspection, Kind, mismatched, unreadable
from matrix.safety.limits import DEFAULT, Limits

OUT_OF_LIMITS = (Kind.RESOURCE, Kind.UNREADABLE, Kind.MISMATCH)


def inspect_path(path: Path, scratch: Path, limits: Limits = DEFAULT) -> Inspection:
    where = path.name
    try:
        found = sniff.content_format(path)
    except OSError as exc:
        return Inspection(None, (unreadable(f"cannot read it ({exc.strerror})", where),))
    problem = sniff.mismatch(path, sniff.claimed_format(path), found)
    if problem is not None:
        return Inspection(found, (mismatched(problem, where),))
    inspector = _INSPECTORS.get(found or "", _hdf5)
    fmt, findings, notes = inspector(path, limits, where, scratch)
    # What the file says of itself, read only from a file within the limits.
    within = fmt is not None and not any(f.kind in OUT_OF_LIMITS for f in findings)
    about = traits.describe(path, fmt, limits) if within and fmt is not None else {}
    return Inspection(fmt, tuple(dict.fromkeys(findings)), notes, about)


Found = tuple[str | None, list[Finding], tuple[str, ...]]


def _savedmodel(path: Path, limits: Limits, where: str, scratch: Path) -> Found:
    findings = folders.problems(path, limits)
    if not findings:
        findings += savedmodel.inspect_savedmodel(path, limits, where)
    return (
        "savedmodel",
        findings,
        ("every node and library function of saved_model.pb, keras_metadata.pb",),
    )


def _archive(path: Path, limits: Limits, where: str, scratch: Path) -> Found:
    findings = archive.inspect_archive(path, limits, where, scratch)
    return (
        "keras",
        findings,
        ("every member's size and name, config.json, metadata.json, model.weights.h5",),
    )


def _tflite(path: Path, limits: Limits, where: str, scratch: Path) -> Found:
    findings = tflite.inspect_tflite(path, limits, where)
    return (
        "tflite",
        findings,
        ("every operator code (custom and Flex ops), every tensor's declared size",),
    )


def _onnx(path: Path, limits: Limits, where: str, scratch: Path) -> Found:
    findings = folders.problems(path, limits) if path.is_dir() else []
    model_file = sniff.onnx_model_file(path) if path.is_dir() else path
    if model_file is None:
        findings.append(unreadable("no single ONNX model file in the folder", where))
    elif not findings:
        findings += onnx.inspect_onnx(path, model_file, limits, where)
    return (
        "onnx",
        findings,
        (
            "every node of the graph and its subgraphs (operator domains), every tensor's "
            "declared size, every external data path",
        ),
    )


def _tfjs(path: Path, limits: Limits, where: str, scratch: Path) -> Found:
    findings = folders.problems(path, limits)
    if not findings:
        findings += tfjs.inspect_tfjs(path, limits, where)
    return (
        sniff.content_format(path),
        findings,
        ("model.json, every weight shard's path and declared size",),
    )


def _hdf5(path: Path, limits: Limits, where: str, scratch: Path) -> Found:
    fmt, findings = hdf5.inspect_hdf5(path, limits, where)
    return (
        fmt,
        list(findings),
        ("model_config, training_config, every group, dataset, link and attribute size",),
    )


_INSPECTORS = {
    "savedmodel": _savedmodel,
    "keras": _archive,
    "tflite": _tflite,
    "onnx": _onnx,
    "tfjs-layers": _tfjs,
    "tfjs-graph": _tfjs,
}
