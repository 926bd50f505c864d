"""Cell history: what changed since the last run, when each cause was seen,
a history that cannot be read set aside (never a crash, never silent)."""

from __future__ import annotations

from pathlib import Path

from matrix.report import history
from matrix.results.cells import Cell
from matrix.results.document import Document
from matrix.results.records import EnvState
from matrix.selection.env import Env

K2, K3, NEW = "tf2.15-keras2-py3.11-cpu", "tf2.21-keras3-py3.11-cpu", "tf2.20-keras3-py3.11-cpu"


def _night(when: str, statuses: dict[str, tuple[str, str | None]], envs: list[str]) -> Document:
    cells = tuple(
        Cell(producer=K2, consumer=K3, model=model, policy="float32", format="h5",
             loader="keras", status=status, known=known)
        for model, (status, known) in statuses.items()
    )  # fmt: skip
    states = tuple(EnvState(Env.parse(e), status="ok") for e in envs)
    return Document({"when": when}, states, (), (), cells, (), {}, {}, {})


def test_a_night_says_what_changed_since_the_one_before(tmp_path: Path) -> None:
    path = tmp_path / history.CELLS_HISTORY
    first = _night("2026-12-01T04:17:00+00:00",
                   {"mlp": ("identical", None), "lstm": ("load-error", "keras3-rnn-time-major"),
                    "cnn": ("identical", None)}, [K2, K3])  # fmt: skip
    kept = history.read(path)
    assert history.since(kept, first)["previous"] is None  # the first night: nothing before
    history.write(history.add(kept, first), path)
    second = _night("2026-12-02T04:17:00+00:00",
                    {"mlp": ("load-error", None), "lstm": ("identical", None),
                     "cnn": ("identical", None)}, [K2, K3, NEW])  # fmt: skip
    kept = history.read(path)
    found = history.since(kept, second)
    assert found["previous"] == "2026-12-01T04:17:00+00:00"
    assert [c["cell"].split("/")[2] for c in found["new_failures"]] == ["mlp"]
    assert [c["cell"].split("/")[2] for c in found["fixes"]] == ["lstm"]
    assert found["new_envs"] == [NEW] and found["gone_envs"] == []
    kept = history.add(kept, second)
    history.write(kept, path)
    seen = history.causes_seen(history.read(path))
    assert seen["keras3-rnn-time-major"] == {"first_seen": "2026-12-01T04:17:00+00:00",
                                             "last_seen": "2026-12-01T04:17:00+00:00"}  # fmt: skip
    # A cell that never changed is one entry, however many nights.
    assert len(history.read(path).cells[f"{K2}/{K3}/cnn/float32/h5/keras"][1]) == 1


def test_an_unreadable_history_is_set_aside_and_said(tmp_path: Path) -> None:
    path = tmp_path / history.CELLS_HISTORY
    path.write_bytes(b"\x1f\x8b not really gzip")
    kept = history.read(path)
    assert kept.nights == [] and kept.note and "could not be read" in kept.note
    assert (tmp_path / f"{history.CELLS_HISTORY}.unreadable").is_file() and not path.exists()
    assert history.since(kept, _night("w", {}, [K2]))["note"] == kept.note
