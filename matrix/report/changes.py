"""Changes since a baseline `compat.json`: breakages, fixes, drift, envs.

A regression is a cell whose status moved into the `--fail-on` set from
outside it (by default: from passing, not-applicable or a non-failing status
into drift, nan, load-error, predict-error, crash or timeout). Cells new in
this run are not regressions; they have nothing to regress from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matrix.results.status import Status
from matrix.selection.config import ConfigError, suggest

DEFAULT_FAIL_ON = ("drift", "nan", "load-error", "predict-error", "crash", "timeout")
_KEY = ("producer", "consumer", "model", "policy", "format", "loader")


def read_baseline(path: Path) -> dict[str, Any]:
    from matrix.report import jsonfile

    try:
        data = jsonfile.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        msg = f"Invalid --baseline {path}: expected a compat.json written by tf-compat-matrix"
        raise ConfigError(msg)
    return data


def check_fail_on(statuses: list[str]) -> tuple[str, ...]:
    valid = [s.value for s in Status]
    for status in statuses:
        if status not in valid:
            msg = (
                f"Unknown --fail-on status {status!r}: expected one of {', '.join(valid)}."
                f"{suggest(status, valid)}"
            )
            raise ConfigError(msg)
    return tuple(statuses)


def changes(
    baseline: dict[str, Any], current: dict[str, Any], fail_on: tuple[str, ...]
) -> dict[str, Any]:
    before = {_key(c): c for c in baseline["cells"]}
    found: dict[str, list[dict[str, Any]]] = {
        "breakages": [],
        "drift_grew": [],
        "fixes": [],
        "other": [],
    }
    regressions = 0
    for cell in current["cells"]:
        old = before.get(_key(cell))
        if old is None or old["status"] == cell["status"]:
            continue
        was, now = Status(old["status"]), Status(cell["status"])
        entry = {
            **{k: cell[k] for k in _KEY},
            "before": was.value,
            "after": now.value,
            "error": cell.get("error"),
            "max_abs": cell.get("max_abs"),
            "max_abs_before": old.get("max_abs"),
        }
        found[_kind(was, now)].append(entry)
        if now.value in fail_on and was.value not in fail_on:
            entry["regression"] = True
            regressions += 1
    old_envs = {e["id"] for e in baseline.get("envs", [])}
    new_envs = {e["id"] for e in current.get("envs", [])}
    return {
        "baseline": {
            "when": baseline.get("run", {}).get("when"),
            "tool_version": baseline.get("run", {}).get("tool_version"),
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


def _key(cell: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(cell[k] for k in _KEY)
