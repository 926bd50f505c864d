"""Faults on single cells: each is classified, and every other cell keeps its result.

One matrix run over the Keras 3 env: the zoo's `mlp` (control cells), a
well-behaved user model (control), and one user model per fault.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import (
    HOSTILE,
    K3,
    PASSING,
    cell,
    document,
    run_ok,
    user_args,
)

pytestmark = pytest.mark.tf

LONG_NAME = b"\xff\xfe-" + b"n" * 180 + b".h5"


@pytest.fixture(scope="module")
def run(models: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("cell-faults")
    files = tmp / "files"
    files.mkdir()
    plain = (models / "plain.h5").read_bytes()
    (files / "empty.keras").write_bytes(b"")
    (files / "truncated.h5").write_bytes(plain[: len(plain) // 2])
    (files / "random.keras").write_bytes(bytes(range(256)) * 16)
    (files / "wrong_extension.keras").write_bytes(plain)  # HDF5 under a .keras name
    _traversal_zip(models / "plain.keras", files / "traversal.keras")
    shutil.copytree(models / "plain_served", files / "no_variables")
    shutil.rmtree(files / "no_variables" / "variables")
    long_name = Path(os.fsdecode(os.fsencode(files) + b"/" + LONG_NAME))
    long_name.write_bytes(plain)

    args: list[str] = []
    for fault in (
        "segv",
        "abort",
        "hang",
        "sigkill",
        "memory",
        "hostile",
        "good",
        "exit_on_load",
        "raise_on_load",
    ):
        args += user_args(fault, models / "faulty.h5", models, fault, "faulty_expected.npz")
    for name in (
        "empty.keras",
        "truncated.h5",
        "random.keras",
        "wrong_extension.keras",
        "traversal.keras",
        "no_variables",
    ):
        args += user_args(name.split(".")[0], files / name, models)
    args += user_args("weird", long_name, models)
    run_ok(
        "run",
        "--envs",
        K3,
        "--models",
        "mlp",
        "--policies",
        "float32",
        "--output",
        str(tmp / "out"),
        "--reports",
        str(tmp / "reports"),
        "--cell-timeout",
        "25",
        "--memory-mb",
        "2048",
        "--max-restarts",
        "10",
        *args,
    )
    return tmp, document(tmp / "reports")


def _traversal_zip(source: Path, target: Path) -> None:
    """A .keras zip whose extra members try to climb out of any extract dir."""
    import zipfile

    with zipfile.ZipFile(source) as good, zipfile.ZipFile(target, "w") as bad:
        for item in good.infolist():
            bad.writestr(item, good.read(item))
        bad.writestr("../../../../../../tmp/compat-matrix-traversal.txt", "escaped")
        bad.writestr("/tmp/compat-matrix-absolute.txt", "escaped")


def user(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return cell(doc, producer=f"user:{name}", consumer=K3)


def test_every_planned_cell_has_a_status(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    assert doc["pending"] == []


def test_control_cells_keep_their_results(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    assert user(doc, "good")["status"] == "identical"
    for fmt, loader in (
        ("h5", "keras"),
        ("keras", "keras"),
        ("savedmodel", "saved-model"),
        ("savedmodel", "tfsm-layer"),
        ("weights", "keras"),
    ):
        zoo = cell(doc, producer=K3, consumer=K3, model="mlp", format=fmt, loader=loader)
        assert zoo["status"] in PASSING, zoo


def test_segfault_in_call_is_a_crash_with_the_signal(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    faulty = user(doc, "segv")
    assert faulty["status"] == "crash" and "SIGSEGV" in faulty["error"]


def test_abort_is_a_crash_with_the_signal(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    faulty = user(doc, "abort")
    assert faulty["status"] == "crash" and "SIGABRT" in faulty["error"]


def test_endless_loop_is_a_timeout(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    faulty = user(doc, "hang")
    assert faulty["status"] == "timeout" and "25 s limit" in faulty["error"]


def test_sigkill_like_the_oom_killer_is_a_crash(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    faulty = user(doc, "sigkill")
    assert faulty["status"] == "crash" and "SIGKILL (out of memory?)" in faulty["error"]


def test_exit_during_load_is_a_crash_with_the_code(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    faulty = user(doc, "exit_on_load")
    assert faulty["status"] == "crash" and "exited with code 7" in faulty["error"]


def test_unbounded_allocation_under_the_memory_cap(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    faulty = user(doc, "memory")
    assert faulty["status"] == "predict-error"
    assert faulty["error_type"] == "builtins.MemoryError"


def test_exception_during_load_is_a_load_error(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    faulty = user(doc, "raise_on_load")
    assert faulty["status"] == "load-error"
    assert "refuses to be built" in faulty["error_text"]


def test_hostile_message_is_kept_in_json_and_escaped_in_markdown(
    run: tuple[Path, dict[str, Any]],
) -> None:
    tmp, doc = run
    faulty = user(doc, "hostile")
    assert faulty["status"] == "predict-error"
    assert HOSTILE.splitlines()[0] in faulty["error"]
    assert "<script>" in faulty["error_text"] and "\x00" in faulty["error_text"]
    text = (tmp / "reports" / "compat.md").read_text(encoding="utf-8")
    assert "<script>" not in text and "\x1b" not in text and "\x00" not in text
    # The failure sits in two tables (the grouped failures and the per-cell
    # list); in each, the pipe in the message leaves the row's columns whole.
    rows = [line for line in text.splitlines() if "user:hostile" in line and "boom" in line]
    assert len(rows) == 2
    for row in rows:
        assert len(re.split(r"(?<!\\)\|", row)) == 10 + 2  # still exactly 10 columns
    element = ET.Element("failure", message=_xml(faulty["error_text"]))
    assert ET.fromstring(ET.tostring(element)).get("message")


def _xml(text: str) -> str:
    from matrix.escape import xml_text

    return xml_text(text)


@pytest.mark.parametrize(
    "name", ["empty", "truncated", "random", "wrong_extension", "no_variables"]
)
def test_broken_files_are_load_errors(run: tuple[Path, dict[str, Any]], name: str) -> None:
    _, doc = run
    for found in [c for c in doc["cells"] if c["producer"] == f"user:{name}"]:
        if found["status"] != "not-applicable":
            assert found["status"] == "load-error", found
            assert found["error_type"]


def test_path_traversal_members_never_leave_the_archive(run: tuple[Path, dict[str, Any]]) -> None:
    _, doc = run
    # The inspector reads the zip's member names before any env sees it, and
    # refuses the file: nothing is extracted, by Keras or by the tool.
    refused = user(doc, "traversal")
    assert refused["status"] == "not-applicable"
    assert "points outside the archive" in refused["reason"]
    assert not Path("/tmp/compat-matrix-traversal.txt").exists()
    assert not Path("/tmp/compat-matrix-absolute.txt").exists()


def test_non_utf8_long_file_name_runs_and_reports(run: tuple[Path, dict[str, Any]]) -> None:
    tmp, doc = run
    assert user(doc, "weird")["status"] == "identical"
    (artifact,) = [a for a in doc["artifacts"] if a["producer"] == "user:weird"]
    assert "\\udcff" in json.dumps(artifact["source"])
    text = (tmp / "reports" / "compat.md").read_text(encoding="utf-8")
    assert "\\udcff" in text  # spelled out, never a broken byte


def test_restarts_are_counted(run: tuple[Path, dict[str, Any]]) -> None:
    tmp, _ = run
    state = json.loads((tmp / "out" / "envs" / f"{K3}.json").read_text(encoding="utf-8"))
    assert state["consume_restarts"] == 5  # segv, abort, hang, sigkill, exit_on_load
    assert len(state["consume_startups"]) == 6
