"""Plan: from settings and the machine's facts to the envs and cells to run.

Pure: the caller passes the interpreters found and whether a GPU is visible,
so every planning rule is testable without touching the machine.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matrix import axes
from matrix.config import ConfigError, Settings
from matrix.env import Env


@dataclass(frozen=True)
class PlannedEnv:
    env: Env
    interpreter: Path | None
    unavailable: str | None = None  # why it cannot run here, if it cannot

    @property
    def id(self) -> str:
        return self.env.id


@dataclass(frozen=True)
class CellKey:
    producer: str
    consumer: str
    model: str
    policy: str
    format: str
    loader: str

    @property
    def artifact(self) -> str:
        return artifact_id(self.producer, self.model, self.policy, self.format)


def artifact_id(producer: str, model: str, policy: str, fmt: str) -> str:
    return f"{producer}/{model}-{policy}.{fmt}"


@dataclass(frozen=True)
class Plan:
    envs: tuple[PlannedEnv, ...]
    models: tuple[str, ...]
    policies: tuple[str, ...]
    formats: tuple[str, ...]
    loaders: tuple[str, ...]

    def env(self, env_id: str) -> PlannedEnv:
        for planned in self.envs:
            if planned.id == env_id:
                return planned
        msg = f"Env {env_id!r} is not in the plan: expected one of {', '.join(self.env_ids)}"
        raise ConfigError(msg)

    @property
    def env_ids(self) -> list[str]:
        return [p.id for p in self.envs]

    def loaders_for(self, fmt: str) -> tuple[str, ...]:
        return tuple(x for x in axes.FORMAT_LOADERS[fmt] if x in self.loaders)

    def cells(self) -> Iterator[CellKey]:
        for producer in self.envs:
            for model in self.models:
                for policy in self.policies:
                    for fmt in self.formats:
                        for loader in self.loaders_for(fmt):
                            for consumer in self.envs:
                                yield CellKey(producer.id, consumer.id, model, policy, fmt, loader)

    def to_dict(self) -> dict[str, Any]:
        return {
            "envs": [
                {
                    "id": p.id,
                    "interpreter": str(p.interpreter) if p.interpreter else None,
                    "unavailable": p.unavailable,
                }
                for p in self.envs
            ],
            "models": list(self.models),
            "policies": list(self.policies),
            "formats": list(self.formats),
            "loaders": list(self.loaders),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        envs = tuple(
            PlannedEnv(
                Env.parse(e["id"]),
                Path(e["interpreter"]) if e.get("interpreter") else None,
                e.get("unavailable"),
            )
            for e in data["envs"]
        )
        return cls(
            envs,
            tuple(data["models"]),
            tuple(data["policies"]),
            tuple(data["formats"]),
            tuple(data["loaders"]),
        )


def make_plan(
    settings: Settings,
    interpreters: Mapping[str, Path],
    *,
    gpu_visible: bool,
    host_python: str,
) -> Plan:
    """Choose the envs (with interpreters or reasons) and the other axes."""
    chooser = _PythonChooser(interpreters, host_python)
    if settings.envs:
        envs = _match_env_patterns(settings.envs, chooser)
    else:
        envs = _preset_envs(settings.preset, chooser)
    if settings.tf:
        envs = _select_tf(envs, settings.tf, chooser)
    ordered = sorted(dict.fromkeys(envs), key=_env_order)
    planned = tuple(_place(env, interpreters, gpu_visible) for env in ordered)
    return Plan(planned, settings.models, settings.policies, settings.formats, settings.loaders)


def universe(interpreters: Mapping[str, Path], host_python: str) -> list[Env]:
    """Every env this table can describe, with the Python the tool would pick."""
    chooser = _PythonChooser(interpreters, host_python)
    return [
        Env(release.minor, flavour, chooser.pick(release), device)
        for release in axes.RELEASES.values()
        for flavour in release.flavours
        for device in axes.DEVICES
    ]


class _PythonChooser:
    def __init__(self, interpreters: Mapping[str, Path], host_python: str) -> None:
        self.interpreters = interpreters
        self.host = host_python

    def pick(self, release: axes.Release) -> str:
        """The host's Python if the release has wheels for it, else the newest
        installed one that has; with none installed, the newest it supports."""
        if self.host in release.pythons and self.host in self.interpreters:
            return self.host
        installed = [p for p in release.pythons if p in self.interpreters]
        return (installed or list(release.pythons))[-1]


def _preset_envs(preset: str, chooser: _PythonChooser) -> list[Env]:
    if preset == "full":
        pairs = [(r.minor, f) for r in axes.RELEASES.values() for f in r.flavours]
    else:
        pairs = list(axes.PRESETS[preset])
    return [Env(tf, flavour, chooser.pick(axes.RELEASES[tf])) for tf, flavour in pairs]


def _select_tf(envs: list[Env], versions: tuple[str, ...], chooser: _PythonChooser) -> list[Env]:
    chosen = [env for env in envs if env.tf in versions]
    for tf in versions:
        if not any(env.tf == tf for env in chosen):
            release = axes.RELEASES[tf]
            chosen.append(Env(tf, release.default_flavour, chooser.pick(release)))
    return chosen


def _match_env_patterns(patterns: tuple[str, ...], chooser: _PythonChooser) -> list[Env]:
    known = universe(chooser.interpreters, chooser.host)
    chosen: list[Env] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            hits = [env for env in known if fnmatch.fnmatchcase(env.id, pattern)]
            if not hits:
                examples = ", ".join(env.id for env in known[:3])
                msg = (
                    f"Env pattern {pattern!r} matches no env: expected ids like "
                    f"{examples} (see `python -m matrix plan --preset full`)"
                )
                raise ConfigError(msg)
            chosen.extend(hits)
        else:
            try:
                chosen.append(Env.parse(pattern))
            except ValueError as exc:
                raise ConfigError(str(exc)) from exc
    return chosen


def _env_order(env: Env) -> tuple[Any, ...]:
    return (
        axes.RELEASES[env.tf].version,
        axes.FLAVOURS.index(env.flavour),
        tuple(int(p) for p in env.python.split(".")),
        axes.DEVICES.index(env.device),
        env.keras or "",
    )


def _place(env: Env, interpreters: Mapping[str, Path], gpu_visible: bool) -> PlannedEnv:
    interpreter = interpreters.get(env.python)
    if interpreter is None:
        found = ", ".join(sorted(interpreters, key=lambda v: int(v.split(".")[1])))
        reason = (
            f"no Python {env.python} interpreter found (looked on PATH, in pyenv's "
            f"versions folder and uv-managed Pythons; found: {found or 'none'})"
        )
        return PlannedEnv(env, None, reason)
    if env.device == "gpu" and not gpu_visible:
        return PlannedEnv(env, interpreter, "no GPU visible")
    return PlannedEnv(env, interpreter)
