"""Inspect a Keras v3 archive (`.keras`, a zip) member by member.

Sizes come from the central directory and are checked before a byte is
inflated; reads are capped at the declared size, so a member that lies
about its size fails its CRC instead of filling memory. Member names that
climb out (`../`, absolute, drive letters), symbolic links and duplicates are
refused. `config.json` is parsed as JSON; the weights file inside is copied
out (size-checked) and inspected as HDF5.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

from matrix.safety import hdf5, kerasconfig
from matrix.safety.findings import Finding, Kind, Scope, oversized, unreadable
from matrix.safety.limits import Limits

CONFIG = "config.json"
METADATA = "metadata.json"
WEIGHTS_H5 = "model.weights.h5"


def inspect_archive(path: Path, limits: Limits, where: str, scratch: Path) -> list[Finding]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return [unreadable(f"not a readable zip ({exc})", where)]
    with archive:
        infos = archive.infolist()
        findings = _members(infos, path.stat().st_size, limits, where)
        if any(f.kind in (Kind.RESOURCE, Kind.UNREADABLE) for f in findings):
            return findings
        names = {info.filename: info for info in infos}
        if CONFIG not in names:
            return [
                *findings,
                unreadable("a zip without config.json is not a Keras archive", where),
            ]
        for name in (CONFIG, METADATA):
            if name in names:
                findings += _json_member(archive, names[name], limits, f"{where}:{name}")
        if WEIGHTS_H5 in names:
            findings += _weights(
                archive, names[WEIGHTS_H5], limits, f"{where}:{WEIGHTS_H5}", scratch
            )
    return findings


def _members(
    infos: list[zipfile.ZipInfo], stored: int, limits: Limits, where: str
) -> list[Finding]:
    if len(infos) > limits.members:
        return [oversized(f"{len(infos)} members, over the limit of {limits.members}", where)]
    findings = []
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        if name in seen:
            return [unreadable(f"member {name!r} appears twice", where)]
        seen.add(name)
        if _climbs_out(name):
            what = f"member name {name!r} points outside the archive"
            findings.append(Finding(Kind.OUTSIDE, what, where, Scope.EVERYTHING))
        if stat.S_ISLNK(info.external_attr >> 16):
            findings.append(
                Finding(
                    Kind.OUTSIDE, f"member {name!r} is a symbolic link", where, Scope.EVERYTHING
                )
            )
        total += info.file_size
    allowed = limits.allowed_expansion(stored)
    if total > allowed:
        what = f"members inflate to {total} bytes from {stored} (over {allowed}: a zip bomb)"
        return [oversized(what, where)]
    return findings


def _climbs_out(name: str) -> bool:
    if "\\" in name or "\x00" in name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return True
    return ".." in PurePosixPath(name).parts


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    with archive.open(info) as member:
        return member.read(limit + 1)


def _json_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, where: str
) -> list[Finding]:
    if info.file_size > limits.config_bytes:
        return [kerasconfig.config_size_error(info.file_size, limits.config_bytes, where)]
    try:
        data = _read(archive, info, limits.config_bytes)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        return [unreadable(f"cannot inflate it ({exc})", where)]
    if len(data) > limits.config_bytes:
        return [kerasconfig.config_size_error(len(data), limits.config_bytes, where)]
    return kerasconfig.inspect_json(data, where)


def _weights(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, where: str, scratch: Path
) -> list[Finding]:
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        target = Path(folder) / "weights.h5"
        try:
            with archive.open(info) as member, target.open("wb") as out:
                shutil.copyfileobj(member, out, 1 << 20)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
            return [unreadable(f"cannot inflate it ({exc})", where)]
        _, findings = hdf5.inspect_hdf5(target, limits, where)
    return findings
