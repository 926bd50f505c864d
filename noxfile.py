"""Nox sessions of tf-compat-matrix.

    nox -s matrix [-- --tf 2.15 2.21 --models mlp ...]   the whole job
    nox -s "produce(<env-id>)" / "consume(<env-id>)"       one env's phase
    nox -s report                                          reports from stored results
    nox -s repro -- CELL                                   replay one cell by hand
    nox -s tests | lint

The per-env sessions are listed from the configured plan and tagged (`tf2.15`,
`keras3`, `cpu`, ...), so CI can shard with `nox -l --json -t produce`. nox's
uv backend builds the host's own sessions (`matrix`, `tests`, ...); each env's
virtualenv is `.nox/<env-id>`, built by the tool itself with `uv venv` and
`uv pip` (`matrix/envs/provision.py`: reused while its spec is unchanged) and
shared by its produce and consume sessions. `matrix` runs the stages itself
rather than through `requires=`: nox would abort every consumer of an env
that failed to build, and the matrix must report them instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

# The host package plans the sessions; import it from this checkout.
sys.path.insert(0, str(Path(__file__).resolve().parent))

nox.needs_version = ">=2026.4.10"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"

HOST = ["-e", "."]


def _configured_envs() -> list[tuple[str, list[str]]]:
    """(env id, tags) of the configured plan; nothing on a broken config, so
    `nox -l` still lists the other sessions and `matrix` reports the error."""
    from matrix.selection.select import configured_plan

    try:
        plan = configured_plan()
    except Exception:  # noqa: BLE001
        return []
    return [(p.id, p.env.tags) for p in plan.envs]


ENVS = _configured_envs()


@nox.session(tags=["matrix"])
def matrix(session: nox.Session) -> None:
    """Run the whole matrix and write reports/compat.md and compat.json."""
    session.install(*HOST)
    session.run("python", "-m", "matrix", "run", *session.posargs)


@nox.session(venv_backend="none", default=False, tags=["produce"])
@nox.parametrize("env", [nox.param(e, id=e, tags=t) for e, t in ENVS])
def produce(session: nox.Session, env: str) -> None:
    """Build or reuse .nox/<env> and save the zoo there."""
    session.run(sys.executable, "-m", "matrix", "produce", "--env", env, *session.posargs)


@nox.session(venv_backend="none", default=False, tags=["consume"])
@nox.parametrize("env", [nox.param(e, id=e, tags=t) for e, t in ENVS])
def consume(session: nox.Session, env: str) -> None:
    """Load every stored artifact in .nox/<env> through every loader."""
    session.run(sys.executable, "-m", "matrix", "consume", "--env", env, *session.posargs)


@nox.session(default=False)
def report(session: nox.Session) -> None:
    """Rebuild the reports from stored results, without touching any env."""
    session.install(*HOST)
    session.run("python", "-m", "matrix", "report", *session.posargs)


@nox.session(default=False)
def repro(session: nox.Session) -> None:
    """Write a standalone reproduction of one cell (-- CELL) and replay it."""
    session.install(*HOST)
    session.run("python", "-m", "matrix", "repro", *session.posargs)


@nox.session(default=False)
def tests(session: nox.Session) -> None:
    """Run the test suite (real TensorFlow envs included)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmark the matrix against the naive way (minutes to an hour; not CI)."""
    session.install(*HOST, "nox")  # the naive way it measures is a noxfile run by nox
    session.run("python", "bench/run.py", *session.posargs)


@nox.session(default=False)
def lint(session: nox.Session) -> None:
    """ruff and mypy over the host code; ruff (py38 rules) over the probes."""
    session.install("-e", ".[lint,test]")
    session.run("ruff", "check", ".")
    session.run("ruff", "check", "probes")
    session.run("ruff", "format", "--check", "probes")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
