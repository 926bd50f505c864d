"""Typed records: what is written reads back the same, and what is not a
record of its type is refused, naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from matrix.results.records import (
    ArtifactEntry,
    EnvState,
    Manifest,
    Measurement,
    PhaseRecord,
    RecordError,
    Result,
)
from matrix.selection.env import Env

ENTRY = ArtifactEntry(
    model="mlp",
    policy="float32",
    format="h5",
    path="mlp-float32.h5",
    status="saved",
    reference="mlp-float32.ref.npz",
    files={"mlp-float32.h5": "ab" * 32},
    sha256="cd" * 32,
    reference_sha256="ef" * 32,
    seconds=0.25,
    input_names=("x",),
    description={"layers": [{"class": "Dense"}]},
)


def test_a_manifest_round_trips() -> None:
    manifest = Manifest("tf2.15-keras2-py3.11-cpu", {ENTRY.path: ENTRY}, probe="p", env={"a": 1})
    assert Manifest.from_dict(manifest.to_dict()) == manifest
    assert manifest.by_key() == {("mlp", "float32", "h5"): ENTRY}


def test_a_result_is_one_flat_line_with_its_parts() -> None:
    result = Result(
        key="k",
        producer="a",
        consumer="b",
        model="mlp",
        format="h5",
        loader="keras",
        artifact_sha256="s",
        measured=Measurement("load-error", error="boom"),
        inference=Measurement("predicted", output="o.npz", load_seconds=0.5, predict_seconds=0.25),
    )
    line = result.to_dict()
    assert line["status"] == "load-error" and line["inference"]["status"] == "predicted"
    assert "attempted" not in line  # the default is not written
    assert Result.from_dict(line) == result
    assert result.parts() == [result.measured, result.inference]
    assert result.inference is not None and result.inference.seconds == 0.75


def test_an_env_state_keeps_its_phases_in_the_flat_shape_on_disk() -> None:
    state = EnvState(
        Env.parse("tf2.15-keras2-py3.11-cpu"),
        status="ok",
        freeze=("tensorflow==2.15.1",),
        phases={"consume": PhaseRecord(restarts=1, startups=(2.5, 1.0), tasks=10, seconds=4.0)},
    )
    data = state.to_dict()
    assert data["consume_startups"] == [2.5, 1.0]
    assert data["consume_work"] == {"tasks": 10, "seconds": 4.0}
    assert data["id"] == "tf2.15-keras2-py3.11-cpu"
    assert EnvState.from_dict(data) == state
    assert state.phase_record("produce") == PhaseRecord()


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        (ArtifactEntry, {"model": "m"}, "'policy' is missing"),
        (ArtifactEntry, {**ENTRY.to_dict(), "seconds": "fast"}, "seconds: expected a number"),
        (ArtifactEntry, {**ENTRY.to_dict(), "files": ["a"]}, "files: expected Mapping"),
        (Measurement, {"status": None}, "null where a value is required"),
        (Measurement, {"status": "predicted", "nondeterministic": 1}, "expected bool"),
        (Measurement, [1, 2], "expected a JSON object"),
        (EnvState, {"id": 3}, "expected a JSON object with an id"),
        (EnvState, {"id": "tf9.9-keras2-py3.11-cpu"}, "Unknown release '9.9'"),
        (Result, {"key": "k"}, "status"),
    ],
)
def test_what_is_not_a_record_is_refused_naming_the_field(
    kind: type, data: object, message: str
) -> None:
    with pytest.raises(RecordError, match=message):
        kind.from_dict(data)  # type: ignore[attr-defined]


def test_keys_a_newer_writer_adds_are_ignored() -> None:
    assert ArtifactEntry.from_dict({**ENTRY.to_dict(), "added_later": 1}) == ENTRY


def test_a_manifest_of_another_schema_is_refused() -> None:
    data = Manifest("e").to_dict()
    data["schema_version"] = 99
    with pytest.raises(RecordError, match="schema_version"):
        Manifest.from_dict(data)


def test_an_artifact_never_tried_is_tried_again(tmp_path: Path) -> None:
    """A producer whose restart budget ran out left models unsaved: their
    entries say so, and the next run saves them; a failure that was tried
    repeats with the same env and probe, so it is kept."""
    from matrix.run.produce import _kept

    tried = ArtifactEntry("mlp", "float32", "h5", "mlp.h5", "no-artifact", "mlp.ref.npz")
    never = tried.with_(attempted=False)
    assert "attempted" not in tried.to_dict()
    assert ArtifactEntry.from_dict(never.to_dict()) == never
    assert _kept(tmp_path, tried) and not _kept(tmp_path, never)
