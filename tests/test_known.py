"""Known causes: the data file parses, matches what it says, and still
explains cells of the published real runs."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from matrix.report import jsonfile
from matrix.results import known
from matrix.results.cells import Cell
from matrix.results.document import facts
from matrix.selection.env import Env
from matrix.settings import ConfigError
from tests.conftest import ROOT

# The published reports of real runs (the default matrix and the full preset,
# the latter gzipped: no tracked file over 5 MB).
RECORDED = [
    ROOT / "reports" / "compat.json.gz",
    ROOT / "reports" / "full" / "compat.json.gz",
    ROOT / "reports" / "old" / "compat.json",
    ROOT / "reports" / "deploy" / "compat.json",
    ROOT / "reports" / "keras" / "compat.json",
]


def _read(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix == ".gz" else data).decode("utf-8")


def cell(**fields: Any) -> Cell:
    base = {
        "producer": "tf2.15-keras2-py3.11-cpu",
        "consumer": "tf2.21-keras3-py3.11-cpu",
        "model": "lstm",
        "policy": "float32",
        "format": "h5",
        "loader": "keras",
        "status": "load-error",
        "error_type": "builtins.ValueError",
        "error": "Unrecognized keyword arguments passed to LSTM: {'time_major': False}",
    }
    return Cell.from_dict({**base, **fields})


def _envs(cells: list[Cell]) -> dict[str, known.EnvFacts | None]:
    """What is known of every producer and consumer id (none for a user model)."""
    ids = {i for c in cells for i in (c.producer, c.consumer)}
    return {i: None if i.startswith("user:") else known.EnvFacts.of(Env.parse(i)) for i in ids}


def test_the_data_file_parses_with_unique_ids_and_links() -> None:
    causes = known.causes()
    assert len(causes) >= 25
    assert len({c.id for c in causes}) == len(causes)
    for cause in causes:
        assert cause.links and cause.way_out and cause.cause


def test_matching_by_message_flavour_and_version() -> None:
    cells = [
        cell(),
        cell(consumer="tf2.18-tf-keras-py3.11-cpu"),  # tf-keras keeps time_major
        cell(error="Unrecognized keyword arguments passed to GRU: {'time_major': False}"),
        cell(status="drift", error=None),
    ]
    explained, used = known.explain(cells, _envs(cells))
    assert [c.known for c in explained] == [
        "keras3-rnn-time-major",
        None,
        "keras3-rnn-time-major",
        None,
    ]
    assert set(used) == {"keras3-rnn-time-major"}


def test_version_ranges() -> None:
    spec = known.VersionRange.parse(">=2.11,<2.16", "x")
    assert (2, 11) in spec and (2, 15) in spec and (2, 16) not in spec and (2, 5) not in spec
    with pytest.raises(ConfigError, match="invalid version range"):
        known.VersionRange.parse("2.11+", "x")


def test_user_models_match_only_causes_without_producer_rules() -> None:
    cells = [
        cell(
            producer="user:mine", model="mine", error="Op type not registered 'DisableCopyOnRead'"
        ),
    ]
    (explained,), _ = known.explain(cells, _envs(cells))
    assert explained.known is None  # that cause needs a producer TF >= 2.12


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"kind": "rumour"}, "kind"),
        ({"links": ["http://insecure"]}, "https"),
        ({"status": ["identical"]}, "not a failure"),
        ({"message": "("}, "invalid pattern"),
        ({"colour": "red"}, "unknown key"),
    ],
)
def test_malformed_entries_are_refused(entry: dict[str, Any], message: str) -> None:
    good = {
        "id": "x",
        "title": "t",
        "cause": "c",
        "way_out": "w",
        "kind": "upstream",
        "links": ["https://github.com/keras-team/keras/issues/1"],
    }
    with pytest.raises(ConfigError, match=message):
        known.parse({"cause": [{**good, **entry}]}, "test.toml")


@pytest.fixture(scope="module")
def recorded() -> list[Cell]:
    """Every cell of the published real runs, as `known` explains them now."""
    if not all(p.exists() for p in RECORDED):
        pytest.skip("no published real runs")
    explained: list[Cell] = []
    for path in RECORDED:
        document = jsonfile.load_document(_read(path))
        explained += known.explain(document.cells, facts(document))[0]
    return explained


def test_every_entry_explains_cells_of_a_recorded_real_run(recorded: list[Cell]) -> None:
    """The file cannot rot silently: an entry whose cells no published real
    run has any more must be updated or removed."""
    used = {c.known for c in recorded}
    unused = [c.id for c in known.causes() if c.id not in used]
    assert unused == []


def test_every_evidence_names_a_recorded_cell_its_cause_explains(recorded: list[Cell]) -> None:
    """`evidence` is the cell the report offers to replay by hand: it must be
    one the published runs hold, and one this very cause explains."""
    by_id = {
        "/".join((c.producer, c.consumer, c.model, c.policy, c.format, c.loader)): c
        for c in recorded
    }
    with_evidence = [c for c in known.causes() if c.evidence is not None]
    assert len(with_evidence) >= 5
    for cause in with_evidence:
        found = by_id.get(cause.evidence or "")
        assert found is not None, f"{cause.id}: no recorded cell {cause.evidence}"
        assert found.known == cause.id, f"{cause.id}: {cause.evidence} says {found.known}"
