"""JUnit, HTML and the capped job summary, from the stored run of test_document."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

import pytest

from matrix.paths import Layout
from matrix.report import junit, markdown, view
from matrix.results import document
from matrix.results.cells import Cell
from matrix.results.document import Document
from matrix.selection.plan import Plan
from matrix.settings import Settings
from tests.test_document import HOSTILE, stored  # noqa: F401 - the fixture

Stored = tuple[Plan, Layout]


@pytest.fixture
def doc(stored: Stored) -> Document:  # noqa: F811
    plan, layout = stored
    built = document.build(plan, layout, Settings())
    first = built.cells[0].with_(error=HOSTILE + "\x00\x1b[31m\ud800")
    return built.with_(cells=(first, *built.cells[1:]))


def test_junit_has_one_testcase_per_cell_and_always_parses(doc: Document) -> None:
    root = ET.fromstring(junit.render(doc).encode("utf-8"))
    cases = root.findall(".//testcase")
    assert len(cases) == len(doc.cells)
    kinds = [[child.tag for child in case] for case in cases]
    assert ["failure"] in kinds  # drift, nan
    assert ["error"] in kinds  # load-error, crash
    assert ["skipped"] in kinds  # not-applicable
    assert [] in kinds  # identical
    assert int(root.get("tests", "0")) == len(cases)
    assert int(root.get("failures", "0")) == sum(c.status in ("drift", "nan") for c in doc.cells)


def test_junit_keeps_tracebacks_for_what_nobody_explained(doc: Document) -> None:
    """A cell with a known cause names it and its error's last line; a cell
    with none keeps its whole traceback (both stay whole in compat.json)."""
    traceback = "Traceback (most recent call last):\n  File deep.py\nValueError: no such layer"
    first, second, *rest = doc.cells
    known = first.with_(status="load-error", error_text=traceback, known="a-cause")
    unknown = second.with_(status="load-error", error_text=traceback, known=None)
    cause = {"title": "A thing upstream broke", "links": ["https://example.org/1"]}
    cells = [known, unknown, *rest]
    root = ET.fromstring(
        junit.render(doc.with_(cells=tuple(cells), causes={"a-cause": cause})).encode("utf-8")
    )
    errors = {
        (case.get("classname"), case.get("name")): case.find("error")
        for case in root.iter("testcase")
    }

    def text_of(cell: Cell) -> str:
        name = f"{cell.model}-{cell.policy}.{cell.format} [{cell.loader}] @ {cell.consumer}"
        error = errors[(f"compat.{cell.producer}", name)]
        assert error is not None
        return error.text or ""

    assert text_of(known).startswith("ValueError: no such layer\nknown cause a-cause: A thing")
    assert "https://example.org/1" in text_of(known) and "File deep.py" not in text_of(known)
    assert text_of(unknown) == traceback


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_summary_is_capped_with_a_visible_marker(doc: Document) -> None:
    text = markdown.render(doc) * 50
    capped = markdown.truncate(text, 10_000)
    assert len(capped.encode("utf-8")) <= 10_000
    assert capped.endswith(markdown.TRUNCATED)
    assert markdown.truncate("short\n", 10_000) == "short\n"


def _failed(producer: str, model: str, error: str, **more: Any) -> Cell:
    return Cell.from_dict(
        {
            "status": "load-error",
            "error_type": "builtins.ValueError",
            "error": error,
            "producer": producer,
            "consumer": "tf2.5-keras2-py3.9-cpu",
            "model": model,
            "policy": "float32",
            "format": "savedmodel",
            "loader": "saved-model",
            **more,
        }
    )


def test_failures_group_by_message_not_by_file_or_run() -> None:
    cells = [
        # One cause, three files, three traced-function numbers: one group.
        _failed("a", "mlp", "no file at <output>/artifacts/a/mlp.savedmodel (fn_474517)"),
        _failed("b", "cnn", "no file at <output>/artifacts/b/cnn.savedmodel (fn_66083)"),
        _failed("a", "cnn", "no file at <output>/artifacts/a/cnn.savedmodel (fn_1392)"),
        # Another cause, and the same text under another error type: two more.
        _failed("a", "mlp", "Unknown layer: Unregistered"),
        _failed("b", "mlp", "Unknown layer: Unregistered", error_type="builtins.TypeError"),
    ]
    groups = view.error_groups(cells)
    assert [len(g.cells) for g in groups] == [3, 1, 1]
    assert groups[0].message == "no file at <output>/… (fn_N)"
    assert groups[0].values("producer") == ["a", "b"]
    assert groups[0].values("model") == ["mlp", "cnn"]
    assert {(g.error_type, g.message) for g in groups[1:]} == {
        ("builtins.ValueError", "Unknown layer: Unregistered"),
        ("builtins.TypeError", "Unknown layer: Unregistered"),
    }


def test_markdown_lists_each_failure_cause_once(doc: Document) -> None:
    failing = [c for c in doc.cells if c.status != "not-applicable"][:3]
    assert len({(c.producer, c.consumer, c.format, c.loader) for c in failing}) == 3
    changed = {
        c.key: c.with_(
            status="load-error",
            error_type="builtins.OSError",
            error="same cause at <output>/artifacts/" + c.format,
        )
        for c in failing
    }
    doc = doc.with_(cells=tuple(changed.get(c.key, c) for c in doc.cells))
    text = markdown.render(doc)
    section = text.split("`load-error` (")[1].split("###")[0]
    rows = [line for line in section.splitlines() if "same cause at" in line]
    assert len(rows) == 1
    assert rows[0].startswith(f"| {len(failing)} ")


def test_a_whole_config_in_a_message_does_not_split_a_cause_per_model() -> None:
    def wrapped(model: str, cause: str) -> Cell:
        config = (
            "{'batch_shape': [None, 8], 'dtype': 'float32', 'sparse': False, "
            "'ragged': False, 'name': '%s'}"
        )
        return _failed(
            "a",
            model,
            f"Error when deserializing class 'InputLayer' using config={config % model}.",
            error_text=(
                f"Traceback (most recent call last):\n  ...\n\nException encountered: {cause}\n"
            ),
        )

    groups = view.error_groups(
        [
            wrapped("mlp", "Unrecognized keyword arguments: ['batch_shape']"),
            wrapped("cnn", "Unrecognized keyword arguments: ['batch_shape']"),
            wrapped("mlp", "Unrecognized keyword arguments: ['optional']"),
            _failed(
                "a", "mlp", "Unrecognized keyword arguments passed to LSTM: {'time_major': False}"
            ),
        ]
    )
    assert [len(g.cells) for g in groups] == [2, 1, 1]
    assert groups[0].message == (
        "Error when deserializing class 'InputLayer' using config={…}. "
        "Exception encountered: Unrecognized keyword arguments: ['batch_shape']"
    )
    # A short dict is the cause itself, and stays.
    assert any(g.message.endswith("{'time_major': False}") for g in groups)


def test_a_cut_message_says_it_was_cut() -> None:
    (group,) = view.error_groups([_failed("a", "mlp", "x" * 500)])
    assert len(group.message) == view.MESSAGE_CHARS and group.message.endswith("…")


def test_an_old_era_env_is_a_row_and_never_a_column() -> None:
    """TF 1.15-2.4 envs only save: a consumer column of theirs would be all
    pending; TFLite runtimes load and are columns."""
    from matrix.report import view
    from matrix.results.records import EnvState
    from matrix.selection.env import Env

    ids = [
        "tf1.15-keras2-py3.7-cpu",
        "tf2.21-keras3-py3.11-cpu",
        "litert2.3-interpreter-py3.11-cpu",
    ]
    envs = tuple(EnvState(Env.parse(i)) for i in ids)
    document = Document({}, envs, tuple(ids[:2]), (), (), (), {}, {}, {})
    producers, consumers = view.env_ids(document)
    assert producers == ids[:2]
    assert consumers == ids[1:]
