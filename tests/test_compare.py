from __future__ import annotations

import numpy as np

from matrix.results.compare import compare_outputs
from matrix.settings import Tolerance
from matrix.status import Status

F32 = Tolerance(1e-5, 1e-4)


def arr(*values: float, dtype: str = "float32") -> np.ndarray:
    return np.array(values, dtype=dtype)


def test_bitwise_equal_is_identical() -> None:
    result = compare_outputs([arr(1.0, 2.0)], [arr(1.0, 2.0)], F32)
    assert result.status is Status.IDENTICAL
    assert (result.max_abs, result.max_rel, result.max_ulp) == (0.0, 0.0, 0)


def test_same_values_in_another_dtype_are_close_not_identical() -> None:
    result = compare_outputs([arr(1.0, 2.0)], [arr(1.0, 2.0, dtype="float64")], F32)
    assert result.status is Status.CLOSE


def test_one_ulp_apart_is_close_and_counts_one_ulp() -> None:
    ref = arr(1.0, -3.0)
    out = np.nextafter(ref, np.float32(10))
    result = compare_outputs([ref], [out], F32)
    assert result.status is Status.CLOSE
    assert result.max_ulp == 1


def test_ulp_counts_across_zero() -> None:
    tiny = np.float32(np.finfo(np.float32).smallest_subnormal)
    result = compare_outputs([arr(tiny)], [arr(-tiny)], Tolerance(0, 0))
    assert result.max_ulp == 2


def test_beyond_tolerance_is_drift_with_distances() -> None:
    result = compare_outputs([arr(1.0, 2.0)], [arr(1.0, 2.5)], F32)
    assert result.status is Status.DRIFT
    assert result.max_abs == 0.5
    assert result.max_rel == 0.25
    assert result.max_ulp is not None and result.max_ulp > 1000


def test_tolerance_is_per_policy() -> None:
    ref, out = arr(1.0), arr(1.004)
    assert compare_outputs([ref], [out], F32).status is Status.DRIFT
    assert compare_outputs([ref], [out], Tolerance(1e-2, 1e-2)).status is Status.CLOSE


def test_nan_where_reference_is_finite_is_nan_never_masked() -> None:
    result = compare_outputs([arr(1.0, 2.0)], [arr(1.0, np.nan)], F32)
    assert result.status is Status.NAN


def test_matching_nan_pattern_compares_the_rest() -> None:
    result = compare_outputs([arr(np.nan, 2.0)], [arr(np.nan, 2.0)], F32)
    assert result.status is Status.IDENTICAL
    result = compare_outputs([arr(np.nan, 2.0)], [arr(np.nan, 2.00001)], F32)
    assert result.status is Status.CLOSE


def test_inf_sign_flip_is_nan_status() -> None:
    result = compare_outputs([arr(np.inf)], [arr(-np.inf)], F32)
    assert result.status is Status.NAN


def test_shape_or_count_mismatch_is_drift_with_detail() -> None:
    result = compare_outputs([arr(1.0, 2.0)], [arr(1.0)], F32)
    assert result.status is Status.DRIFT
    assert result.detail is not None and "shape" in result.detail
    result = compare_outputs([arr(1.0)], [arr(1.0), arr(2.0)], F32)
    assert result.status is Status.DRIFT
    assert result.detail is not None and "2 output(s)" in result.detail


def test_float16_reference_counts_ulp_in_float16() -> None:
    ref = np.array([1.0], dtype=np.float16)
    out = np.nextafter(ref, np.float16(2)).astype(np.float16)
    result = compare_outputs([ref], [out], Tolerance(1e-2, 1e-2))
    assert result.max_ulp == 1
    assert result.status is Status.CLOSE


def test_garbage_beside_a_zero_is_drift_with_distances_json_can_hold() -> None:
    """An uninitialised buffer (1e31 where the reference has 0.0, or values
    apart by more than float64 holds) is drift, and every distance stays a
    finite number: a report's JSON has no Infinity."""
    import json

    garbage = compare_outputs([arr(0.0, 2.0)], [arr(1e31, 2.5)], F32)
    assert garbage.status is Status.DRIFT
    assert (garbage.max_abs, garbage.max_rel) == (np.float32(1e31), 0.25)  # the zero is skipped
    overflow = compare_outputs([arr(1e308, dtype="float64")], [arr(-1e308, dtype="float64")], F32)
    assert overflow.max_abs == overflow.max_rel == np.finfo(np.float64).max
    for result in (garbage, overflow):
        json.dumps([result.max_abs, result.max_rel, result.max_ulp], allow_nan=False)
