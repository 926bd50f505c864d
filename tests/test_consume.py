"""Which loads a consumer runs at all (decided before any process starts)."""

from __future__ import annotations

import pytest

from matrix.consume import skip_reason
from matrix.env import Env

K2_OLD = Env.parse("tf2.12-keras2-py3.11-cpu")
K2 = Env.parse("tf2.15-keras2-py3.11-cpu")
K3 = Env.parse("tf2.21-keras3-py3.11-cpu")
TFK = Env.parse("tf2.18-tf-keras-py3.11-cpu")


def test_tfsm_layer_exists_only_in_keras3() -> None:
    assert skip_reason("tfsm-layer", "savedmodel", False, K3, unsafe=False) is None
    assert "Keras 3" in (skip_reason("tfsm-layer", "savedmodel", False, K2, unsafe=False) or "")
    assert skip_reason("tfsm-layer", "savedmodel", False, TFK, unsafe=False) is not None


@pytest.mark.parametrize(
    ("loader", "fmt", "env", "refused"),
    [
        ("keras", "h5", K3, True),  # legacy h5 ignores safe_mode (CVE-2025-9905)
        ("keras", "savedmodel", K2, True),  # Keras 2 revives Lambda from marshalled code
        ("keras", "keras", K2_OLD, True),  # Keras 2.12 has no safe_mode
        ("keras", "keras", K2, False),  # Keras 2.13+: safe_mode refuses the Lambda
        ("keras", "keras", K3, False),
        ("keras", "keras", TFK, False),
        ("saved-model", "savedmodel", K2, False),  # runs the traced graph only
        ("tfsm-layer", "savedmodel", K3, False),
        ("keras", "weights", K2, False),  # the architecture comes from the zoo
    ],
)
def test_lambda_runs_only_where_safe_mode_guards_it(
    loader: str, fmt: str, env: Env, refused: bool
) -> None:
    reason = skip_reason(loader, fmt, True, env, unsafe=False)
    assert (reason is not None) is refused
    if refused:
        assert "--unsafe" in (reason or "")
    assert skip_reason(loader, fmt, True, env, unsafe=True) is None


def test_models_without_code_are_never_refused() -> None:
    assert skip_reason("keras", "h5", False, K3, unsafe=False) is None
