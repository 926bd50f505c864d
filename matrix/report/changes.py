"""Changes since a baseline `compat.json`: breakages, fixes, drift, envs.

A regression is a cell whose status moved into the `--fail-on` set from
outside it (by default: from passing, not-applicable or a non-failing status
into drift, nan, load-error, predict-error, crash or timeout). Cells new in
this run are not regressions; they have nothing to regress from.
"""

from __future__ import annotations

from pathlib import Path

from matrix.files import JsonObject
from matrix.results.cells import KEY_FIELDS
from matrix.results.document import Document
from matrix.settings import ConfigError
from matrix.status import Status


def read_baseline(path: Path) -> Document:
    from matrix.report import jsonfile

    try:
        return jsonfile.read(path)
    except (OSError, ValueError, KeyError, IndexError, TypeError, EOFError) as exc:
        msg = (
            f"Invalid --baseline {path}: expected a compat.json written by tf-compat-matrix ({exc})"
        )
        raise ConfigError(msg) from exc


def changes(baseline: Document, current: Document, fail_on: tuple[str, ...]) -> JsonObject:
    before = {c.key: c for c in baseline.cells}
    found: dict[str, list[JsonObject]] = {
        "breakages": [],
        "drift_grew": [],
        "fixes": [],
        "other": [],
    }
    regressions = 0
    for cell in current.cells:
        old = before.get(cell.key)
        if old is None or old.status == cell.status:
            continue
        was, now = old.state, cell.state
        entry = {
            **dict(zip(KEY_FIELDS, cell.key, strict=True)),
            "before": was.value,
            "after": now.value,
            "error": cell.error,
            "max_abs": cell.max_abs,
            "max_abs_before": old.max_abs,
        }
        found[_kind(was, now)].append(entry)
        if now.value in fail_on and was.value not in fail_on:
            entry["regression"] = True
            regressions += 1
    old_envs = {state.id for state in baseline.envs}
    new_envs = {state.id for state in current.envs}
    return {
        "baseline": {
            "when": baseline.run.get("when"),
            "tool_version": baseline.run.get("tool_version"),
        },
        **found,
        "envs_added": sorted(new_envs - old_envs),
        "envs_gone": sorted(old_envs - new_envs),
        "fail_on": list(fail_on),
        "regressions": regressions,
    }


def _kind(was: Status, now: Status) -> str:
    if was.passing and now is Status.DRIFT:
        return "drift_grew"
    if was.passing and not now.passing:
        return "breakages"
    if not was.passing and now.passing:
        return "fixes"
    return "other"
