"""Compare: a consumer's outputs against the producer's reference.

NaN/Inf patterns are compared first and never masked; then bitwise equality;
then `|a - b| <= atol + rtol * |b|` element-wise with the artifact policy's
tolerance. Max abs, max rel and max ULP are reported for every comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from matrix.results.status import Status
from matrix.selection.config import Tolerance

_ORDERED_INT = {2: np.int16, 4: np.int32, 8: np.int64}


@dataclass(frozen=True)
class Comparison:
    status: Status
    max_abs: float | None = None
    max_rel: float | None = None
    max_ulp: int | None = None
    detail: str | None = None


def compare_outputs(
    reference: Sequence[np.ndarray], actual: Sequence[np.ndarray], tolerance: Tolerance
) -> Comparison:
    if len(reference) != len(actual):
        return Comparison(
            Status.DRIFT,
            detail=f"model returned {len(actual)} output(s); the reference has {len(reference)}",
        )
    for index, (ref, out) in enumerate(zip(reference, actual, strict=True)):
        if ref.shape != out.shape:
            return Comparison(
                Status.DRIFT,
                detail=f"output {index} has shape {out.shape}; the reference has {ref.shape}",
            )
    pairs = [(_float(r), _float(a)) for r, a in zip(reference, actual, strict=True)]
    max_abs, max_rel, max_ulp = _distances(reference, actual)
    for index, (ref, out) in enumerate(pairs):
        if _nonfinite_pattern_differs(ref, out):
            return Comparison(
                Status.NAN,
                max_abs,
                max_rel,
                max_ulp,
                detail=f"output {index}: NaN/Inf positions differ from the reference",
            )
    if all(_bitwise_equal(r, a) for r, a in zip(reference, actual, strict=True)):
        return Comparison(Status.IDENTICAL, 0.0, 0.0, 0)
    within = all(_within(ref, out, tolerance) for ref, out in pairs)
    status = Status.CLOSE if within else Status.DRIFT
    return Comparison(status, max_abs, max_rel, max_ulp)


def _float(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind in "fc":
        return array.astype(np.float64)
    if array.dtype.kind in "iub":
        return array.astype(np.float64)
    return array


def _bitwise_equal(ref: np.ndarray, out: np.ndarray) -> bool:
    return ref.dtype == out.dtype and ref.tobytes() == out.tobytes()


def _nonfinite_pattern_differs(ref: np.ndarray, out: np.ndarray) -> bool:
    if ref.dtype.kind != "f":
        return False
    return bool(
        np.any(np.isnan(ref) != np.isnan(out))
        or np.any(np.isposinf(ref) != np.isposinf(out))
        or np.any(np.isneginf(ref) != np.isneginf(out))
    )


def _within(ref: np.ndarray, out: np.ndarray, tolerance: Tolerance) -> bool:
    if ref.dtype.kind != "f":
        return bool(np.array_equal(ref, out))
    finite = np.isfinite(ref) & np.isfinite(out)
    diff = np.abs(ref[finite] - out[finite])
    return bool(np.all(diff <= tolerance.atol + tolerance.rtol * np.abs(ref[finite])))


def _distances(
    reference: Sequence[np.ndarray], actual: Sequence[np.ndarray]
) -> tuple[float | None, float | None, int | None]:
    abs_max = rel_max = 0.0
    ulp_max = 0
    numeric = False
    for ref, out in zip(reference, actual, strict=True):
        if ref.dtype.kind not in "fiub" or out.dtype.kind not in "fiub":
            continue
        numeric = True
        r, a = ref.astype(np.float64), out.astype(np.float64)
        finite = np.isfinite(r) & np.isfinite(a)
        if not finite.any():
            continue
        diff = np.abs(r[finite] - a[finite])
        scale = np.maximum(np.abs(r[finite]), np.finfo(np.float64).tiny)
        abs_max = max(abs_max, float(diff.max()))
        rel_max = max(rel_max, float((diff / scale).max()))
        ulp_max = max(ulp_max, _max_ulp(ref, out, finite))
    if not numeric:
        return None, None, None
    return abs_max, rel_max, ulp_max


def _max_ulp(ref: np.ndarray, out: np.ndarray, finite: np.ndarray) -> int:
    """ULP distance in the reference's float type (float16/32/64)."""
    if ref.dtype.kind != "f" or ref.dtype.itemsize not in _ORDERED_INT:
        return 0
    int_type = _ORDERED_INT[ref.dtype.itemsize]
    r = _ordered(ref[finite].astype(ref.dtype), int_type)
    a = _ordered(out[finite].astype(ref.dtype), int_type)
    return int(np.abs(r - a).max()) if r.size else 0


def _ordered(values: np.ndarray, int_type: type[np.signedinteger]) -> np.ndarray:
    """Map floats to integers whose order and spacing match the float line."""
    bits = values.view(int_type).astype(np.int64)
    magnitude = np.int64(np.iinfo(int_type).max)
    return np.where(bits < 0, -(bits & magnitude), bits)
