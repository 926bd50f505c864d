"""The self-check: an env that cannot read what it wrote is suspect."""

from __future__ import annotations

from typing import Any

from matrix.results import selfcheck
from matrix.results.cells import Cell

ENV = "tf2.15-keras2-py3.11-cpu"


def cell(**fields: Any) -> Cell:
    base = {
        "producer": ENV,
        "consumer": ENV,
        "model": "mlp",
        "policy": "float32",
        "format": "h5",
        "loader": "keras",
        "status": "identical",
        "error": None,
        "known": None,
    }
    return Cell.from_dict({**base, **fields})


def test_only_native_loaders_on_the_diagonal_count() -> None:
    assert selfcheck.is_diagonal(cell())
    assert selfcheck.is_diagonal(cell(format="savedmodel", loader="serving"))
    assert not selfcheck.is_diagonal(cell(format="savedmodel", loader="keras"))
    assert not selfcheck.is_diagonal(cell(consumer="tf2.21-keras3-py3.11-cpu"))


def test_unexplained_diagonal_failures_are_suspects() -> None:
    cells = [
        cell(),
        cell(model="unregistered", status="load-error", known="zoo-unregistered-layer"),
        cell(model="text", status="predict-error", error="boom"),
        cell(model="subclassed", status="no-artifact"),  # a save failure, not a read
    ]
    result = selfcheck.check(cells)
    assert result["checked"] == 4 and result["failing"] == 2 and result["explained"] == 1
    assert [s["model"] for s in result["suspects"]] == ["text"]
    assert "suspected harness defects" in selfcheck.summary(result)


def test_a_clean_run_says_so() -> None:
    result = selfcheck.check([cell(), cell(format="weights")])
    assert selfcheck.summary(result) == "self-check: every env reads what it wrote (2 cells)"
