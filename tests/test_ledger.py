"""The ledger: every fact about a cell decided once, for every stage that asks."""

from __future__ import annotations

import pytest

from matrix.paths import Layout
from matrix.results import document, store
from matrix.results.ledger import Fate, ledger
from matrix.results.records import Measurement, Result
from matrix.selection.plan import CellKey, Plan
from matrix.settings import Settings
from tests.test_document import K2, K3, stored  # noqa: F401 - the fixture


def _fates(plan: Plan, layout: Layout, **options: object) -> dict[tuple[str, ...], Fate]:
    cells = ledger(plan, layout, document.states(plan, layout), **options)  # type: ignore[arg-type]
    return {(c.key.producer, c.key.consumer, c.key.format, c.key.loader): c.fate for c in cells}


def test_each_cell_is_decided_before_any_load(stored: tuple[Plan, Layout]) -> None:  # noqa: F811
    plan, layout = stored
    fates = _fates(plan, layout)
    assert len(fates) == sum(1 for _ in plan.cells())
    assert fates[(K2, K2, "h5", "keras")] is Fate.RUNS
    assert fates[(K3, K2, "savedmodel", "keras")] is Fate.SAVE_FAILED
    # TFSMLayer is Keras 3's: a Keras 2 consumer has no such loader.
    assert fates[(K2, K2, "savedmodel", "tfsm-layer")] is Fate.NO_LOADER
    assert fates[(K2, K3, "savedmodel", "tfsm-layer")] is Fate.RUNS


def test_pending_cells_are_what_consume_runs_and_what_the_document_lacks(
    stored: tuple[Plan, Layout],  # noqa: F811
) -> None:
    """The same cells are work for consume, pending in the document and
    priced by nothing else: one rule."""
    plan, layout = stored
    cells = ledger(plan, layout, document.states(plan, layout))
    pending = {c.key for c in cells if c.pending}
    doc = document.build(plan, layout, Settings(), cells)
    assert pending == {CellKey(**p) for p in doc.pending}
    assert {c.key for c in cells.pending(K3)} == {k for k in pending if k.consumer == K3}
    runs = [c for c in cells if c.fate is Fate.RUNS]
    assert all(c.digest for c in runs)
    assert all(c.stored is not None and c.stored.attempted for c in runs if c.reusable)


def test_fresh_ignores_stored_results_and_a_lost_output_is_redone(
    stored: tuple[Plan, Layout],  # noqa: F811
) -> None:
    plan, layout = stored
    states = document.states(plan, layout)
    before = [c for c in ledger(plan, layout, states) if c.fate is Fate.RUNS and not c.pending]
    assert before
    fresh = ledger(plan, layout, states, fresh=True)
    assert all(c.pending for c in fresh if c.fate is Fate.RUNS)
    for path in layout.outputs(K2).glob("*.npz"):
        path.unlink()
    lost = {c.key for c in ledger(plan, layout, states) if c.pending}
    assert (K2, K2, "h5") in {(k.producer, k.consumer, k.format) for k in lost}


def test_an_output_changed_since_it_was_written_is_redone(
    stored: tuple[Plan, Layout],  # noqa: F811
) -> None:
    """A restored cache whose output bytes differ from the digest the result
    recorded (a corrupt cache, a half-written disk) is measured again."""
    plan, layout = stored
    states = document.states(plan, layout)
    kept = {c.key for c in ledger(plan, layout, states) if c.reusable}
    outputs = sorted(layout.outputs(K2).glob("*.npz"))
    assert kept and outputs
    outputs[0].write_bytes(outputs[0].read_bytes() + b"x")
    redone = {c.key for c in ledger(plan, layout, states) if c.pending and c.key in kept}
    assert redone, "a changed output was reused"
    assert all(k.consumer == K2 for k in redone)


def test_a_result_never_attempted_is_tried_again(stored: tuple[Plan, Layout]) -> None:  # noqa: F811
    plan, layout = stored
    states = document.states(plan, layout)
    (cell,) = [
        c for c in ledger(plan, layout, states)
        if c.fate is Fate.RUNS and (c.key.producer, c.key.consumer, c.key.format) == (K2, K3, "h5")
    ]  # fmt: skip
    assert not cell.pending and cell.digest is not None
    skipped = Result(cell.digest, K2, K3, "mlp", "h5", "keras", "x", Measurement("crash"),
                     attempted=False)  # fmt: skip
    store.append_result(layout, K3, skipped)
    (again,) = ledger(plan, layout, states, keys=[cell.key])
    assert again.pending


def test_redone_producers_and_uninspected_files(stored: tuple[Plan, Layout]) -> None:  # noqa: F811
    """The estimate's view: a producer produce will redo has no entries yet;
    a file never inspected is consume's to inspect (its cells still run),
    where the report lets the gate refuse it."""
    plan, layout = stored
    fates = _fates(plan, layout, redone=frozenset({K3}))
    assert {f for (p, *_), f in fates.items() if p == K3} == {Fate.NO_ENTRY}
    for path in (layout.output / "inspections").glob("*.json"):
        path.unlink()
    assert _fates(plan, layout)[(K2, K2, "h5", "keras")] is Fate.REFUSED
    assert _fates(plan, layout, inspect="later")[(K2, K2, "h5", "keras")] is Fate.RUNS
    with pytest.raises(ValueError, match="inspect: expected one of run, read, later"):
        ledger(plan, layout, {}, inspect="sometimes")
