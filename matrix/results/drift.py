"""Silent changes: a loaded model that predicts fine but is not the model saved.

Compares the producer's description of a model (layer classes, key settings,
dtype policies, input shapes, weight dtypes) with the consumer's description
of what it loaded. Only settings both sides describe are compared, so a
setting a newer Keras stopped writing is not a change; one whose value moved
is.
"""

from __future__ import annotations

from typing import Any

_LIMIT = 20  # changes listed per cell; the count says if there were more


def config_changes(before: Any, after: Any) -> list[str] | None:
    """What changed in the loaded model's config; None when not comparable."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return None
    changes: list[str] = []
    if before.get("inputs") and after.get("inputs") and before["inputs"] != after["inputs"]:
        changes.append(f"input shapes {before['inputs']} -> {after['inputs']}")
    old, new = before.get("layers") or [], after.get("layers") or []
    if len(old) != len(new):
        changes.append(f"{len(old)} layers -> {len(new)}")
    for index, (x, y) in enumerate(zip(old, new, strict=False)):
        if x.get("class") != y.get("class"):
            changes.append(f"layer {index}: {x.get('class')} -> {y.get('class')}")
            continue
        for key in sorted((set(x) & set(y)) - {"class"}):
            if x[key] != y[key]:
                changes.append(f"layer {index} ({x['class']}): {key} {x[key]!r} -> {y[key]!r}")
    return _capped(changes)


def dtype_changes(before: Any, after: Any) -> list[str] | None:
    """Weight dtypes that differ from the producer's; None when not comparable."""
    if not isinstance(before, dict) or not isinstance(after, dict):
        return None
    old, new = before.get("weights"), after.get("weights")
    if not isinstance(old, list) or not isinstance(new, list):
        return None
    if len(old) != len(new):
        return [f"{len(old)} weights -> {len(new)}"]
    changes = [
        f"weight {i}: {a} -> {b}" for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b
    ]
    return _capped(changes)


def _capped(changes: list[str]) -> list[str]:
    if len(changes) <= _LIMIT:
        return changes
    return [*changes[:_LIMIT], f"... and {len(changes) - _LIMIT} more"]
