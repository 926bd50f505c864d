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
from matrix.safety import archive, folders, hdf5, savedmodel, tflite, traits
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
    findings: list[Finding] = []
    fmt: str | None = found
    if found == "savedmodel":
        findings += folders.problems(path, limits)
        if not findings:
            findings += savedmodel.inspect_savedmodel(path, limits, where)
        notes = ("every node and library function of saved_model.pb, keras_metadata.pb",)
    elif found == "keras":
        findings += archive.inspect_archive(path, limits, where, scratch)
        notes = ("every member's size and name, config.json, metadata.json, model.weights.h5",)
    elif found == "tflite":
        findings += tflite.inspect_tflite(path, limits, where)
        notes = ("every operator code (custom and Flex ops), every tensor's declared size",)
    else:
        fmt, found_h5 = hdf5.inspect_hdf5(path, limits, where)
        findings += found_h5
        notes = ("model_config, training_config, every group, dataset, link and attribute size",)
    # What the file says of itself, read only from a file within the limits.
    within = fmt is not None and not any(f.kind in OUT_OF_LIMITS for f in findings)
    about = traits.describe(path, fmt, limits) if within and fmt is not None else {}
    return Inspection(fmt, tuple(dict.fromkeys(findings)), notes, about)
