"""The runner: each env readied once, then a stage run for many envs at once.

`cli.run` reads as the pipeline: ready every env (build or reuse its
virtualenv), produce, bring user models in, decide the cells (the ledger),
consume, publish. Each per-env stage runs here, `jobs` envs at a time, each
env's failure kept apart. An env is readied once per run, by whichever stage
asks first (`Envs.ready`); the stages receive the ready env, never build
one, and return its state as they leave it, which `Envs.record` writes: the
one writer of env states in a run.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from matrix.envs.provision import ProvisionError, provision
from matrix.launch import stop_all
from matrix.paths import Layout
from matrix.results import store
from matrix.results.records import EnvState
from matrix.run import references
from matrix.run.ready import ReadyEnv
from matrix.selection.plan import Plan, PlannedEnv
from matrix.settings import Settings

Stage = Callable[[ReadyEnv, Plan, Settings, Layout], EnvState]


class Envs:
    """Every planned env, built or reused at most once per run (thread-safe);
    its state (ok, env-error, unavailable) recorded the first time, and
    again after every stage."""

    def __init__(self, layout: Layout, install_timeout: float) -> None:
        self.layout = layout
        self.install_timeout = install_timeout
        self._ready: dict[str, ReadyEnv | None] = {}
        self._states: dict[str, EnvState] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def ready(self, planned: PlannedEnv, phase: str) -> ReadyEnv | None:
        """The env ready to run probes, or None (why is in its state)."""
        with self._guard:
            lock = self._locks.setdefault(planned.id, threading.Lock())
        with lock:
            if planned.id not in self._ready:
                self._ready[planned.id] = self._readied(planned, phase)
            return self._ready[planned.id]

    def ready_all(self, plan: Plan, settings: Settings) -> None:
        """Build or reuse every env of the plan, `--jobs` at a time."""
        each_env("provision", None, self, plan, settings)

    def state(self, planned: PlannedEnv) -> EnvState:
        """The env's state as this run left it so far (its stored one before)."""
        with self._guard:
            found = self._states.get(planned.id)
        return found if found is not None else store.read_env_state(self.layout, planned.env)

    def states(self, plan: Plan) -> dict[str, EnvState]:
        return {p.id: self.state(p) for p in plan.envs}

    def record(self, state: EnvState) -> EnvState:
        """Write an env's state (atomically) and keep it for the stages after."""
        store.write_env_state(self.layout, state)
        with self._guard:
            self._states[state.id] = state
            ready = self._ready.get(state.id)
            if ready is not None:
                self._ready[state.id] = replace(ready, state=state)
        return state

    def _readied(self, planned: PlannedEnv, phase: str) -> ReadyEnv | None:
        state = replace(
            store.read_env_state(self.layout, planned.env),
            interpreter=str(planned.interpreter) if planned.interpreter else None,
        )
        if planned.unavailable:
            self.record(replace(state, status="unavailable", reason=planned.unavailable))
            return None
        try:
            record = provision(planned, self.layout, self.install_timeout)
        except ProvisionError as exc:
            self.record(replace(state, status="env-error", reason=str(exc), phase=phase))
            return None
        state = replace(
            state,
            status="ok",
            reason=None,
            fingerprint=record.fingerprint,
            freeze=record.freeze,
            backend=record.backend,
            rebuild_reason=record.rebuild_reason,
        )
        return ReadyEnv(planned, record, self.record(state))


def prepare_user_models(plan: Plan, settings: Settings, layout: Layout, envs: Envs) -> None:
    if plan.user_models:
        started = time.monotonic()
        references.prepare(plan, settings, layout, lambda p: envs.ready(p, "reference"))
        seconds = time.monotonic() - started
        print(f"[reference] {len(plan.user_models)} user model(s) in {seconds:.1f} s")


def each_env(  # noqa: PLR0917 - a stage and everything it runs with
    name: str,
    stage: Stage | None,
    envs: Envs,
    plan: Plan,
    settings: Settings,
    targets: tuple[PlannedEnv, ...] | None = None,
) -> None:
    """Run one stage for each target env (default: every env), `jobs` at a
    time, readying each env first (with no stage, readying is all); the state
    each stage returns is recorded, and an error stays with its env."""

    def one(planned: PlannedEnv) -> None:
        started = time.monotonic()
        try:
            ready = envs.ready(planned, name)
            if ready is not None and stage is not None:
                envs.record(stage(ready, plan, settings, envs.layout))
        except Exception as exc:  # noqa: BLE001 - one env's bug must not stop the rest
            traceback.print_exc()
            reason = f"internal error during {name}: {exc!r}"
            envs.record(replace(envs.state(planned), status="env-error", reason=reason))
        state = envs.state(planned)
        reason = f" ({_first_line(state.reason)})" if state.reason else ""
        print(
            f"[{name}] {planned.id}: {state.status}{reason} in {time.monotonic() - started:.1f} s",
            flush=True,
        )

    with ThreadPoolExecutor(max_workers=settings.effective_jobs()) as pool:
        try:
            list(pool.map(one, plan.envs if targets is None else targets))
        except BaseException:
            # Ctrl-C or SIGTERM: leaving this block waits for the running
            # envs, so their probes are stopped first (nothing of theirs is
            # recorded; the next run goes on from what was written).
            stop_all()
            raise


def _first_line(text: Any) -> str:
    lines = str(text).strip().splitlines()
    return lines[0][:160] if lines else ""
