"""Selection: from the command line and pyproject.toml to what a command works on.

`select(args)` reads everything once (the config file, the options, the
interpreters of this machine) and returns the settings, the plan, the
output layout and the report options; every command starts from it.
Everything here is checked before any env starts; a bad value is a
ConfigError (exit code 2).
"""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from matrix import axes, files
from matrix.paths import Layout
from matrix.selection import machine, usermodels
from matrix.selection.config import build_settings, read_pyproject
from matrix.selection.plan import Plan, make_plan
from matrix.settings import DEFAULT_FAIL_ON, ConfigError, ReportOptions, Settings, suggest
from matrix.status import Status

SELECTION = (
    "preset",
    "tf",
    "envs",
    "models",
    "formats",
    "loaders",
    "policies",
    "devices",
    "keras",
    "backends",
    "python",
    "jobs",
    "memory_mb",
    "max_restarts",
    "pins",
    "gold",
    "releases",
)
PLACES = ("output", "reports", "envdir")
FLAGS = ("fresh", "onednn_off", "unsafe", "download_python")
SECTION_USER_MODELS = "user-models"


@dataclass(frozen=True)
class Selection:
    settings: Settings
    plan: Plan
    layout: Layout
    report: ReportOptions


def select(
    args: argparse.Namespace, *, stored: bool = False, extra_env: str | None = None
) -> Selection:
    """Everything a command works from, read once.

    `stored`: the plan of the last run in the output folder, unless the
    command line selects another (what `report`, `merge` and `repro` work on).
    `extra_env`: an env to plan beside the configured ones (a CI shard names
    its env explicitly)."""
    config = config_path(args)
    table = read_pyproject(config)
    found, kept = releases_from(args, table, stored=stored)
    upgrade = upgrade_from(args)
    settings = settings_from(args, table, upgrade)
    layout = Layout(settings.output, settings.envdir)
    users = user_models_from(args, table, config)
    if users and getattr(args, "models", None) is None:
        # A run for the user's own files measures those alone: the zoo (and
        # the gold files, which are zoo models) only when --models asks for it.
        settings = replace(settings, models=())
    saved = files.read_json(layout.plan) if stored else None
    if isinstance(saved, dict) and not selection_given(args) and upgrade is None:
        plan = Plan.from_dict(saved)
    else:
        plan = plan_from(settings, users, extra_env=extra_env, upgrade=upgrade)
    options = report_options(args, upgrade)
    # Kept once the selection is good: a bad one writes nothing.
    if found.offline is None or not kept.is_file():
        files.write_json(kept, found.to_dict())
    return Selection(settings, plan, layout, options)


def releases_from(
    args: argparse.Namespace, table: dict[str, Any], *, stored: bool
) -> tuple[Any, Path]:
    """Put the releases the index has into the table before anything reads
    it (a version named on the command line may be one of them), and keep
    the answer in the output folder: every later stage of the run (and a
    `report` of it) plans from the same one."""
    from matrix import discovery
    from matrix.paths import RELEASES

    values = {**table, **{k: v for k in ("releases", "output")
                          if (v := getattr(args, k, None)) is not None}}  # fmt: skip
    output = Path(str(values.get("output", Settings().output)))
    source = str(values.get("releases") or Settings().releases)
    kept = output / RELEASES
    if stored and not selection_given(args) and kept.is_file():
        found = _read_releases(kept)
    elif source == "table":
        found = discovery.table_only("--releases table: the release table alone")
    elif source == "index":
        found = discovery.cached(kept)
    else:
        found = _read_releases(Path(source))
    discovery.adopt(found)
    return found, kept


def _read_releases(path: Path) -> Any:
    from matrix import discovery

    try:
        return discovery.load(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        msg = f"Invalid releases file {path}: expected a releases.json of tf-compat-matrix ({exc})"
        raise ConfigError(msg) from exc


def configured_plan(config: Path = Path("pyproject.toml")) -> Plan:
    """The plan of the config file alone (what `nox -l` lists as sessions),
    with the releases the last run's output folder found (never asking the
    index: listing sessions stays offline and instant)."""
    from matrix import discovery
    from matrix.paths import RELEASES

    settings = build_settings(read_pyproject(config), {})
    kept = settings.output / RELEASES
    if kept.is_file():
        # An unreadable file: the run itself says so.
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            discovery.adopt(discovery.load(kept))
    return plan_from(settings, ())


def report_options(args: argparse.Namespace, upgrade: tuple[str, str] | None) -> ReportOptions:
    baseline = getattr(args, "baseline", None)
    if baseline is not None and not Path(baseline).is_file():
        msg = f"Invalid --baseline {baseline}: expected a compat.json, and there is no such file"
        raise ConfigError(msg)
    fail_on = getattr(args, "fail_on", None)
    summary = getattr(args, "step_summary", None)
    return ReportOptions(
        baseline=Path(baseline) if baseline else None,
        fail_on=check_fail_on(fail_on) if fail_on else DEFAULT_FAIL_ON,
        upgrade=upgrade,
        history=not getattr(args, "no_history", False),
        step_summary=Path(summary) if summary else None,
    )


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


def config_path(args: argparse.Namespace) -> Path:
    """The settings file: the one named (which must exist), else ./pyproject.toml."""
    named = getattr(args, "config", None)
    if named is None:
        return Path("pyproject.toml")
    path = Path(named)
    if not path.is_file():
        msg = f"The --config file {named!r} does not exist (looked at {path.resolve()})"
        raise ConfigError(msg)
    return path


def settings_from(
    args: argparse.Namespace, file_values: dict[str, Any], upgrade: tuple[str, str] | None
) -> Settings:
    timeouts = dict(file_values.get("timeouts") or {})
    for name in ("cell", "start", "install"):
        value = getattr(args, f"{name}_timeout", None)
        if value is not None:
            timeouts[name] = value
    cli = {key: getattr(args, key, None) for key in SELECTION + PLACES}
    for flag in FLAGS:
        cli[flag] = True if getattr(args, flag, False) else None
    if timeouts:
        cli["timeouts"] = timeouts
    if cli.get("envs") and cli.get("tf"):
        msg = (
            "--envs and --tf both select envs: give one (--tf 2.15 2.21 keeps the default "
            "matrix's envs of those versions; --envs names envs or globs)"
        )
        raise ConfigError(msg)
    settings = build_settings(file_values, cli)
    if upgrade and not settings.envs and not settings.tf:
        # The upgrade question alone selects both versions, every flavour.
        settings = replace(settings, tf=upgrade)
    return settings


def upgrade_from(args: argparse.Namespace) -> tuple[str, str] | None:
    old, new = getattr(args, "upgrade_from", None), getattr(args, "upgrade_to", None)
    if old is None and new is None:
        return None
    if old is None or new is None:
        msg = (
            "--from and --to go together: --from <old TF> --to <new TF>, e.g. --from 2.15 --to 2.21"
        )
        raise ConfigError(msg)
    versions = [k for k, r in axes.RELEASES.items() if not r.interpreter_only]
    for version in (old, new):
        if version not in versions:
            msg = (
                f"Unknown TensorFlow version {version!r} for --from/--to: expected one of "
                f"{', '.join(versions)}.{suggest(version, versions)}"
            )
            raise ConfigError(msg)
    return old, new


def user_models_from(
    args: argparse.Namespace, table: dict[str, Any], config: Path
) -> tuple[usermodels.UserModel, ...]:
    """User models of the config file, then of the command line."""
    declared = table.get(SECTION_USER_MODELS, [])
    if not isinstance(declared, list):
        msg = f"[[tool.compat-matrix.user-models]] in {config} must be an array of tables"
        raise ConfigError(msg)
    from_file = usermodels.parse(declared, config.resolve().parent)
    from_cli = usermodels.parse(getattr(args, "user_models", None) or [], Path.cwd())
    return usermodels.check_unique(from_file + from_cli)


def plan_from(
    settings: Settings,
    user_models: tuple[usermodels.UserModel, ...] = (),
    extra_env: str | None = None,
    upgrade: tuple[str, str] | None = None,
) -> Plan:
    def make() -> Plan:
        return make_plan(
            settings,
            machine.discover(),
            gpu_visible=machine.gpu_visible(),
            host_python=machine.host_version(),
            user_models=user_models,
            extra_env=extra_env,
            upgrade=upgrade,
        )

    plan = make()
    missing = sorted({p.env.python for p in plan.envs if p.interpreter is None})
    if settings.download_python and missing:
        failed = machine.download_pythons(missing)
        if failed:
            print(f"warning: uv could not install Python {', '.join(missing)}: {failed}")
        plan = make()  # with the Pythons uv brought
    if next(plan.cells(), None) is None:
        formats, loaders = ", ".join(plan.formats), ", ".join(plan.loaders)
        msg = (
            "The selection has no cells: no format it writes is read by a loader it selects "
            f"(formats {formats or 'none'}; loaders {loaders or 'none'})"
        )
        raise ConfigError(msg)
    return plan


def selection_given(args: argparse.Namespace) -> bool:
    given = any(getattr(args, key, None) is not None for key in SELECTION)
    return given or bool(getattr(args, "user_models", None))
