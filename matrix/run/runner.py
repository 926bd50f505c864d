"""The runner: each env readied once, then a stage run for many envs at once.

`cli.run` reads as the pipeline: ready every env (build or reuse its
virtualenv), produce, bring user models in, consume, publish. Each per-env
stage runs here, `jobs` envs at a time, each env's failure kept apart. An
env is readied once per run, by whichever stage asks first (`Envs.ready`);
the stages receive the ready env and never build one.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from matrix.envs.provision import ProvisionError, ReadyEnv, provision
from matrix.launch import stop_all
from matrix.paths import Layout
from matrix.results import store
from matrix.run import references
from matrix.selection.plan import Plan, PlannedEnv
from matrix.settings import Settings

Stage = Callable[[ReadyEnv, Plan, Settings, Layout], None]


class Envs:
    """Every planned env, built or reused at most once per run (thread-safe);
    its state (ok, env-error, unavailable) recorded the first time."""

    def __init__(self, layout: Layout, install_timeout: float) -> None:
        self.layout = layout
        self.install_timeout = install_timeout
        self._ready: dict[str, ReadyEnv | None] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def ready(self, planned: PlannedEnv, phase: str) -> ReadyEnv | None:
        """The env ready to run probes, or None (why is in its state)."""
        with self._guard:
            lock = self._locks.setdefault(planned.id, threading.Lock())
        with lock:
            if planned.id not in self._ready:
                self._ready[planned.id] = _ready_env(
                    planned, self.layout, self.install_timeout, phase
                )
            return self._ready[planned.id]


def _ready_env(
    planned: PlannedEnv, layout: Layout, install_timeout: float, phase: str
) -> ReadyEnv | None:
    known = {
        "device": planned.env.device,
        "keras_flavour": planned.env.flavour,
        "interpreter": str(planned.interpreter) if planned.interpreter else None,
    }
    if planned.unavailable:
        store.update_env_state(
            layout, planned.id, **known, status="unavailable", reason=planned.unavailable
        )
        return None
    try:
        record = provision(planned, layout, install_timeout)
    except ProvisionError as exc:
        store.update_env_state(
            layout, planned.id, **known, status="env-error", reason=str(exc), phase=phase
        )
        return None
    store.update_env_state(
        layout,
        planned.id,
        **known,
        status="ok",
        reason=None,
        fingerprint=record.fingerprint,
        freeze=record.freeze,
        backend=record.backend,
        rebuild_reason=record.rebuild_reason,
    )
    return ReadyEnv(planned, record)


def built(ready: ReadyEnv, plan: Plan, settings: Settings, layout: Layout) -> None:
    """The provision stage: readying the env was all of it."""


def prepare_user_models(plan: Plan, settings: Settings, layout: Layout, envs: Envs) -> None:
    if plan.user_models:
        started = time.monotonic()
        references.prepare(plan, settings, layout, lambda p: envs.ready(p, "reference"))
        seconds = time.monotonic() - started
        print(f"[reference] {len(plan.user_models)} user model(s) in {seconds:.1f} s")


def each_env(  # noqa: PLR0917 - a stage and everything it runs with
    name: str,
    stage: Stage,
    envs: Envs,
    plan: Plan,
    settings: Settings,
    layout: Layout,
    targets: tuple[PlannedEnv, ...] | None = None,
) -> None:
    """Run one stage for each target env (default: every env), `jobs` at a
    time, readying each env first; an error stays with its env."""

    def one(planned: PlannedEnv) -> None:
        started = time.monotonic()
        try:
            ready = envs.ready(planned, name)
            if ready is not None:
                stage(ready, plan, settings, layout)
        except Exception as exc:  # noqa: BLE001 - one env's bug must not stop the rest
            traceback.print_exc()
            store.update_env_state(
                layout,
                planned.id,
                status="env-error",
                reason=f"internal error during {name}: {exc!r}",
            )
        state = store.read_env_state(layout, planned.id)
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
