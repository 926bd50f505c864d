from __future__ import annotations

from pathlib import Path

import pytest

from matrix.report.changes import changes, read_baseline
from matrix.results.document import Document
from matrix.selection.select import check_fail_on
from matrix.settings import DEFAULT_FAIL_ON, ConfigError

A, B = "tf2.15-keras2-py3.11-cpu", "tf2.21-keras3-py3.11-cpu"
OLD, NEW = "tf2.12-keras2-py3.11-cpu", "tf2.20-keras3-py3.11-cpu"


def doc(*statuses: tuple[str, str], envs: tuple[str, ...] = (A, B)) -> Document:
    cells = [
        {
            "producer": A,
            "consumer": B,
            "model": model,
            "policy": "float32",
            "format": "h5",
            "loader": "keras",
            "status": status,
            "error": f"{status}!",
            "max_abs": None,
        }
        for model, status in statuses
    ]
    return Document.from_dict(
        {"run": {"when": "then"}, "envs": [{"id": e} for e in envs], "cells": cells}
    )


def test_breakages_fixes_drift_and_envs() -> None:
    before = doc(
        ("m1", "identical"),
        ("m2", "load-error"),
        ("m3", "close"),
        ("m4", "crash"),
        ("m5", "not-applicable"),
        envs=(A, B, OLD),
    )
    after = doc(
        ("m1", "load-error"),
        ("m2", "identical"),
        ("m3", "drift"),
        ("m4", "timeout"),
        ("m5", "predict-error"),
        ("m6", "crash"),
        envs=(A, B, NEW),
    )
    found = changes(before, after, DEFAULT_FAIL_ON)
    assert [c["model"] for c in found["breakages"]] == ["m1"]
    assert [c["model"] for c in found["fixes"]] == ["m2"]
    assert [c["model"] for c in found["drift_grew"]] == ["m3"]
    assert [c["model"] for c in found["other"]] == ["m4", "m5"]
    # m1, m3 and m5 moved into the fail-on set; m4 was already in it; m6 is new.
    assert found["regressions"] == 3
    assert (found["envs_added"], found["envs_gone"]) == ([NEW], [OLD])


def test_fail_on_narrows_what_counts() -> None:
    found = changes(doc(("m1", "identical")), doc(("m1", "drift")), ("crash",))
    assert found["regressions"] == 0 and found["drift_grew"]


def test_unchanged_run_has_no_regressions() -> None:
    same = doc(("m1", "identical"), ("m2", "crash"))
    assert changes(same, same, DEFAULT_FAIL_ON)["regressions"] == 0


def test_bad_inputs_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Unknown --fail-on status 'broken'"):
        check_fail_on(["crash", "broken"])
    (tmp_path / "x.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"expected a compat\.json"):
        read_baseline(tmp_path / "x.json")
    with pytest.raises(ConfigError, match=r"expected a compat\.json"):
        read_baseline(tmp_path / "missing.json")
