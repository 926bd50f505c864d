from __future__ import annotations

import json
from pathlib import Path

import pytest

from matrix import files
from matrix.results.merge import merge
from matrix.settings import ConfigError

E1 = "tf2.15-keras2-py3.11-cpu"


def shard(
    root: Path,
    env: str,
    *,
    results: list[dict[str, object]],
    state: dict[str, object],
    artifact: bool = False,
) -> Path:
    files.write_json(root / "envs" / f"{env}.json", {"id": env, **state})
    if artifact:
        files.write_json(root / "artifacts" / env / "manifest.json", {"artifacts": {}})
        (root / "artifacts" / env / "m.h5").write_bytes(b"m")
    for record in results:
        files.append_line(root / "results" / f"{env}.jsonl", record)
    return root


def test_shards_union_and_the_consumers_state_wins(tmp_path: Path) -> None:
    produced = shard(
        tmp_path / "p",
        E1,
        results=[],
        artifact=True,
        state={"status": "ok", "fingerprint": "built-there", "produce_startups": [3.0]},
    )
    consumed = shard(
        tmp_path / "c",
        E1,
        results=[{"key": "k1"}, {"key": "k2"}],
        state={"status": "ok", "fingerprint": "consumed-here", "consume_startups": [4.0]},
    )
    # A shard killed mid-write leaves a cut last line; it is not carried over.
    with (consumed / "results" / f"{E1}.jsonl").open("ab") as handle:
        handle.write(b'{"key": "k3", "cut')
    into = tmp_path / "merged"
    merge([consumed, produced], into)
    state = json.loads((into / "envs" / f"{E1}.json").read_text())
    assert state["fingerprint"] == "consumed-here"
    assert state["produce_startups"] == [3.0] and state["consume_startups"] == [4.0]
    assert (into / "artifacts" / E1 / "m.h5").read_bytes() == b"m"
    lines = (into / "results" / f"{E1}.jsonl").read_bytes().splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["k1", "k2"]


def test_not_an_output_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="Not a matrix output folder"):
        merge([tmp_path / "empty"], tmp_path / "into")
