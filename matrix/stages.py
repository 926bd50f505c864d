"""Stages: run one per-env stage for many envs at once, each failure kept apart."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from matrix import references, store
from matrix.config import Settings
from matrix.paths import Layout
from matrix.phase import ready_env
from matrix.plan import Plan, PlannedEnv

Stage = Callable[[PlannedEnv, Plan, Settings, Layout], None]


def provision(planned: PlannedEnv, plan: Plan, settings: Settings, layout: Layout) -> None:
    ready_env(planned, layout, settings, "provision")


def prepare_user_models(plan: Plan, settings: Settings, layout: Layout) -> None:
    if plan.user_models:
        started = time.monotonic()
        references.prepare(plan, settings, layout)
        seconds = time.monotonic() - started
        print(f"[reference] {len(plan.user_models)} user model(s) in {seconds:.1f} s")


def each_env(  # noqa: PLR0917 - a stage and everything it runs with
    name: str,
    stage: Stage,
    plan: Plan,
    settings: Settings,
    layout: Layout,
    targets: tuple[PlannedEnv, ...] | None = None,
) -> None:
    """Run one stage for each target env (default: every env), `jobs` at a
    time; an error stays with its env."""

    def one(planned: PlannedEnv) -> None:
        started = time.monotonic()
        try:
            stage(planned, plan, settings, layout)
        except Exception as exc:  # noqa: BLE001 - one env's bug must not stop the rest
            traceback.print_exc()
            store.write_env_state(
                layout,
                planned.id,
                {"status": "env-error", "reason": f"internal error during {name}: {exc!r}"},
            )
        state = store.read_env_state(layout, planned.id)
        status = state.get("status", "?")
        reason = f" ({_first_line(state.get('reason'))})" if state.get("reason") else ""
        print(
            f"[{name}] {planned.id}: {status}{reason} in {time.monotonic() - started:.1f} s",
            flush=True,
        )

    with ThreadPoolExecutor(max_workers=settings.effective_jobs()) as pool:
        list(pool.map(one, plan.envs if targets is None else targets))


def _first_line(text: Any) -> str:
    lines = str(text).strip().splitlines()
    return lines[0][:160] if lines else ""
