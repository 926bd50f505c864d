"""Render `compat.md` from a `compat.json` document (GitHub tables via tabulate)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from tabulate import tabulate

from matrix.report.escape import md_cell
from matrix.status import MEANINGS, SYMBOLS, Status

_FLAVOUR_LABEL = {"keras2": "k2", "keras3": "k3", "tf-keras": "tfk"}
_NOT_FAILING = {Status.IDENTICAL, Status.CLOSE, Status.NOT_APPLICABLE}


def render(document: dict[str, Any]) -> str:
    labels = env_labels([env["id"] for env in document["envs"]])
    parts = [
        _header(document),
        _envs(document, labels),
        _legend(),
        _tables(document, labels),
        _notes(document, labels),
        _details(document, labels),
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def _table(rows: list[list[str]], headers: list[str]) -> str:
    # disable_numparse: "2.20" must stay "2.20", not become 2.2.
    return str(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))


def env_labels(env_ids: list[str]) -> dict[str, str]:
    """Short column labels: the TF version and flavour, plus whatever else
    (Python, device, Keras pin) differs between the envs of this report."""
    parts = {env_id: env_id.split("-py", 1) for env_id in env_ids}
    rests = {rest for _, rest in parts.values()}
    labels = {}
    for env_id, (head, rest) in parts.items():
        tf, flavour = head[2:].split("-", 1)
        label = f"{tf} {_FLAVOUR_LABEL.get(flavour, flavour)}"
        if len(rests) > 1:
            label += f" py{rest}"
        labels[env_id] = label
    return labels


def _header(document: dict[str, Any]) -> str:
    run = document["run"]
    selection = run["selection"]
    totals = " · ".join(
        f"{Status(s).symbol} {s} {n}" for s, n in _ordered_counts(document["summary"])
    )
    lines = [
        "# TensorFlow/Keras compatibility matrix",
        "",
        f"Generated {md_cell(run['when'])} on {md_cell(run['host'])} "
        f"({md_cell(run['platform'])}) by tf-compat-matrix {md_cell(run['tool_version'])} "
        f"(probe {md_cell(run['probe_version'])}).",
        "",
        f"Models: {md_cell(', '.join(selection['models']))}. "
        f"Policies: {md_cell(', '.join(selection['policies']))}. "
        f"Formats: {md_cell(', '.join(selection['formats']))}. "
        f"Loaders: {md_cell(', '.join(selection['loaders']))}.",
        "",
        "Tolerances (`close` means |a − b| ≤ atol + rtol·|b|): "
        + "; ".join(
            f"{md_cell(name)} atol {tol['atol']:g} rtol {tol['rtol']:g}"
            for name, tol in run["tolerances"].items()
        )
        + ".",
        "",
        f"Cells: {len(document['cells'])}. {totals}",
    ]
    if run.get("unsafe"):
        lines += ["", "**Unsafe mode was on**: models needing unsafe deserialization were loaded."]
    if document.get("pending"):
        lines += [
            "",
            f"**{len(document['pending'])} cell(s) have no result yet** (run "
            "`nox -s matrix` with the same selection to compute them).",
        ]
    return "\n".join(lines)


def _ordered_counts(summary: dict[str, int]) -> list[tuple[str, int]]:
    order = [s.value for s in Status]
    return sorted(summary.items(), key=lambda item: order.index(item[0]))


def _envs(document: dict[str, Any], labels: dict[str, str]) -> str:
    rows = []
    for env in document["envs"]:
        keras = env.get("keras") or "?"
        status = env["status"] if not env.get("reason") else f"{env['status']}: {env['reason']}"
        rows.append(
            [
                md_cell(labels[env["id"]]),
                md_cell(env["id"]),
                md_cell(env.get("python") or "?"),
                md_cell(env.get("tensorflow") or "?"),
                md_cell(f"{keras} ({env.get('keras_flavour') or '?'})"),
                md_cell(env.get("numpy") or "?"),
                md_cell(env.get("device") or "?"),
                md_cell(status, 200),
            ]
        )
    headers = ["key", "env", "Python", "TensorFlow", "Keras", "numpy", "device", "status"]
    return "## Envs\n\n" + _table(rows, headers)


def _legend() -> str:
    rows = [[SYMBOLS[s], f"`{s.value}`", MEANINGS[s]] for s in Status]
    return (
        "## Legend\n\nEach table cell counts the (model, policy) pairs of that producer "
        "(row) and consumer (column) by status.\n\n" + _table(rows, ["symbol", "status", "meaning"])
    )


def _tables(document: dict[str, Any], labels: dict[str, str]) -> str:
    grouped: dict[tuple[str, str], dict[tuple[str, str], Counter[str]]] = defaultdict(
        lambda: defaultdict(Counter)
    )
    for cell in document["cells"]:
        grouped[(cell["format"], cell["loader"])][(cell["producer"], cell["consumer"])][
            cell["status"]
        ] += 1
    env_ids = [env["id"] for env in document["envs"]]
    sections = ["## Producer × consumer, per format and loader"]
    for fmt in document["run"]["selection"]["formats"]:
        for loader in document["run"]["selection"]["loaders"]:
            counts = grouped.get((fmt, loader))
            if not counts:
                continue
            rows = [
                [md_cell(labels[p])] + [_summary(counts.get((p, c), Counter())) for c in env_ids]
                for p in env_ids
            ]
            headers = ["producer ↓ consumer →"] + [md_cell(labels[c]) for c in env_ids]
            sections.append(f"### `{fmt}` format, `{loader}` loader\n\n" + _table(rows, headers))
    return "\n\n".join(sections)


def _notes(document: dict[str, Any], labels: dict[str, str]) -> str:
    """What producers did differently from what their users would expect."""
    where: dict[str, set[str]] = defaultdict(set)
    for artifact in document["artifacts"]:
        if artifact.get("note"):
            where[artifact["note"]].add(f"{labels[artifact['producer']]} {artifact['format']}")
    if not where:
        return ""
    rows = [
        [md_cell(note), md_cell(", ".join(sorted(envs)))] for note, envs in sorted(where.items())
    ]
    return "## Producer notes\n\n" + _table(rows, ["note", "producers"])


def _summary(counts: Counter[str]) -> str:
    if not counts:
        return "…"
    return " ".join(f"{Status(s).symbol}{n}" for s, n in _ordered_counts(dict(counts)))


def _details(document: dict[str, Any], labels: dict[str, str]) -> str:
    by_status: dict[Status, list[dict[str, Any]]] = defaultdict(list)
    for cell in document["cells"]:
        by_status[Status(cell["status"])].append(cell)
    sections = ["## Details"]
    for status in Status:
        cells = by_status.get(status, [])
        if status in _NOT_FAILING or not cells:
            continue
        rows = [_detail_row(cell, labels) for cell in cells]
        headers = [
            "producer",
            "consumer",
            "model",
            "policy",
            "format",
            "loader",
            "error type",
            "message",
        ]
        if status is Status.DRIFT:
            headers = [*headers[:6], "max abs", "max rel", "max ULP", "note"]
        sections.append(
            f"### {SYMBOLS[status]} `{status.value}` ({len(cells)})\n\n" + _table(rows, headers)
        )
    not_applicable = Counter(c["reason"] or "" for c in by_status.get(Status.NOT_APPLICABLE, []))
    if not_applicable:
        rows = [[md_cell(reason), str(n)] for reason, n in sorted(not_applicable.items())]
        sections.append(
            f"### {SYMBOLS[Status.NOT_APPLICABLE]} `not-applicable`\n\n"
            + _table(rows, ["why", "cells"])
        )
    if len(sections) == 1:
        sections.append("Every cell loaded and predicted within tolerance.")
    return "\n\n".join(sections)


def _detail_row(cell: dict[str, Any], labels: dict[str, str]) -> list[str]:
    key = [
        md_cell(labels.get(cell["producer"], cell["producer"])),
        md_cell(labels.get(cell["consumer"], cell["consumer"])),
        md_cell(cell["model"]),
        md_cell(cell["policy"]),
        md_cell(cell["format"]),
        md_cell(cell["loader"]),
    ]
    if cell["status"] == Status.DRIFT.value:
        return [
            *key,
            _number(cell["max_abs"]),
            _number(cell["max_rel"]),
            _number(cell["max_ulp"]),
            md_cell(cell.get("error") or ""),
        ]
    return [
        *key,
        md_cell(_short_type(cell.get("error_type") or "")),
        md_cell(cell.get("error") or "", 240),
    ]


def _short_type(error_type: str) -> str:
    return error_type.rsplit(".", 1)[-1] if error_type.startswith("builtins.") else error_type


def _number(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3g}" if isinstance(value, float) else str(value)
