"""Plan: from settings and the machine's facts to the envs and cells to run.

Pure: the caller passes the interpreters found and whether a GPU is visible,
so every planning rule is testable without touching the machine.
"""

from __future__ import annotations

import fnmatch
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from matrix import axes
from matrix.selection import gold
from matrix.selection.env import Env, paired
from matrix.selection.gold import GoldSet
from matrix.selection.usermodels import UserModel
from matrix.settings import ConfigError, Settings, suggest


@dataclass(frozen=True)
class PlannedEnv:
    env: Env
    interpreter: Path | None
    unavailable: str | None = None  # why it cannot run here, if it cannot
    pins: tuple[str, ...] = ()  # the user's extra requirements for this env

    def requirements(self) -> list[str]:
        return [*self.env.requirements(), *self.pins]

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
    user_models: tuple[UserModel, ...] = ()
    unsafe: bool = False
    gold: tuple[GoldSet, ...] = ()  # frozen producers replayed from the gold store

    def env(self, env_id: str) -> PlannedEnv:
        for planned in self.envs:
            if planned.id == env_id:
                return planned
        msg = (
            f"Env {env_id!r} is not in the plan: expected one of {', '.join(self.env_ids)}."
            f"{suggest(env_id, self.env_ids)}"
        )
        raise ConfigError(msg)

    @property
    def env_ids(self) -> list[str]:
        return [p.id for p in self.envs]

    @property
    def producer_envs(self) -> tuple[PlannedEnv, ...]:
        return tuple(p for p in self.envs if p.env.produces)

    @property
    def producers(self) -> list[str]:
        """Row labels: envs that save the zoo, gold producers, the user's models."""
        return [
            *(p.id for p in self.producer_envs),
            *(g.producer for g in self.gold),
            *(u.producer for u in self.user_models),
        ]

    def loaders_for(self, fmt: str) -> tuple[str, ...]:
        return tuple(x for x in axes.FORMAT_LOADERS[fmt] if x in self.loaders)

    @property
    def consumer_envs(self) -> tuple[PlannedEnv, ...]:
        return tuple(p for p in self.envs if p.env.consumes)

    def artifacts(self) -> Iterator[tuple[str, str, str, str]]:
        """(producer, model, policy, format) of every planned artifact; a
        quantised TFLite copy only of a float32 model (FORMAT_POLICIES)."""
        for producer in self.producer_envs:
            formats = [f for f in self.formats if producer.env.writes(f)]
            for model in self.models:
                for policy in self.policies:
                    for fmt in formats:
                        only = axes.FORMAT_POLICIES.get(fmt)
                        if only is None or policy in only[0]:
                            yield producer.id, model, policy, fmt
        for frozen in self.gold:
            for model, policy, fmt in frozen.artifacts:
                chosen = (model in self.models, policy in self.policies, fmt in self.formats)
                if all(chosen):
                    yield frozen.producer, model, policy, fmt
        for user in self.user_models:
            yield user.producer, user.name, user.policy, user.format

    def cells(self) -> Iterator[CellKey]:
        """Every artifact through every loader of its format in every env
        that loads artifacts and has a loader for that format at all."""
        consumers = self.consumer_envs
        envs = {p.id: p.env for p in self.envs}
        for producer, model, policy, fmt in self.artifacts():
            saved = envs.get(producer)  # None: a gold producer or a user's file
            readers = [
                c for c in consumers if c.env.reads(fmt) and (saved is None or paired(saved, c.env))
            ]
            for loader in self.loaders_for(fmt):
                for consumer in readers:
                    yield CellKey(producer, consumer.id, model, policy, fmt, loader)

    def to_dict(self) -> dict[str, Any]:
        return {
            "envs": [
                {
                    "id": p.id,
                    "interpreter": str(p.interpreter) if p.interpreter else None,
                    "unavailable": p.unavailable,
                    "pins": list(p.pins),
                }
                for p in self.envs
            ],
            "models": list(self.models),
            "policies": list(self.policies),
            "formats": list(self.formats),
            "loaders": list(self.loaders),
            "user_models": [u.to_dict() for u in self.user_models],
            "unsafe": self.unsafe,
            "gold": [g.env_id for g in self.gold],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        envs = tuple(
            PlannedEnv(
                Env.parse(e["id"]),
                Path(e["interpreter"]) if e.get("interpreter") else None,
                e.get("unavailable"),
                tuple(e.get("pins", ())),
            )
            for e in data["envs"]
        )
        return cls(
            envs,
            tuple(data["models"]),
            tuple(data["policies"]),
            tuple(data["formats"]),
            tuple(data["loaders"]),
            tuple(UserModel.from_dict(u) for u in data.get("user_models", [])),
            bool(data.get("unsafe", False)),
            tuple(gold.read(env_id) for env_id in data.get("gold", [])),
        )


def make_plan(
    settings: Settings,
    interpreters: Mapping[str, Path],
    *,
    gpu_visible: bool,
    host_python: str,
    user_models: tuple[UserModel, ...] = (),
    extra_env: str | None = None,
    upgrade: tuple[str, str] | None = None,
) -> Plan:
    """Choose the envs (with interpreters or reasons) and the other axes.

    `upgrade` adds every flavour of both versions on CPU (the advice needs
    them: tf-keras is one of the ways out); `extra_env` adds one env as
    named (a CI shard's)."""
    chooser = _PythonChooser(interpreters, host_python, settings.python)
    if settings.envs:
        envs = _match_env_patterns(settings.envs, chooser, settings.devices)
    else:
        envs = _on_devices(_preset_envs(settings.preset, chooser), settings.devices)
    if settings.tf:
        envs = _select_tf(envs, settings.tf, chooser, settings.devices)
    if upgrade:
        known = universe(interpreters, host_python, settings.python)
        envs += [env for env in known if env.tf in upgrade and env.device == "cpu"]
    if settings.keras or settings.backends:
        envs += keras_envs(settings.keras, settings.backends, chooser)
    # A converter env of a preset writes only its formats: without them in
    # the selection it would build an env for nothing (one named is kept,
    # and writes nothing but says so).
    envs = [
        e
        for e in envs
        if e.converter is None or settings.envs or any(e.writes(f) for f in settings.formats)
    ]
    if settings.onednn_off:  # a consumer beside each CPU env that loads
        envs += [replace(e, onednn_off=True) for e in envs if e.device == "cpu" and e.consumes]
    if extra_env is not None:
        envs.append(_named_env(extra_env, chooser))
    ordered = sorted(dict.fromkeys(envs), key=_env_order)
    planned = tuple(
        replace(_place(env, interpreters, gpu_visible), pins=_pins_for(env, settings.pins))
        for env in ordered
    )
    _check_baselines(user_models, [p.id for p in planned])
    _check_pins(settings.pins, [p.env for p in planned])
    return Plan(
        planned,
        settings.models,
        settings.policies,
        settings.formats,
        settings.loaders,
        user_models,
        settings.unsafe,
        tuple(gold.read(env_id) for env_id in _gold_envs(settings)),
    )


def _gold_envs(settings: Settings) -> tuple[str, ...]:
    """The gold producers to replay: the ones named, else the preset's (the
    default matrix replays every env the store holds; the full preset builds
    those envs live instead). A run that names its envs (--envs, --tf)
    replays only the gold it names (--gold)."""
    if settings.gold is not None:
        return settings.gold
    if settings.preset != "default" or settings.envs or settings.tf:
        return ()
    return tuple(gold.available())


def universe(interpreters: Mapping[str, Path], host_python: str, choice: str = "host") -> list[Env]:
    """Every env this table can describe, with the Python the tool would pick."""
    chooser = _PythonChooser(interpreters, host_python, choice)
    return [
        Env(key, flavour, chooser.pick(axes.RELEASES[key]), device)
        for key in axes.STABLE  # nightly only when named: it changes daily
        for flavour in axes.RELEASES[key].flavours
        for device in axes.DEVICES
        if device == "cpu" or axes.RELEASES[key].family == "tensorflow"
    ]


class _PythonChooser:
    def __init__(
        self, interpreters: Mapping[str, Path], host_python: str, choice: str = "host"
    ) -> None:
        self.interpreters = interpreters
        self.host = host_python
        self.choice = choice

    def pick(self, release: axes.Release) -> str:
        """The host's Python if the release has wheels for it (unless the
        choice is "newest"), else the newest installed one that has; with none
        installed, the newest it supports."""
        host_fits = self.host in release.pythons and self.host in self.interpreters
        if self.choice == "host" and host_fits:
            return self.host
        installed = [p for p in release.pythons if p in self.interpreters]
        return (installed or list(release.pythons))[-1]


def _preset_envs(preset: str, chooser: _PythonChooser) -> list[Env]:
    if preset == "full":
        pairs = [(m, f) for m in axes.FULL for f in axes.RELEASES[m].flavours]
        converters = list(axes.CONVERTERS)
    else:
        pairs = list(axes.PRESETS[preset])
        converters = list(axes.DEFAULT_CONVERTERS) if preset == "default" else []
        if preset == "default":
            # The newest release candidate the index has: the upgrade people
            # are about to make (matrix/discovery.py), on its default flavour.
            pairs += [(key, axes.RELEASES[key].default_flavour) for key in axes.CANDIDATES]
    envs = [Env(tf, flavour, chooser.pick(axes.RELEASES[tf])) for tf, flavour in pairs]
    return envs + [
        Env(tf, flavour, chooser.pick(axes.RELEASES[tf]), converter=kind)
        for tf, flavour, kind in converters
    ]


def _pins_for(env: Env, pins: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[str, ...]:
    """The user's pins for an env; matched on its virtualenv (variants share it)."""
    return tuple(r for glob, reqs in pins if fnmatch.fnmatchcase(env.venv_id, glob) for r in reqs)


def keras_envs(
    minors: tuple[str, ...], backends: tuple[str, ...], chooser: _PythonChooser
) -> list[Env]:
    """The envs of Keras 3 minors (`--keras 3.3 3.15`, `all` for every one
    and keras-nightly; the newest alone when only `--backends` is given) on
    each backend asked for (`--backends`, TensorFlow's by default)."""
    if minors == ("all",):
        keys = [k for k, r in axes.RELEASES.items() if r.keras_minor]
    else:
        keys = [axes.keras_key(m) for m in minors or (axes.KERAS3_MINORS[-1],)]
    return [
        Env(key, backend, chooser.pick(axes.RELEASES[key]))
        for key in keys
        for backend in backends or ("tensorflow",)
    ]


def _on_devices(envs: list[Env], devices: tuple[str, ...]) -> list[Env]:
    """Each env on each device; a Keras 3 minor's envs on the CPU alone."""
    return [
        replace(env, device=device)
        for device in devices
        for env in envs
        if device == "cpu" or env.release.family == "tensorflow"
    ]


def _check_pins(pins: tuple[tuple[str, tuple[str, ...]], ...], envs: list[Env]) -> None:
    """A pin that matches no planned env would do nothing: say so."""
    for glob, requirements in pins:
        if not any(fnmatch.fnmatchcase(env.venv_id, glob) for env in envs):
            msg = (
                f"Pin {glob}={','.join(requirements)} matches no planned env: expected a glob "
                f"over env ids such as {', '.join(e.venv_id for e in envs[:2])}"
            )
            raise ConfigError(msg)


def _check_baselines(user_models: tuple[UserModel, ...], env_ids: list[str]) -> None:
    for user in user_models:
        if user.baseline and user.baseline not in env_ids:
            msg = (
                f"User model {user.name!r}: baseline env {user.baseline} is not in the "
                f"plan; expected one of {', '.join(env_ids)}"
            )
            raise ConfigError(msg)


def _select_tf(
    envs: list[Env], versions: tuple[str, ...], chooser: _PythonChooser, devices: tuple[str, ...]
) -> list[Env]:
    """The selection's envs of these versions; a version it lacks gets its
    default flavour (on each selected device)."""
    chosen = [env for env in envs if env.tf in versions]
    for tf in versions:
        if not any(env.tf == tf for env in chosen):
            release = axes.RELEASES[tf]
            base = Env(tf, release.default_flavour, chooser.pick(release))
            chosen.extend(_on_devices([base], devices))
    return chosen


def _match_env_patterns(
    patterns: tuple[str, ...], chooser: _PythonChooser, devices: tuple[str, ...]
) -> list[Env]:
    """Env ids and globs; a glob matches envs on the selected devices only."""
    known = universe(chooser.interpreters, chooser.host, chooser.choice)
    chosen: list[Env] = []
    for pattern in patterns:
        if any(ch in pattern for ch in "*?["):
            hits = [
                env
                for env in known
                if fnmatch.fnmatchcase(env.id, pattern) and env.device in devices
            ]
            if not hits:
                examples = ", ".join(env.id for env in known[:3])
                msg = (
                    f"Env pattern {pattern!r} matches no env on {', '.join(devices)}: expected "
                    f"ids like {examples} (see `python -m matrix plan --preset full`)"
                )
                raise ConfigError(msg)
            chosen.extend(hits)
        else:
            try:
                chosen.append(Env.parse(pattern))
            except ValueError as exc:
                hint = suggest(pattern, [env.id for env in known])
                raise ConfigError(f"{exc}{hint}") from exc
    return chosen


def _named_env(env_id: str, chooser: _PythonChooser) -> Env:
    try:
        return Env.parse(env_id)
    except ValueError as exc:
        known = universe(chooser.interpreters, chooser.host, chooser.choice)
        raise ConfigError(f"{exc}{suggest(env_id, [env.id for env in known])}") from exc


def _env_order(env: Env) -> tuple[Any, ...]:
    return (
        axes.FAMILIES.index(env.release.family),  # TensorFlow, then the interpreters
        env.release.version,
        axes.FLAVOURS.index(env.flavour),
        tuple(int(p) for p in env.python.split(".")),
        axes.DEVICES.index(env.device),
        tuple(int(p) for p in env.keras.split(".")) if env.keras else (),
        env.onednn_off,
    )


# Unavailable here, but not on a machine with a GPU (a CI runner's job may run it).
NO_GPU = "no GPU visible"


def _place(env: Env, interpreters: Mapping[str, Path], gpu_visible: bool) -> PlannedEnv:
    interpreter = interpreters.get(env.python)
    if interpreter is None:
        found = ", ".join(sorted(interpreters, key=lambda v: int(v.split(".")[1])))
        reason = (
            f"no Python {env.python} interpreter found (looked on PATH, in pyenv's "
            f"versions folder and uv-managed Pythons; found: {found or 'none'}); "
            f"get one with `uv python install {env.python}`, or run with --download-python"
        )
        return PlannedEnv(env, None, reason)
    if env.device == "gpu" and not env.release.cuda_wheels:
        reason = (
            "TF < 2.14 on GPU needs a system CUDA install; only tensorflow[and-cuda] envs are built"
        )
        return PlannedEnv(env, interpreter, reason)
    if env.device == "gpu" and not gpu_visible:
        return PlannedEnv(env, interpreter, NO_GPU)
    if env.release.npm_package and not (shutil.which("node") and shutil.which("npm")):
        reason = (
            "TensorFlow.js runs in Node, and node or npm is not on PATH: install Node.js "
            "(>= 18) with npm; every other env runs"
        )
        return PlannedEnv(env, interpreter, reason)
    return PlannedEnv(env, interpreter)
