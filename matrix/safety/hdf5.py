"""Inspect an HDF5 model or weights file without loading a tensor.

Reads the root's `model_config` and `training_config` attributes (sizes
checked before reading), and walks every group, dataset and link: external
links, external storage and virtual datasets reach other files; a dataset
whose declared size dwarfs what the file stores (a fill value or a
compression ratio no Keras file has) would make the loader allocate it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matrix.safety import kerasconfig
from matrix.safety.findings import Finding, Kind, Scope, oversized, unreadable
from matrix.safety.limits import Limits

CONFIG_ATTRIBUTES = ("model_config", "training_config")


def inspect_hdf5(path: Path, limits: Limits, where: str) -> tuple[str, list[Finding]]:
    """(format, findings): "h5" when the file holds a model config, "weights"
    when it holds weights only."""
    import h5py

    try:
        handle = h5py.File(path, "r")
    except Exception as exc:  # noqa: BLE001 - HDF5 raises many kinds for a bad file
        return "h5", [unreadable(f"HDF5 cannot open it ({_short(exc)})", where)]
    with handle:
        try:
            findings, has_config = _root_configs(handle, limits, where)
            findings += _walk(handle, path.stat().st_size, limits, where)
        except Exception as exc:  # noqa: BLE001
            return "h5", [unreadable(f"HDF5 error while walking it ({_short(exc)})", where)]
    return ("h5" if has_config else "weights"), findings


def _root_configs(handle: Any, limits: Limits, where: str) -> tuple[list[Finding], bool]:
    findings: list[Finding] = []
    has_config = False
    for name in CONFIG_ATTRIBUTES:
        if name not in handle.attrs:
            continue
        has_config = has_config or name == "model_config"
        size = _attribute_size(handle, name)
        if size > limits.config_bytes:
            findings.append(
                kerasconfig.config_size_error(size, limits.config_bytes, f"{where}:{name}")
            )
            continue
        value = handle.attrs[name]
        if isinstance(value, (bytes, str)) and len(value) > limits.config_bytes:
            findings.append(
                kerasconfig.config_size_error(len(value), limits.config_bytes, f"{where}:{name}")
            )
            continue
        if isinstance(value, bytes):
            text: str | bytes = value
        elif isinstance(value, str):
            text = value
        else:
            findings.append(unreadable(f"attribute {name} is not text", f"{where}:{name}"))
            continue
        findings += kerasconfig.inspect_json(text, f"{where}:{name}")
    return findings, has_config


def _attribute_size(obj: Any, name: str) -> int:
    """Bytes an attribute holds, from its type and dataspace, before reading it.

    A variable-length string lives in the file's heap, so it can never be
    larger than the file; its length is checked again once read."""
    attribute = obj.attrs.get_id(name)
    kind = attribute.get_type()
    if getattr(kind, "is_variable_str", lambda: False)():
        return 0
    return int(attribute.get_space().get_simple_extent_npoints()) * int(kind.get_size())


def _walk(handle: Any, stored: int, limits: Limits, where: str) -> list[Finding]:
    import h5py

    findings: list[Finding] = []
    declared = 0
    visited: set[Any] = set()
    objects = 0
    stack: list[tuple[Any, str]] = [(handle, "/")]
    while stack:
        group, path = stack.pop()
        for name in group:
            objects += 1
            if objects > limits.hdf5_objects:
                return [oversized(f"more than {limits.hdf5_objects} HDF5 objects", where)]
            member = f"{path.rstrip('/')}/{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                what = f"HDF5 external link to {link.filename!r}"
                findings.append(Finding(Kind.OUTSIDE, what, f"{where}:{member}", Scope.WEIGHTS))
                continue
            if isinstance(link, h5py.SoftLink):
                continue  # points inside this file; its target is walked where it lives
            obj = group[name]
            key = _identity(obj)
            if key in visited:
                continue
            visited.add(key)
            findings += _attribute_findings(obj, limits, f"{where}:{member}")
            if isinstance(obj, h5py.Group):
                stack.append((obj, member))
            elif isinstance(obj, h5py.Dataset):
                size, found = _dataset(obj, f"{where}:{member}")
                declared += size
                findings += found
    allowed = limits.allowed_expansion(stored)
    if declared > allowed:
        what = (
            f"datasets declare {declared} bytes but the file stores {stored} "
            f"(more than {allowed} would be allocated: a fill-value or compression bomb)"
        )
        findings.append(oversized(what, where))
    return findings


def _identity(obj: Any) -> Any:
    """Hard links can make cycles; an object is visited once."""
    import h5py

    info = h5py.h5o.get_info(obj.id)
    return getattr(info, "token", None) or getattr(info, "addr", None) or obj.name


def _attribute_findings(obj: Any, limits: Limits, where: str) -> list[Finding]:
    for name in obj.attrs:
        size = _attribute_size(obj, name)
        if size > limits.attribute_bytes:
            return [oversized(f"attribute {name!r} of {size} bytes", where)]
    return []


def _dataset(dataset: Any, where: str) -> tuple[int, list[Finding]]:
    findings = []
    if dataset.external:
        files = ", ".join(repr(str(entry[0])) for entry in dataset.external)
        what = f"dataset stored in external files {files}"
        findings.append(Finding(Kind.OUTSIDE, what, where, Scope.WEIGHTS))
    if dataset.is_virtual:
        findings.append(
            Finding(Kind.OUTSIDE, "virtual dataset mapping other files", where, Scope.WEIGHTS)
        )
    size = 1
    for dim in dataset.shape or ():
        size *= int(dim)
    return size * dataset.dtype.itemsize, findings


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
