"""Atomic writes: the whole file or the old one, with the mode a plain open() gives."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from matrix import files


def test_written_file_is_readable_by_others_under_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        files.write_json(tmp_path / "compat.json", {"a": 1})
    finally:
        os.umask(previous)
    mode = stat.S_IMODE((tmp_path / "compat.json").stat().st_mode)
    assert mode == 0o644


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "compat.md"
    files.write_atomic(target, "old")

    def refuse(self: Path, other: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(Path, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        files.write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["compat.md"]
