"""Compare: a consumer's outputs against the producer's reference.

NaN/Inf patterns are compared first and never masked; then bitwise equality;
then `|a - b| <= atol + rtol * |b|` element-wise with the artifact policy's
tolerance. Max abs, max rel and max ULP are reported for every comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from matrix.settings import Tolerance
from matrix.status import Status

_ORDERED_INT = {2: np.int16, 4: np.int32, 8: np.int64}


@dataclass(frozen=True, kw_only=True)
class Distances:
    """How far outputs are from the reference: largest absolute and relative
    difference, and in units in the last place (ULP) of the reference dtype."""

    max_abs: float | None = None
    max_rel: float | None = None
    max_ulp: int | None = None


@dataclass(frozen=True, kw_only=True)
class Comparison(Distances):
    status: Status
    detail: str | None = None

    @classmethod
    def of(cls, status: Status, far: Distances, detail: str | None = None) -> Comparison:
        return cls(
            status=status,
            detail=detail,
            max_abs=far.max_abs,
            max_rel=far.max_rel,
            max_ulp=far.max_ulp,
        )


def compare_outputs(
    reference: Sequence[np.ndarray], actual: Sequence[np.ndarray], tolerance: Tolerance
) -> Comparison:
    if len(reference) != len(actual):
        return Comparison(
            status=Status.DRIFT,
            detail=f"model returned {len(actual)} output(s); the reference has {len(reference)}",
        )
    for index, (ref, out) in enumerate(zip(reference, actual, strict=True)):
        if ref.shape != out.shape:
            return Comparison(
                status=Status.DRIFT,
                detail=f"output {index} has shape {out.shape}; the reference has {ref.shape}",
            )
    pairs = [(_float(r), _float(a)) for r, a in zip(reference, actual, strict=True)]
    far = _distances(reference, actual)
    for index, (ref, out) in enumerate(pairs):
        if _nonfinite_pattern_differs(ref, out):
            detail = f"output {index}: NaN/Inf positions differ from the reference"
            return Comparison.of(Status.NAN, far, detail)
    if all(_bitwise_equal(r, a) for r, a in zip(reference, actual, strict=True)):
        return Comparison(status=Status.IDENTICAL, max_abs=0.0, max_rel=0.0, max_ulp=0)
    within = all(_within(ref, out, tolerance) for ref, out in pairs)
    return Comparison.of(Status.CLOSE if within else Status.DRIFT, far)


def _float(array: np.ndarray) -> np.ndarray:
    """Numbers (float, complex, int, bool) as float64; anything else as it is."""
    return array.astype(np.float64) if array.dtype.kind in "fciub" else array


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
    with np.errstate(over="ignore"):  # an overflow is inf: beyond any tolerance
        diff = np.abs(ref[finite] - out[finite])
    return bool(np.all(diff <= tolerance.atol + tolerance.rtol * np.abs(ref[finite])))


def _distances(reference: Sequence[np.ndarray], actual: Sequence[np.ndarray]) -> Distances:
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
        with np.errstate(over="ignore"):
            diff = np.abs(r[finite] - a[finite])
            # Relative to the reference where it is not zero; garbage read
            # from an uninitialised buffer (1e31 beside a 0.0) would make it
            # infinite, which no report can hold (JSON has no Infinity).
            scale = np.abs(r[finite])
            rel = diff[scale > 0] / scale[scale > 0]
        abs_max = max(abs_max, _finite(diff.max()))
        rel_max = max(rel_max, _finite(rel.max()) if rel.size else 0.0)
        ulp_max = max(ulp_max, _max_ulp(ref, out, finite))
    if not numeric:
        return Distances()
    return Distances(max_abs=abs_max, max_rel=rel_max, max_ulp=ulp_max)


def _finite(value: float) -> float:
    """A distance as a JSON number: an overflow is the largest float."""
    value = float(value)
    return value if np.isfinite(value) else float(np.finfo(np.float64).max)


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
