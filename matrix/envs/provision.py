"""Provision: build an env's virtualenv with uv, or reuse it.

The venv lives at `<envdir>/<env-id>` and is created with `uv venv` (what
nox's uv backend runs; the interpreter's own venv module where uv is
missing); packages go in with `uv pip` (or pip), bytecode compiled at
install so each TensorFlow import costs seconds, not tens of seconds. The
spec it was built from is recorded next to it; an unchanged spec is reused
without calling the installer, a changed one is rebuilt and the log says why.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from matrix import files
from matrix.files import JsonObject
from matrix.paths import Layout
from matrix.selection.machine import uv_binary
from matrix.selection.plan import PlannedEnv

# Bump when the way envs are built changes, so old envs are rebuilt.
BUILD_FORMAT = "1"
_EXCERPT_LINES = 25


class ProvisionError(RuntimeError):
    """The env could not be built; the message carries the installer's words."""


@dataclass(frozen=True)
class VenvRecord:
    spec: JsonObject
    freeze: tuple[str, ...]
    backend: str
    reused: bool
    rebuild_reason: str | None

    @property
    def fingerprint(self) -> str:
        """Content key of the env: what was asked for and what got installed."""
        return files.sha256_text(
            json.dumps({"spec": self.spec, "freeze": self.freeze}, sort_keys=True)
        )


def provision(planned: PlannedEnv, layout: Layout, install_timeout: float) -> VenvRecord:
    """Return the env's record, building the venv first when needed."""
    if planned.interpreter is None:
        msg = f"{planned.id}: no interpreter"
        raise ProvisionError(msg)
    venv_id = planned.env.venv_id
    venv = layout.venv(venv_id)
    with files.waiting_lock(layout.envdir / f".{venv_id}.lock"):
        spec = _spec(planned)
        reason = _standing(planned, layout, spec)
        if isinstance(reason, VenvRecord):
            return reason  # reused as it stands
        log = layout.log(planned.id, "provision")
        log.parent.mkdir(parents=True, exist_ok=True)
        _note(log, f"building {venv} ({reason})")
        backend = _create(venv, planned.interpreter, log)
        python = layout.venv_python(venv_id)
        overrides = _overrides(venv, spec.get("overrides") or [])
        install = _install_command(backend, python, spec["requirements"], overrides)
        _run("installing", install, log, install_timeout)
        freeze = _run("listing the installed packages", _freeze_command(backend, python), log, 120)
        lines = freeze.splitlines()
        if spec.get("npm"):
            lines.append(_npm_install(venv, str(spec["npm"]), log, install_timeout))
        record = VenvRecord(spec, tuple(sorted(lines)), backend, False, reason)
        files.write_json(
            layout.venv_record(venv_id),
            {
                "spec": spec,
                "freeze": list(record.freeze),
                "backend": backend,
                "built": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "rebuild_reason": reason,
                "newest": dict(planned.env.release.newest),
            },
        )
        return record


def reused_record(planned: PlannedEnv, layout: Layout) -> VenvRecord | None:
    """The env's record when it will be reused as it stands; None when it
    would be (re)built first."""
    standing = _standing(planned, layout, _spec(planned))
    return standing if isinstance(standing, VenvRecord) else None


def _standing(planned: PlannedEnv, layout: Layout, spec: JsonObject) -> VenvRecord | str:
    """The env's record when it is reused as it stands, else why it would
    be (re)built: its record on disk, read once."""
    venv_id = planned.env.venv_id
    record_path = layout.venv_record(venv_id)
    old = files.read_json(record_path) if record_path.exists() else _NO_RECORD
    reason = _why_rebuild(old, spec, layout.venv_python(venv_id))
    if reason is None and isinstance(old, dict):
        reason = _patch_moved(planned.env.release.newest, old["freeze"], old.get("newest"))
    if reason is None and isinstance(old, dict):  # _why_rebuild checked its fields
        return VenvRecord(spec, tuple(old["freeze"]), old["backend"], True, None)
    return reason or "its record is unreadable"


def _spec(planned: PlannedEnv) -> JsonObject:
    env = dataclasses.replace(planned.env, onednn_off=False)  # variants share it
    spec = {
        "build_format": BUILD_FORMAT,
        "env": env.id,
        "interpreter": str(planned.interpreter),
        "requirements": [*env.requirements(), *planned.pins],
        "environment": env.environment(),
    }
    if env.release.overrides:
        spec["overrides"] = list(env.release.overrides)
    if env.release.npm_package:
        spec["npm"] = env.release.npm_package
    if env.release.nightly:
        # A nightly env is today's build: it is rebuilt once a day.
        spec["day"] = datetime.date.today().isoformat()
    return spec


_NO_RECORD = object()


def _why_rebuild(old: Any, spec: JsonObject, python: Path) -> str | None:
    if old is _NO_RECORD:
        return "new env"
    if not isinstance(old, dict) or not isinstance(old.get("spec"), dict):
        return "its record is unreadable"
    if not isinstance(old.get("freeze"), list) or "backend" not in old:
        return "its record is incomplete"
    if not python.exists():
        return "its interpreter link is broken"
    changes = [
        f"changed {key} {old['spec'].get(key)!r} -> {value!r}"
        for key, value in spec.items()
        if old["spec"].get(key) != value
    ]
    return "; ".join(changes) or None


def _patch_moved(newest: Mapping[str, str], freeze: list[str], tried: Any) -> str | None:
    """Why an env is rebuilt although its spec stands: the index has a newer
    patch of a package it installed (`==2.21.*` then resolves to it). Once
    built knowing these patches (`tried`), it stands even where the resolver
    kept an older one (another requirement caps it): no rebuild every run."""
    if not newest or tried == dict(newest):
        return None
    installed = {}
    for line in freeze:
        name, sep, version = str(line).partition("==")
        if sep:
            installed[name.strip().lower().replace("_", "-")] = version.strip()
    moved = [
        f"{package} {installed[package]} -> {version}"
        for package, version in sorted(newest.items())
        if package in installed and _older(installed[package], version)
    ]
    if not moved:
        return None
    return "the index has a newer patch: " + ", ".join(moved)


def _older(installed: str, newest: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(installed) < Version(newest)
    except InvalidVersion:
        return False


def _create(venv: Path, interpreter: Path, log: Path) -> str:
    """Create the venv with uv (what nox's uv backend runs), or with the
    interpreter's own venv module and pip where uv is missing."""
    if venv.exists():
        shutil.rmtree(venv)
    uv = uv_binary()
    if uv is not None:
        _run(
            "creating the virtualenv",
            [uv, "venv", "--python", str(interpreter), str(venv)],
            log,
            300,
        )
        backend = "uv"
    else:
        _run("creating the virtualenv", [str(interpreter), "-m", "venv", str(venv)], log, 300)
        backend = "venv"
    _note(log, f"created with {backend}")
    return backend


# Never compile these from source: a missing wheel must fail in seconds with
# uv's "no wheel" message, not after minutes of building HDF5 or NumPy.
_WHEELS_ONLY = ("numpy", "h5py", "grpcio", "tensorflow", "tensorflow-cpu", "tf-nightly")


# The folder inside a venv where its npm packages live (node_modules under it).
NODE_FOLDER = "node"


def node_modules(venv: Path) -> Path:
    return venv / NODE_FOLDER / "node_modules"


def _npm_install(venv: Path, package: str, log: Path, timeout: float) -> str:
    """Install an npm package into the venv's own folder (never globally),
    without running its install scripts; its installed version, as a line
    of the env's freeze (`npm:@tensorflow/tfjs==4.22.0`)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        raise ProvisionError("Node and npm are needed for TensorFlow.js envs; neither is on PATH")
    prefix = venv / NODE_FOLDER
    prefix.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund",
               "--ignore-scripts", "--no-save", package]  # fmt: skip
    _run("installing " + package + " with npm", command, log, timeout)
    name = package.rsplit("@", 1)[0]
    manifest = node_modules(venv).joinpath(*name.split("/")) / "package.json"
    try:
        version = json.loads(manifest.read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError) as exc:
        raise ProvisionError(f"npm installed no {name} ({manifest} unreadable)") from exc
    return f"npm:{name}=={version}"


def _overrides(venv: Path, lines: list[str]) -> Path | None:
    """The release table's overrides as the file uv reads, in the venv."""
    if not lines:
        return None
    path = venv / ".matrix-overrides.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _install_command(
    backend: str, python: Path, requirements: list[str], overrides: Path | None = None
) -> list[str]:
    uv = uv_binary()
    if backend == "uv" and uv is not None:
        wheels_only = [arg for name in _WHEELS_ONLY for arg in ("--only-binary", name)]
        override = ["--override", str(overrides)] if overrides else []
        return [
            uv,
            "pip",
            "install",
            "--python",
            str(python),
            "--compile-bytecode",
            *wheels_only,
            *override,
            *requirements,
        ]
    if overrides is not None:
        msg = "this env's release needs uv's --override (the release table says why); uv is missing"
        raise ProvisionError(msg)
    return [
        str(python),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--only-binary",
        ",".join(_WHEELS_ONLY),
        *requirements,
    ]


def _freeze_command(backend: str, python: Path) -> list[str]:
    uv = uv_binary()
    if backend == "uv" and uv is not None:
        return [uv, "pip", "freeze", "--python", str(python)]
    return [str(python), "-m", "pip", "freeze", "--disable-pip-version-check"]


def _run(what: str, command: list[str], log: Path, timeout: float) -> str:
    _note(log, "$ " + " ".join(command))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        msg = f"`{' '.join(command[:3])} ...` did not finish within {timeout:.0f} s"
        raise ProvisionError(msg) from exc
    except OSError as exc:
        msg = f"cannot run {command[0]}: {exc}"
        raise ProvisionError(msg) from exc
    with log.open("a", encoding="utf-8") as handle:
        handle.write(done.stdout + done.stderr)
    if done.returncode != 0:
        excerpt = "\n".join((done.stderr or done.stdout).strip().splitlines()[-_EXCERPT_LINES:])
        msg = f"{what} failed (exit {done.returncode}):\n{excerpt}"
        raise ProvisionError(msg)
    return done.stdout


def _note(log: Path, text: str) -> None:
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"[compat-matrix] {text}\n")
