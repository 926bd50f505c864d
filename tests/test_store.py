"""The store: what a run keeps between phases, read tolerantly."""

from __future__ import annotations

from dataclasses import replace

from matrix import files
from matrix.paths import Layout
from matrix.results import store
from matrix.results.records import EnvState, Manifest, Measurement, PhaseRecord, Result, Versions
from matrix.run.probe import described
from matrix.selection.env import Env

E = "tf2.15-keras2-py3.11-cpu"


def _result(key: str, status: str) -> Result:
    return Result(key, "a", "b", "mlp", "h5", "keras", "s", Measurement(status))


def test_an_env_state_is_written_whole_and_read_back(layout: Layout) -> None:
    env = Env.parse(E)
    state = EnvState(env, status="ok", fingerprint="f")
    state = state.with_phase("produce", PhaseRecord(startups=(3.0,)))
    store.write_env_state(layout, state.with_phase("consume", PhaseRecord(restarts=1)))
    found = store.read_env_state(layout, env)
    assert (found.status, found.fingerprint) == ("ok", "f")
    assert set(found.phases) == {"produce", "consume"}
    assert found.phase_record("consume").restarts == 1


def test_a_missing_or_broken_state_reads_as_pending(layout: Layout) -> None:
    env = Env.parse(E)
    assert store.read_env_state(layout, env) == EnvState(env)
    layout.env_state(E).parent.mkdir(parents=True)
    layout.env_state(E).write_text('{"id": 3}', encoding="utf-8")
    assert store.read_env_state(layout, env).status == "pending"
    # Another env's state under this env's name is not this env's.
    other = EnvState(Env.parse("tf2.21-keras3-py3.11-cpu"), status="ok")
    files.write_json(layout.env_state(E), other.to_dict())
    assert store.read_env_state(layout, env) == EnvState(env)


def test_a_broken_manifest_reads_as_empty(layout: Layout) -> None:
    files.write_json(layout.manifest("e"), {"schema_version": 1, "artifacts": {"x": {}}})
    assert store.read_manifest(layout, "e") == Manifest("e")


def test_the_last_result_for_a_key_wins_and_broken_lines_are_redone(layout: Layout) -> None:
    store.append_result(layout, "b", _result("k1", "crash"))
    store.append_result(layout, "b", _result("k1", "predicted"))
    files.append_line(layout.results("b"), {"key": "k2", "status": 5})
    found = store.read_results(layout, "b")
    assert list(found) == ["k1"] and found["k1"].measured.status == "predicted"
    assert store.any_results(layout, ["b"]) and not store.any_results(layout, ["c"])


def test_keys_are_content_addresses() -> None:
    one = store.cell_key("a", "f", "p", "keras")
    assert one == store.cell_key("a", "f", "p", "keras")
    assert one != store.cell_key("a", "f", "p", "keras", unsafe=True)
    assert one != store.cell_key("a", "f", "q", "keras")  # another probe version


def test_the_probe_version_ignores_comments_and_formatting() -> None:
    assert len(store.probe_version()) == 16


def test_what_a_probe_said_of_its_env_is_kept_portable_and_complete(layout: Layout) -> None:
    """Standalone Keras 2.3.1 installs as `Keras-2.3.1.dist-info`, which the
    Python 3.7 probe does not find: the env's package list says the version.
    The sandbox's folders are spelled without this machine's output folder."""
    env_id = "tf1.15-standalone-keras-py3.7-cpu"
    freeze = ("keras==2.3.1", "keras-applications==1.0.8", "tensorflow==1.15.5")
    writes = f"only {layout.artifacts(env_id)}"
    hello = {"keras": None, "keras_flavour": "standalone-keras", "sandbox": {"writes": writes}}
    kept = described(layout, hello)
    assert kept["sandbox"] == {"writes": f"only <output>/artifacts/{env_id}"}
    state = EnvState(Env.parse(env_id), freeze=freeze, versions=Versions.from_dict(kept))
    assert state.keras == "2.3.1"
    # The probe's own word stands; tf.keras bundled with TF has no package.
    said = replace(state, versions=Versions.from_dict({**hello, "keras": "2.3.0"}))
    assert said.keras == "2.3.0"
    bundled = EnvState(Env.parse("tf2.0-keras2-py3.7-cpu"), versions=Versions(keras=None))
    assert bundled.keras is None
