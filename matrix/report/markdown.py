"""Render `compat.md` from a `compat.json` document (GitHub tables via tabulate)."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from tabulate import tabulate

from matrix.report.escape import md_cell
from matrix.status import MEANINGS, SYMBOLS, Status

_FLAVOUR_LABEL = {"keras2": "k2", "keras3": "k3", "tf-keras": "tfk"}
_NOT_FAILING = {Status.IDENTICAL, Status.CLOSE, Status.NOT_APPLICABLE}


SILENT_MARK = "⚠️"
_SILENT_MEANING = {
    "config": "the loaded model's config differs from the saved one",
    "dtype": "a loaded weight has another dtype than the saved one",
    "nondeterministic": "two predictions in the same process differ",
    "policy": "loading under the artifact's own global policy gives another status",
}


def render(document: dict[str, Any]) -> str:
    labels = env_labels([env["id"] for env in document["envs"]])
    labels.update({p: p for p in document.get("producers", []) if p not in labels})
    parts = [
        _header(document),
        _envs(document, labels),
        _user_models(document),
        _legend(),
        _tables(document, labels),
        _notes(document, labels),
        _silent(document, labels),
        _details(document, labels),
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def _table(rows: list[list[str]], headers: list[str]) -> str:
    # disable_numparse: "2.20" must stay "2.20", not become 2.2.
    return str(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))


def env_labels(env_ids: list[str]) -> dict[str, str]:
    """Short column labels: the TF version and flavour, plus whatever else
    (Python, device, Keras pin, oneDNN off) differs between the envs."""
    parts = {env_id: env_id.split("-py", 1) for env_id in env_ids}
    rests = {rest.split("-", 1)[1] for _, rest in parts.values()}
    pythons = {rest.split("-", 1)[0] for _, rest in parts.values()}
    labels = {}
    for env_id, (head, rest) in parts.items():
        tf, flavour = head[2:].split("-", 1)
        python, tail = rest.split("-", 1)
        label = f"{tf} {_FLAVOUR_LABEL.get(flavour, flavour)}"
        if len(pythons) > 1:
            label += f" py{python}"
        if len(rests) > 1:
            label += " " + tail.replace("onednn-off", "no-onednn").replace("-", " ")
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
    silent = "; ".join(f"{kind}: {meaning}" for kind, meaning in _SILENT_MEANING.items())
    rows.append([SILENT_MARK, "silent change", f"counted beside the status ({silent})"])
    return (
        "## Legend\n\nEach table cell counts the (model, policy) pairs of that producer "
        "(row) and consumer (column) by status.\n\n" + _table(rows, ["symbol", "status", "meaning"])
    )


def _user_models(document: dict[str, Any]) -> str:
    users = [a for a in document["artifacts"] if a.get("source")]
    if not users:
        return ""
    rows = [
        [
            md_cell(a["producer"]),
            md_cell(a["format"]),
            md_cell(a["source"]),
            md_cell(a.get("source_sha256") or "?"),
            md_cell(a.get("reference_env") or a.get("reference_error") or "?"),
        ]
        for a in users
    ]
    headers = ["model", "format", "file", "sha256", "reference from"]
    return "## User models\n\n" + _table(rows, headers)


def _tables(document: dict[str, Any], labels: dict[str, str]) -> str:
    grouped: dict[tuple[str, str], dict[tuple[str, str], Counter[str]]] = defaultdict(
        lambda: defaultdict(Counter)
    )
    for cell in document["cells"]:
        tally = grouped[(cell["format"], cell["loader"])][(cell["producer"], cell["consumer"])]
        tally[cell["status"]] += 1
        if cell.get("silent_changes"):
            tally[SILENT_MARK] += 1
    env_ids = [env["id"] for env in document["envs"]]
    producers = document.get("producers", env_ids)
    sections = ["## Producer × consumer, per format and loader"]
    for fmt in document["run"]["selection"]["formats"]:
        for loader in document["run"]["selection"]["loaders"]:
            counts = grouped.get((fmt, loader))
            if not counts:
                continue
            rows = [
                [md_cell(labels[p])] + [_summary(counts.get((p, c), Counter())) for c in env_ids]
                for p in producers
                if any((p, c) in counts for c in env_ids)
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
    silent = counts.pop(SILENT_MARK, 0)
    text = " ".join(f"{Status(s).symbol}{n}" for s, n in _ordered_counts(dict(counts)))
    return f"{text} {SILENT_MARK}{silent}" if silent else text


def _silent(document: dict[str, Any], labels: dict[str, str]) -> str:
    """Cells that load and predict, but not quite the model that was saved."""
    cells = [c for c in document["cells"] if c.get("silent_changes")]
    if not cells:
        return ""
    rows = []
    for cell in cells:
        what = []
        for change in cell.get("config_drift") or []:
            what.append(f"config: {change}")
        for change in cell.get("dtype_drift") or []:
            what.append(f"dtype: {change}")
        own = cell.get("own_policy") or {}
        for change in own.get("dtype_drift") or []:
            what.append(f"dtype under {cell['policy']}: {change}")
        if cell.get("nondeterministic"):
            what.append("two predictions in one process differ")
        if cell.get("policy_sensitive"):
            what.append(
                f"under global {cell['policy']}: {own.get('status')} {own.get('error') or ''}"
            )
        rows.append(
            [
                md_cell(labels.get(cell["producer"], cell["producer"])),
                md_cell(labels.get(cell["consumer"], cell["consumer"])),
                md_cell(cell["model"]),
                md_cell(cell["policy"]),
                md_cell(cell["format"]),
                md_cell(cell["loader"]),
                md_cell(f"{Status(cell['status']).symbol} {cell['status']}"),
                md_cell("; ".join(what), 400),
            ]
        )
    headers = [
        "producer",
        "consumer",
        "model",
        "policy",
        "format",
        "loader",
        "status",
        "what changed",
    ]
    return (
        f"## {SILENT_MARK} Silent changes ({len(cells)})\n\n"
        "Cells whose model loaded, but not quite as saved.\n\n" + _table(rows, headers)
    )


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
