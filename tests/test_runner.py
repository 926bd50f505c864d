"""The runner: each env readied once whichever stage asks, errors kept apart."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from matrix.envs.provision import ProvisionError, VenvRecord
from matrix.paths import Layout
from matrix.results import store
from matrix.results.records import EnvState
from matrix.run import runner
from matrix.run.ready import ReadyEnv
from matrix.selection.plan import Plan, PlannedEnv
from matrix.settings import Settings
from tests.conftest import plan_for

K2 = "tf2.15-keras2-py3.11-cpu"
K3 = "tf2.21-keras3-py3.11-cpu"


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Provisioning that builds nothing and counts who asked; K3 fails."""
    asked: list[str] = []

    def provision(planned: PlannedEnv, layout: Layout, timeout: float) -> VenvRecord:
        asked.append(planned.id)
        if planned.id == K3:
            raise ProvisionError("no wheel for this Python")
        return VenvRecord({"env": planned.id}, ("tensorflow==2.15.1",), "uv", False, "new env")

    monkeypatch.setattr(runner, "provision", provision)
    return asked


def test_each_env_is_readied_once_however_many_stages_ask(built: list[str], layout: Layout) -> None:
    plan = plan_for(Settings(envs=(K2, K3)))
    envs = runner.Envs(layout, install_timeout=60)
    seen: list[str] = []

    def stage(ready: ReadyEnv, plan: Plan, settings: Settings, layout: Layout) -> EnvState:
        seen.append(ready.id)
        # A stage returns the state it leaves; the runner writes it.
        return replace(ready.state, reason=f"after {len(seen)}")

    envs.ready_all(plan, Settings(jobs=2))
    for name in ("produce", "consume"):
        runner.each_env(name, stage, envs, plan, Settings(jobs=2))
    assert sorted(built) == [K2, K3]  # once each
    assert seen == [K2, K2]  # the broken env never reaches a stage
    broken = store.read_env_state(layout, plan.env(K3).env)
    assert (broken.status, broken.phase) == ("env-error", "provision")
    assert "no wheel" in (broken.reason or "")
    kept = store.read_env_state(layout, plan.env(K2).env)
    assert kept.fingerprint and kept.reason == "after 2"
    assert envs.state(plan.env(K2)) == kept


def test_a_stage_that_raises_marks_its_env_and_the_others_go_on(
    built: list[str], layout: Layout, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = plan_for(Settings(envs=(K2, "tf2.12-keras2-py3.11-cpu")))
    done: list[str] = []

    def stage(ready: ReadyEnv, plan: Plan, settings: Settings, layout: Layout) -> EnvState:
        if ready.id == K2:
            raise RuntimeError("a bug in one stage")
        done.append(ready.id)
        return ready.state

    runner.each_env("produce", stage, runner.Envs(layout, 60), plan, Settings())
    assert done == ["tf2.12-keras2-py3.11-cpu"]
    state = store.read_env_state(layout, plan.env(K2).env)
    assert state.status == "env-error" and "internal error during produce" in (state.reason or "")
    assert f"[produce] {K2}: env-error" in capsys.readouterr().out


def test_an_unavailable_env_is_recorded_not_built(built: list[str], tmp_path: Path) -> None:
    plan = plan_for(Settings(tf=("2.5",)), {"3.11": Path("/usr/bin/python3.11")})
    layout = Layout(tmp_path / "o", tmp_path / "e")
    (planned,) = plan.envs
    assert runner.Envs(layout, 60).ready(planned, "provision") is None
    assert built == []
    assert store.read_env_state(layout, planned.env).status == "unavailable"
