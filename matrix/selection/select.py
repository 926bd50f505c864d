"""Selection: from the command line and pyproject.toml to settings and a plan.

Everything here is checked before any env starts; a bad value is a
ConfigError (exit code 2).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from matrix.selection import axes, machine, usermodels
from matrix.selection.config import ConfigError, Settings, build_settings, read_pyproject, suggest
from matrix.selection.plan import Plan, make_plan, universe

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
    "python",
    "jobs",
    "memory_mb",
    "max_restarts",
    "pins",
)
PLACES = ("output", "reports", "envdir")
FLAGS = ("fresh", "onednn_off", "unsafe", "download_python")


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


def settings_from(args: argparse.Namespace) -> Settings:
    file_values = read_pyproject(config_path(args))
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
    upgrade = upgrade_from(args)
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
    for version in (old, new):
        if version not in axes.RELEASES:
            msg = (
                f"Unknown TensorFlow version {version!r} for --from/--to: expected one of "
                f"{', '.join(axes.RELEASES)}.{suggest(version, axes.RELEASES)}"
            )
            raise ConfigError(msg)
    return old, new


def user_models_from(args: argparse.Namespace) -> tuple[usermodels.UserModel, ...]:
    """User models of the config file, then of the command line."""
    config = config_path(args)
    declared = read_pyproject(config).get("user-models", [])
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
    interpreters = machine.discover()

    def make(chosen: Settings) -> Plan:
        return make_plan(
            chosen,
            interpreters,
            gpu_visible=machine.gpu_visible(),
            host_python=machine.host_version(),
            user_models=user_models,
        )

    plan = make(settings)
    missing = sorted({p.env.python for p in plan.envs if p.interpreter is None})
    if settings.download_python and missing:
        failed = machine.download_pythons(missing)
        if failed:
            print(f"warning: uv could not install Python {', '.join(missing)}: {failed}")
        interpreters = machine.discover()
        plan = make(settings)
    wanted = list(plan.env_ids)
    if extra_env is not None and extra_env not in wanted:
        # A single env's session may name an env outside the configured
        # selection (CI shards pass explicit ids): plan it beside the rest.
        wanted.append(extra_env)
    if upgrade:
        # The advice needs every flavour of both versions (tf-keras is one of
        # the ways out), on CPU.
        known = universe(interpreters, machine.host_version(), settings.python)
        wanted += [
            env.id
            for env in known
            if env.tf in upgrade and env.device == "cpu" and env.id not in wanted
        ]
    if wanted != plan.env_ids:
        plan = make(replace(settings, envs=tuple(wanted), tf=()))
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
