"""The safety gate: which loads may run, decided from what is in the file."""

from __future__ import annotations

import pytest

from matrix.safety import gate
from matrix.safety.findings import Finding, Inspection, Kind, Scope

K2_OLD = gate.Consumer("keras2", "2.6", (2, 6))
K2 = gate.Consumer("keras2", "2.15", (2, 15))
K3 = gate.Consumer("keras3", "3.15.1", (2, 21))
K3_OLD = gate.Consumer("keras3", "3.6.0", (2, 18))
TFK = gate.Consumer("tf-keras", "2.18.0", (2, 18))

LAMBDA = Inspection("h5", (Finding(Kind.CODE, "Lambda layer", "layer 1", Scope.CONFIG),))
MODULE = Inspection(
    "keras",
    (Finding(Kind.MODULE, "class X from module 'pkg'", "layer 2", Scope.CONFIG, "pkg>X", "pkg"),),
)
WRITEFILE = Inspection(
    "savedmodel", (Finding(Kind.OUTSIDE, "WriteFile op 'w'", "function f", Scope.GRAPH),)
)
BOMB = Inspection("keras", (Finding(Kind.RESOURCE, "zip bomb", "x.keras", Scope.EVERYTHING),))
CUSTOM = Inspection("h5", (Finding(Kind.CUSTOM, "custom class pkg>X", "layer 2", Scope.CONFIG),))
CLEAN = Inspection("h5")


def refused(inspection: Inspection | None, loader: str, fmt: str, consumer: gate.Consumer) -> bool:
    return gate.decide(inspection, loader, fmt, consumer, unsafe=False).refused is not None


@pytest.mark.parametrize(
    ("loader", "fmt", "consumer", "expected"),
    [
        ("keras", "h5", K2, True),  # Keras 2 h5 has no safe_mode (CVE-2025-9905)
        ("keras", "h5", TFK, True),
        ("keras", "h5", K3, False),  # Keras 3.15 applies safe_mode to h5 too
        ("keras", "h5", K3_OLD, True),  # Keras 3.6: known bypasses (CVE-2025-1550, ...)
        ("keras", "keras", K2, True),  # Keras 2.13-2.15 import config modules
        ("keras", "keras", TFK, True),
        ("keras", "keras", K3, False),
        ("keras", "keras", K2_OLD, False),  # TF 2.6 has no .keras reader: reads nothing
        ("keras", "savedmodel", K2, True),  # Keras 2 revives Lambda from marshalled code
        ("keras", "savedmodel", K3, False),  # Keras 3 refuses SavedModel folders unread
        ("saved-model", "savedmodel", K2, False),  # the traced graph only
        ("serving", "savedmodel", TFK, False),
        ("keras", "weights", K2, False),  # the architecture comes from the zoo
    ],
)
def test_code_in_a_config_runs_only_where_safe_mode_stops_it(
    loader: str, fmt: str, consumer: gate.Consumer, expected: bool
) -> None:
    assert refused(LAMBDA, loader, fmt, consumer) is expected
    assert gate.decide(LAMBDA, loader, fmt, consumer, unsafe=True).refused is None


def test_refusal_names_the_finding_and_the_way_in() -> None:
    why = gate.decide(LAMBDA, "keras", "h5", K2, unsafe=False).refused or ""
    assert "Lambda layer" in why and "layer 1" in why and "--unsafe" in why
    assert "keras2 2.15" in why


def test_graph_ops_block_every_graph_loader() -> None:
    for loader in ("saved-model", "serving", "tfsm-layer", "keras"):
        assert refused(WRITEFILE, loader, "savedmodel", K2)
    assert not refused(WRITEFILE, "keras", "savedmodel", K3)  # refused unread by Keras 3


def test_bombs_and_unreadable_files_block_everything() -> None:
    for loader, fmt in (("keras", "keras"), ("keras", "weights"), ("saved-model", "savedmodel")):
        assert refused(BOMB, loader, fmt, K3)
    assert refused(None, "keras", "h5", K3)  # never inspected counts as carrying code


def test_foreign_modules_are_a_condition_where_keras_imports_them() -> None:
    decision = gate.decide(MODULE, "keras", "keras", TFK, unsafe=False)
    assert decision.refused is None
    assert decision.must_resolve == (("pkg>X", "pkg"),)
    assert gate.decide(MODULE, "keras", "keras", K3, unsafe=False).must_resolve == ()
    assert gate.decide(MODULE, "keras", "keras", K3_OLD, unsafe=False).must_resolve


def test_custom_classes_and_clean_files_pass() -> None:
    assert not refused(CUSTOM, "keras", "h5", K2)
    assert not refused(CLEAN, "keras", "h5", K2)


def test_missing_loaders_are_named_before_safety() -> None:
    why = gate.skip_reason("tfsm-layer", "savedmodel", "keras2", CLEAN, K2, unsafe=False)
    assert why is not None and "Keras 3" in why
