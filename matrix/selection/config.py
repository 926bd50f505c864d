"""Reading settings: `[tool.compat-matrix]` in pyproject.toml, overridden by the CLI.

Every bad value is a `ConfigError` that names the key, what was expected and
what was received, raised before any env starts.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from matrix import axes
from matrix.settings import ConfigError, Settings, Timeouts, Tolerance, suggest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 hosts
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

SECTION = "compat-matrix"


_CHOICES: dict[str, tuple[str, ...]] = {
    "models": axes.MODELS,
    "formats": axes.FORMATS,
    "loaders": axes.LOADERS,
    "policies": axes.POLICIES,
    "devices": axes.DEVICES,
    "backends": axes.BACKENDS,
}


def read_pyproject(path: Path) -> dict[str, Any]:
    """The `[tool.compat-matrix]` table of a pyproject.toml ({} if absent)."""
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        msg = f"Cannot read {path}: expected valid TOML. Received error: {exc}"
        raise ConfigError(msg) from exc
    table = document.get("tool", {}).get(SECTION, {})
    if not isinstance(table, dict):
        msg = f"[tool.{SECTION}] in {path} must be a table, not {type(table).__name__}"
        raise ConfigError(msg)
    return table


def build_settings(file_values: dict[str, Any], cli_values: dict[str, Any]) -> Settings:
    """Merge file and CLI values (CLI wins) into validated Settings."""
    merged = {**_normalise(file_values), **_drop_unset(cli_values)}
    settings = Settings()
    simple = {f.name for f in fields(Settings)} - {"timeouts", "tolerances", "pins"}
    for key, value in merged.items():
        if key == "timeouts":
            settings = replace(settings, timeouts=_timeouts(value))
        elif key == "tolerances":
            settings = replace(settings, tolerances=_tolerances(settings, value))
        elif key == "pins":
            settings = replace(settings, pins=_pins(value))
        elif key in simple:
            settings = replace(settings, **{key: _coerce(key, value)})
        else:
            known = sorted(simple | {"timeouts", "tolerances", "pins"})
            msg = (
                f"Unknown setting {key!r} in [tool.{SECTION}]: expected one of "
                f"{', '.join(known)}.{suggest(key, known)}"
            )
            raise ConfigError(msg)
    return settings


def _normalise(values: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in values.items():
        if key == "user-models":
            continue  # read by the user-model loader, not a plain setting
        out[key.replace("-", "_")] = value
    return out


def _drop_unset(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _coerce(key: str, value: Any) -> Any:
    default = getattr(Settings(), key)
    special = _SPECIAL.get(key)
    if special is not None:
        return special(value)
    if isinstance(default, tuple):
        return _names(key, value)
    if isinstance(default, bool):
        return _typed(key, value, bool)
    if isinstance(default, int):
        if key == "jobs" and value == "auto":
            return 0
        if key == "jobs" and isinstance(value, str) and value.isdigit():
            value = int(value)
        number = _typed(key, value, int)
        if number < 0:
            msg = f"Invalid {key!r}: expected a number >= 0. Received: {key}={value!r}"
            raise ConfigError(msg)
        return number
    if isinstance(default, Path):
        return Path(_typed(key, value, str))
    if key == "python":
        choice = _typed(key, value, str)
        if choice not in ("host", "newest"):
            msg = f"Invalid 'python': expected host or newest. Received: python={choice!r}"
            raise ConfigError(msg)
        return choice
    if key == "preset":
        name = _typed(key, value, str)
        if name not in axes.PRESETS and name != "full":
            presets = [*axes.PRESETS, "full"]
            msg = (
                f"Unknown preset {name!r}: expected one of {', '.join(presets)}."
                f"{suggest(name, presets)}"
            )
            raise ConfigError(msg)
        return name
    return value


def _gold(value: Any) -> tuple[str, ...]:
    names = _names("gold", value)
    return () if names == ("none",) else names


def _keras_minors(value: Any) -> tuple[str, ...]:
    """Keras 3 minors of the release table, `nightly`, or `all` alone."""
    versions = _names("keras", value)
    if versions == ("all",):
        return versions
    valid = [*axes.KERAS3_MINORS, "nightly"]
    for version in versions:
        if version not in valid:
            msg = (
                f"Unknown Keras 3 minor {version!r}: expected one of {', '.join(valid)}, "
                f"or all.{suggest(version, valid)}"
            )
            raise ConfigError(msg)
    return versions


# Settings whose values have a grammar of their own.
def _releases(value: Any) -> str:
    choice = _typed("releases", value, str)
    if choice not in ("index", "table") and not Path(choice).is_file():
        msg = (
            f"Invalid 'releases': expected index, table or a releases.json file. "
            f"Received: releases={choice!r} (no such file)"
        )
        raise ConfigError(msg)
    return str(choice)


_SPECIAL = {"keras": _keras_minors, "gold": _gold, "releases": _releases}


def _typed(key: str, value: Any, kind: type) -> Any:
    if kind is int and isinstance(value, bool):
        value = str(value)
    if not isinstance(value, kind):
        msg = (
            f"Invalid {key!r}: expected {kind.__name__}. "
            f"Received: {key}={value!r} ({type(value).__name__})"
        )
        raise ConfigError(msg)
    return value


def _names(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        msg = f"Invalid {key!r}: expected a list of names. Received: {key}={value!r}"
        raise ConfigError(msg)
    # The releases are read when asked: the index may have added some.
    choices = tuple(axes.RELEASES) if key == "tf" else _CHOICES.get(key)
    if choices is not None and list(value) == ["all"] and key != "tf":
        return tuple(choices)
    if choices is not None:
        for name in value:
            if name not in choices:
                msg = (
                    f"Unknown {_singular(key)} {name!r}: expected one of {', '.join(choices)}."
                    f"{suggest(name, choices)}"
                )
                raise ConfigError(msg)
    return tuple(dict.fromkeys(value))


def _singular(key: str) -> str:
    return {"tf": "release", "policies": "policy", "backends": "backend"}.get(key, key[:-1])


def _pins(value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """`{"tf2.15-*": ["numpy<1.26"]}` (file) or ["tf2.15-*=numpy<1.26"] (CLI)."""
    if isinstance(value, (list, tuple)):
        table: dict[str, list[str]] = {}
        for item in value:
            glob, sep, requirement = str(item).partition("=")
            if not sep or not glob or not requirement:
                msg = (
                    f"Invalid --pin {item!r}: expected ENV-GLOB=REQUIREMENT, "
                    f"e.g. 'tf2.15-*=numpy<1.26'"
                )
                raise ConfigError(msg)
            table.setdefault(glob, []).append(requirement)
        value = table
    if not isinstance(value, dict) or not all(
        isinstance(v, list) and all(isinstance(r, str) for r in v) for v in value.values()
    ):
        msg = (
            f"Invalid 'pins': expected a table of env-id globs to lists of requirements. "
            f"Received: {value!r}"
        )
        raise ConfigError(msg)
    return tuple((glob, tuple(reqs)) for glob, reqs in value.items())


def _one_of(key: str, choices: Sequence[str], unknown: str) -> None:
    if key not in choices:
        msg = f"{unknown}: expected one of {', '.join(choices)}.{suggest(key, choices)}"
        raise ConfigError(msg)


def _timeouts(value: Any) -> Timeouts:
    if not isinstance(value, dict):
        msg = f"Invalid 'timeouts': expected a table. Received: {value!r}"
        raise ConfigError(msg)
    known = sorted(f.name for f in fields(Timeouts))
    result = Timeouts()
    for key, seconds in value.items():
        _one_of(key, known, f"Unknown timeout {key!r}")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            msg = f"Invalid timeout {key!r}: expected seconds > 0. Received: {seconds!r}"
            raise ConfigError(msg)
        result = replace(result, **{key: float(seconds)})
    return result


def _tolerances(settings: Settings, value: Any) -> dict[str, Tolerance]:
    if not isinstance(value, dict):
        msg = f"Invalid 'tolerances': expected a table per policy. Received: {value!r}"
        raise ConfigError(msg)
    result = dict(settings.tolerances)
    names = tuple(axes.DEFAULT_TOLERANCES)  # the policies, and the quantised formats
    for policy, pair in value.items():
        _one_of(policy, names, f"Unknown policy or quantised format {policy!r} in tolerances")
        if not isinstance(pair, dict) or set(pair) - {"atol", "rtol"}:
            msg = (
                f"Invalid tolerances.{policy}: expected {{atol = ..., rtol = ...}}. "
                f"Received: {pair!r}"
            )
            raise ConfigError(msg)
        base = result[policy]
        numbers = {k: pair.get(k, getattr(base, k)) for k in ("atol", "rtol")}
        for name, number in numbers.items():
            if isinstance(number, bool) or not isinstance(number, (int, float)) or number < 0:
                msg = (
                    f"Invalid tolerances.{policy}.{name}: expected a number >= 0. "
                    f"Received: {number!r}"
                )
                raise ConfigError(msg)
        result[policy] = Tolerance(float(numbers["atol"]), float(numbers["rtol"]))
    return result
