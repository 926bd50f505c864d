"""Bring a user's model into the output folder without following anything.

The source is walked first with `lstat` semantics: symbolic links, device
files, FIFOs and sockets are findings, and a source with any of them is not
copied at all. Files are then opened with O_NOFOLLOW and copied byte by byte,
so nothing outside the named file or folder is ever read or written.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from matrix.safety.findings import Finding, Kind, Scope, oversized
from matrix.safety.limits import Limits


def problems(source: Path, limits: Limits) -> list[Finding]:
    """What makes `source` unsafe to copy (empty when it is plain files)."""
    top = os.lstat(source)
    if stat.S_ISREG(top.st_mode):
        return []
    if not stat.S_ISDIR(top.st_mode):
        return [_special(source.name, top.st_mode, source.name)]
    findings: list[Finding] = []
    count = 0
    for folder, names in _tree(source):
        for name in names:
            count += 1
            if count > limits.members:
                return [oversized(f"more than {limits.members} entries", source.name)]
            path = folder / name
            mode = os.lstat(path).st_mode
            relative = str(path.relative_to(source))
            if stat.S_ISLNK(mode):
                target = str(path.readlink())
                what = f"symbolic link {relative!r} -> {target!r}"
                findings.append(Finding(Kind.OUTSIDE, what, source.name, Scope.EVERYTHING))
            elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                findings.append(_special(relative, mode, source.name))
    return findings


def _tree(root: Path) -> list[tuple[Path, list[str]]]:
    """(folder, entry names) for every folder, links never followed."""
    found = []
    stack = [root]
    while stack:
        folder = stack.pop()
        names = sorted(p.name for p in folder.iterdir())
        found.append((folder, names))
        for name in names:
            path = folder / name
            if stat.S_ISDIR(os.lstat(path).st_mode):
                stack.append(path)
    return found


def _special(relative: str, mode: int, where: str) -> Finding:
    kind = "device" if stat.S_ISBLK(mode) or stat.S_ISCHR(mode) else "special file"
    kind = "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else kind
    return Finding(Kind.OUTSIDE, f"{kind} {relative!r}", where, Scope.EVERYTHING)


def copy(source: Path, target: Path) -> None:
    """Copy a file or folder that `problems` found clean."""
    if stat.S_ISREG(os.lstat(source).st_mode):
        _copy_file(source, target)
        return
    target.mkdir(parents=True)
    for folder, names in _tree(source):
        for name in names:
            path = folder / name
            destination = target / path.relative_to(source)
            if stat.S_ISDIR(os.lstat(path).st_mode):
                destination.mkdir(exist_ok=True)
            else:
                _copy_file(path, destination)


def _copy_file(source: Path, target: Path) -> None:
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as reader:
        if not stat.S_ISREG(os.fstat(reader.fileno()).st_mode):
            msg = f"{source} is not a regular file"
            raise OSError(msg)
        with target.open("xb") as writer:
            while block := reader.read(1 << 20):
                writer.write(block)
