"""Env provisioning with real virtualenvs (a tiny package instead of TensorFlow)."""

from __future__ import annotations

import concurrent.futures
import sysconfig
import threading

import pytest

from matrix import files
from matrix.envs.provision import ProvisionError, provision
from matrix.paths import Layout
from matrix.selection import machine
from matrix.selection.env import Env
from matrix.selection.plan import PlannedEnv


@pytest.fixture
def planned(monkeypatch: pytest.MonkeyPatch) -> PlannedEnv:
    monkeypatch.setattr(Env, "requirements", lambda self: ["six==1.16.0"])
    interpreters = machine.discover()
    return PlannedEnv(Env.parse("tf2.15-keras2-py3.11-cpu"), interpreters[machine.host_version()])


def test_builds_then_reuses_without_the_installer(planned: PlannedEnv, layout: Layout) -> None:
    first = provision(planned, layout, install_timeout=300)
    assert not first.reused and first.rebuild_reason == "new env"
    assert "six==1.16.0" in first.freeze
    assert layout.venv_python(planned.id).exists()
    log = layout.log(planned.id, "provision")
    before = log.read_text(encoding="utf-8")

    second = provision(planned, layout, install_timeout=300)
    assert second.reused
    assert second.fingerprint == first.fingerprint
    assert log.read_text(encoding="utf-8") == before  # no installer call at all


def test_changed_spec_rebuilds_and_says_why(
    planned: PlannedEnv, layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    provision(planned, layout, install_timeout=300)
    monkeypatch.setattr(Env, "requirements", lambda self: ["six==1.17.0"])
    record = provision(planned, layout, install_timeout=300)
    assert record.rebuild_reason == ("changed requirements ['six==1.16.0'] -> ['six==1.17.0']")
    assert "six==1.17.0" in record.freeze


def test_corrupt_record_means_rebuild_not_crash(planned: PlannedEnv, layout: Layout) -> None:
    provision(planned, layout, install_timeout=300)
    files.write_atomic(layout.venv_record(planned.id), "{not json")
    record = provision(planned, layout, install_timeout=300)
    assert record.rebuild_reason == "its record is unreadable"


def test_install_failure_carries_the_installer_words(
    planned: PlannedEnv, layout: Layout, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Env, "requirements", lambda self: ["tensorflow-cpu==1.0.*"])
    with pytest.raises(ProvisionError, match="installing failed") as caught:
        provision(planned, layout, install_timeout=300)
    assert "tensorflow-cpu" in str(caught.value)
    assert not layout.venv_record(planned.id).exists()


def test_uv_is_found_the_same_from_many_threads_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Envs are provisioned from threads. uv's finder reads sysconfig, whose
    first read races on Python 3.11 (python/cpython#92452): unguarded, a
    thread got None for the executable suffix and a new env failed to build.
    The state of a fresh process is put back, then 16 threads ask at once."""
    monkeypatch.setattr(sysconfig, "_CONFIG_VARS", None)
    monkeypatch.setattr(sysconfig, "_CONFIG_VARS_INITIALIZED", False, raising=False)
    machine._find_uv.cache_clear()
    barrier = threading.Barrier(16)

    def ask(_: int) -> str | None:
        barrier.wait()
        return machine.uv_binary()

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        found = list(pool.map(ask, range(16)))
    machine._find_uv.cache_clear()
    assert found[0] is not None
    assert found == [found[0]] * 16
