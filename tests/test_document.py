"""compat.json from a stored run written with the real store functions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from matrix import files
from matrix.paths import Layout
from matrix.report import markdown
from matrix.results import document, store
from matrix.results.cells import Cell
from matrix.results.document import Document
from matrix.results.records import ArtifactEntry, Manifest, Result
from matrix.safety.findings import Inspection
from matrix.selection.plan import Plan
from matrix.settings import Settings
from tests.conftest import plan_for, set_state

K2 = "tf2.15-keras2-py3.11-cpu"
K3 = "tf2.21-keras3-py3.11-cpu"
HOSTILE = "boom | <script>x</script>\nsecond line"
REF = np.array([[1.0, 2.0]], dtype=np.float32)


def _saved(layout: Layout, env: str, fmt: str) -> ArtifactEntry:
    root = layout.artifacts(env)
    root.mkdir(parents=True, exist_ok=True)
    name = layout.artifact_name("mlp", "float32", fmt)
    (root / name).write_bytes(f"{env}-{fmt}".encode())
    np.savez(root / "mlp-float32.ref.npz", input_0=REF, output_0=REF)
    entry = ArtifactEntry(
        model="mlp",
        policy="float32",
        format=fmt,
        status="saved",
        path=name,
        reference="mlp-float32.ref.npz",
        files=files.hash_tree(root, root / name),
        reference_sha256=files.sha256_file(root / "mlp-float32.ref.npz"),
    )
    entry = entry.with_(sha256=store.artifact_digest(entry))
    # What the producer's inspection found: nothing (the gate lets it through).
    clean = Inspection(fmt).to_dict()
    files.write_json(layout.inspection(store.inspection_key(entry)), clean)
    return entry


def _result(
    layout: Layout,
    consumer: str,
    producer: str,
    entry: ArtifactEntry,
    loader: str,
    *,
    fields: dict[str, Any] | None = None,
    output: np.ndarray | None = None,
) -> None:
    fingerprint = f"fp-{consumer}"
    assert entry.sha256 is not None
    record = {
        "key": store.cell_key(entry.sha256, fingerprint, store.probe_version(), loader),
        "producer": producer,
        "consumer": consumer,
        "model": "mlp",
        "format": entry.format,
        "loader": loader,
        "artifact_sha256": entry.sha256,
        **(fields or {}),
    }
    if output is not None:
        path = layout.outputs(consumer) / f"{producer}-{entry.format}-{loader}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, output_0=output)
        record.update(
            status="predicted",
            output=path.name,
            output_sha256=files.sha256_file(path),
            load_seconds=0.5,
            predict_seconds=0.25,
            nondeterministic=False,
        )
    store.append_result(layout, consumer, Result.from_dict(record))


@pytest.fixture
def stored(layout: Layout) -> tuple[Plan, Layout]:
    plan = plan_for(
        Settings(
            envs=(K2, K3), models=("mlp",), policies=("float32",), formats=("h5", "savedmodel")
        )
    )
    for env in (K2, K3):
        set_state(
            layout,
            env,
            status="ok",
            fingerprint=f"fp-{env}",
            versions={"python": "3.11.7", "keras": "x", "numpy": "1.26.4"},
        )
    k2_h5, k2_sm = _saved(layout, K2, "h5"), _saved(layout, K2, "savedmodel")
    k3_h5 = _saved(layout, K3, "h5")
    store.write_manifest(layout, Manifest(K2, {k2_h5.path: k2_h5, k2_sm.path: k2_sm}))
    failed = ArtifactEntry(
        model="mlp",
        policy="float32",
        format="savedmodel",
        path="mlp-float32.savedmodel",
        status="no-artifact",
        reference="mlp-float32.ref.npz",
        error_type="builtins.ValueError",
        error="export failed",
    )
    store.write_manifest(layout, Manifest(K3, {k3_h5.path: k3_h5, failed.path: failed}))
    _result(layout, K2, K2, k2_h5, "keras", output=REF.copy())
    _result(layout, K2, K2, k2_sm, "keras", output=REF + np.float32(0.5))
    _result(layout, K2, K2, k2_sm, "saved-model", output=np.array([[1.0, np.nan]], np.float32))
    _result(
        layout,
        K2,
        K3,
        k3_h5,
        "keras",
        fields={"status": "load-error", "error_type": "builtins.TypeError", "error": HOSTILE},
    )
    _result(
        layout,
        K3,
        K2,
        k2_h5,
        "keras",
        fields={"status": "crash", "error_type": "crash", "error": "killed by SIGSEGV"},
    )
    return plan, layout


def _cell(doc: Document, producer: str, consumer: str, fmt: str, loader: str) -> Cell:
    (cell,) = [
        c
        for c in doc.cells
        if (c.producer, c.consumer, c.format, c.loader) == (producer, consumer, fmt, loader)
    ]
    return cell


def test_every_cell_gets_exactly_one_status(stored: tuple[Plan, Layout]) -> None:
    plan, layout = stored
    doc = document.build(plan, layout, Settings())
    assert doc.schema_version == 4
    assert len(doc.cells) + len(doc.pending) == sum(1 for _ in plan.cells())
    status = {(c.producer, c.consumer, c.format, c.loader): c.status for c in doc.cells}
    assert status[(K2, K2, "h5", "keras")] == "identical"
    assert status[(K2, K2, "savedmodel", "keras")] == "drift"
    assert status[(K2, K2, "savedmodel", "saved-model")] == "nan"
    assert status[(K2, K2, "savedmodel", "tfsm-layer")] == "not-applicable"
    assert status[(K3, K2, "h5", "keras")] == "load-error"
    assert status[(K3, K2, "savedmodel", "keras")] == "no-artifact"
    assert status[(K2, K3, "h5", "keras")] == "crash"
    # Never measured: pending, not guessed.
    assert {
        "producer": K2,
        "consumer": K3,
        "model": "mlp",
        "policy": "float32",
        "format": "savedmodel",
        "loader": "tfsm-layer",
    } in doc.pending


def test_drift_records_distances_and_errors_keep_their_text(stored: tuple[Plan, Layout]) -> None:
    plan, layout = stored
    doc = document.build(plan, layout, Settings())
    drift = _cell(doc, K2, K2, "savedmodel", "keras")
    assert (drift.max_abs, drift.max_ulp) == (0.5, drift.max_ulp)
    assert drift.max_rel == 0.5
    assert drift.seconds == 0.75
    error = _cell(doc, K3, K2, "h5", "keras")
    assert (error.error_type, error.error) == ("builtins.TypeError", HOSTILE)


def test_env_level_states_decide_whole_rows_and_columns(stored: tuple[Plan, Layout]) -> None:
    plan, layout = stored
    set_state(layout, K3, status="env-error", reason="installing failed\nresolver")
    doc = document.build(plan, layout, Settings())
    assert _cell(doc, K2, K3, "h5", "keras").status == "env-error"
    assert _cell(doc, K3, K2, "h5", "keras").status == "no-artifact"
    assert "installing failed" in _cell(doc, K3, K2, "h5", "keras").error
    set_state(layout, K3, status="unavailable", reason="no GPU visible")
    doc = document.build(plan, layout, Settings())
    assert _cell(doc, K3, K2, "h5", "keras").status == "unavailable"


def test_tampered_output_is_recomputed_not_trusted(stored: tuple[Plan, Layout]) -> None:
    plan, layout = stored
    for path in layout.outputs(K2).glob("*.npz"):
        path.write_bytes(b"tampered")
    doc = document.build(plan, layout, Settings())
    assert all(c.status not in ("identical", "drift", "nan") for c in doc.cells)


def test_markdown_renders_tables_and_escapes(stored: tuple[Plan, Layout], tmp_path: Path) -> None:
    plan, layout = stored
    text = markdown.render(document.build(plan, layout, Settings()))
    assert "### `h5` format, `keras` loader" in text
    assert "| TF 2.15 (Keras 2) " in text and "TF 2.21 (Keras 3)" in text
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "boom \\| &lt;script&gt;" in text
    rows = [line for line in text.splitlines() if "TypeError" in line and "boom" in line]
    assert len(rows) == 2  # under "New or unexplained" and under Details
    for row in rows:
        assert len(re.split(r"(?<!\\)\|", row)) == 10 + 2  # 10 columns, 2 edges
    assert "**new or unexplained**" in text
    assert "have no result yet" in text
