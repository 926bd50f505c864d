"""Render `compat.html`: one self-contained page, no scripts, no fetches.

A producer x consumer heat-map per format and loader (the colour is the
share of passing cells; the text counts each status), then the upgrade
advice, the changes since a baseline and every failing cell. All dynamic
text is escaped with `html.escape` after `xml_text`.
"""

from __future__ import annotations

import html
from typing import Any

from matrix.report import selfcheck, view
from matrix.report.escape import shorten, xml_text
from matrix.status import MEANINGS, SYMBOLS, Status

_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:8px 0 20px}
th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
th{background:#f3f3f3;text-align:left}
table.heat td{text-align:center;white-space:nowrap;min-width:4em}
td.none{background:#eee;color:#888}
.meta{color:#555}
td.msg{max-width:48em;word-break:break-word}
"""


def render(document: dict[str, Any]) -> str:
    labels = view.labels(document)
    body = [
        "<h1>TensorFlow/Keras compatibility matrix</h1>",
        _meta(document),
        _self_check(document, labels),
        _envs(document, labels),
        _legend(),
        *[_grid(grid, labels) for grid in view.grids(document)],
        _advice(document, labels),
        _changes(document, labels),
        _failing(document, labels),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>TensorFlow/Keras compatibility matrix</title>"
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _text(value: object, limit: int = 600) -> str:
    return html.escape(shorten(xml_text(value), limit), quote=True)


def _meta(document: dict[str, Any]) -> str:
    run = document["run"]
    totals = ", ".join(
        f"{SYMBOLS[Status(s)]} {s} {n}" for s, n in view.ordered(document["summary"])
    )
    unsafe = " <strong>Unsafe mode was on.</strong>" if run.get("unsafe") else ""
    return (
        f'<p class="meta">Generated {_text(run["when"])} on {_text(run["host"])} by '
        f"tf-compat-matrix {_text(run['tool_version'])} (probe {_text(run['probe_version'])}). "
        f"{len(document['cells'])} cells: {_text(totals)}.{unsafe}</p>"
    )


def _self_check(document: dict[str, Any], labels: dict[str, str]) -> str:
    result = document.get("self_check") or {}
    if not result:
        return ""
    rows = "".join(
        f"<tr><td>{_text(labels.get(c['producer'], c['producer']))}</td><td>{_text(c['model'])}"
        f"</td><td>{_text(c['policy'])}</td><td>{_text(c['format'])}</td><td>{_text(c['loader'])}"
        f'</td><td>{_text(c["status"])}</td><td class="msg">{_text(c.get("error") or "")}</td></tr>'
        for c in result.get("suspects", [])
    )
    table = (
        "<table><tr><th>env</th><th>model</th><th>policy</th><th>format</th><th>loader</th>"
        f"<th>status</th><th>message</th></tr>{rows}</table>"
        if rows
        else ""
    )
    unexplained = len(view.unexplained(document))
    return (
        f"<h2>Self-check</h2><p>{_text(selfcheck.summary(result))}. "
        f"Failing cells with no known cause: {unexplained}.</p>{table}"
    )


def _envs(document: dict[str, Any], labels: dict[str, str]) -> str:
    rows = "".join(
        f"<tr><td>{_text(labels[e['id']])}</td><td>{_text(e['id'])}</td>"
        f"<td>{_text(e.get('python') or '?')}</td><td>{_text(e.get('tensorflow') or '?')}</td>"
        f"<td>{_text(e.get('keras') or '?')} ({_text(e.get('keras_flavour') or '?')})</td>"
        f"<td>{_text(e['status'])}{': ' + _text(e['reason'], 200) if e.get('reason') else ''}"
        "</td></tr>"
        for e in document["envs"]
    )
    return (
        "<h2>Envs</h2><table><tr><th>key</th><th>env</th><th>Python</th><th>TensorFlow</th>"
        f"<th>Keras</th><th>status</th></tr>{rows}</table>"
    )


def _legend() -> str:
    rows = "".join(
        f"<tr><td>{SYMBOLS[s]}</td><td>{s.value}</td><td>{html.escape(MEANINGS[s])}</td></tr>"
        for s in Status
    )
    return (
        "<h2>Legend</h2><p>Each heat-map cell counts the (model, policy) pairs of that producer "
        "(row) and consumer (column); its colour is the share that passes "
        f"(identical or close); {view.SILENT_MARK} counts silent changes.</p>"
        f"<table>{rows}</table>"
    )


def _grid(grid: view.Grid, labels: dict[str, str]) -> str:
    head = "".join(f"<th>{_text(labels[c])}</th>" for c in grid.consumers)
    rows = []
    for producer in grid.producers:
        cells = "".join(_heat_cell(grid, producer, c) for c in grid.consumers)
        rows.append(f"<tr><th>{_text(labels[producer])}</th>{cells}</tr>")
    fmt, loader = _text(grid.format), _text(grid.loader)
    return (
        f"<h3>{fmt} format, {loader} loader</h3>"
        f'<table class="heat" data-format="{fmt}" data-loader="{loader}">'
        f"<tr><th>producer ↓ consumer →</th>{head}</tr>{''.join(rows)}</table>"
    )


def _heat_cell(grid: view.Grid, producer: str, consumer: str) -> str:
    counts = grid.at(producer, consumer)
    statuses = view.ordered(counts)
    if not statuses:
        return '<td class="none">…</td>'
    applicable = [(s, n) for s, n in statuses if s != Status.NOT_APPLICABLE.value]
    if not applicable:
        return (
            f'<td class="none" data-statuses="not-applicable">{SYMBOLS[Status.NOT_APPLICABLE]}</td>'
        )
    share = sum(n for s, n in applicable if Status(s).passing) / sum(n for _, n in applicable)
    colour = f"hsl({int(share * 120)},65%,78%)"
    text = " ".join(f"{SYMBOLS[Status(s)]}{n}" for s, n in statuses)
    silent = counts.get(view.SILENT_MARK, 0)
    if silent:
        text += f" {view.SILENT_MARK}{silent}"
    title = ", ".join(f"{n} {s}" for s, n in statuses)
    keys = " ".join(s for s, _ in statuses)
    return (
        f'<td style="background:{colour}" title="{_text(title)}" '
        f'data-statuses="{_text(keys)}">{text}</td>'
    )


def _advice(document: dict[str, Any], labels: dict[str, str]) -> str:
    advice = document.get("advice")
    if not advice:
        return ""
    rows = "".join(
        f"<tr><td>{_text(labels.get(r['producer'], r['producer']))}</td><td>{_text(r['model'])}"
        f"</td><td>{_text(r['policy'])}</td><td>{_text(r['format'])}</td>"
        f'<td>{_text(r["direct"]["status"])}</td><td class="msg">'
        + (
            "works as is"
            if r["works"]
            else _text("; ".join(w["how"] for w in r["alternatives"]) or "no measured way")
        )
        + "</td></tr>"
        for r in advice["rows"]
    )
    return (
        f"<h2>Upgrade advice: TF {_text(advice['from'])} → {_text(advice['to'])}</h2>"
        "<table><tr><th>saved in</th><th>model</th><th>policy</th><th>format</th>"
        f"<th>load_model after the upgrade</th><th>what to do</th></tr>{rows}</table>"
    )


def _changes(document: dict[str, Any], labels: dict[str, str]) -> str:
    found = document.get("changes")
    if not found:
        return ""
    rows = "".join(
        f"<tr><td>{_text(kind)}</td>{_key_cells(c, labels)}"
        f"<td>{_text(c['before'])} → {_text(c['after'])}</td></tr>"
        for kind in ("breakages", "drift_grew", "fixes", "other")
        for c in found[kind]
    )
    return (
        f"<h2>Changes since {_text(found['baseline'].get('when') or 'the baseline')}</h2>"
        f"<p>Regressions: {found['regressions']}.</p><table><tr><th>kind</th><th>producer</th>"
        "<th>consumer</th><th>model</th><th>policy</th><th>format</th><th>loader</th>"
        f"<th>change</th></tr>{rows}</table>"
    )


def _failing(document: dict[str, Any], labels: dict[str, str]) -> str:
    causes = document.get("causes") or {}
    rows = "".join(
        f"<tr><td>{SYMBOLS[status]} {status.value}</td>{_key_cells(cell, labels)}"
        f"<td>{_text(cell.get('error_type') or '')}</td>"
        f'<td class="msg">{_text(cell.get("error") or "", 300)}</td>'
        f"<td>{_cause(causes.get(cell.get('known') or ''))}</td>"
        f"<td>{_text((cell.get('inference') or {}).get('status') or '')}</td></tr>"
        for status, cells in view.failing(document).items()
        for cell in cells
    )
    return (
        "<h2>Failing cells</h2><table><tr><th>status</th><th>producer</th><th>consumer</th>"
        "<th>model</th><th>policy</th><th>format</th><th>loader</th><th>error type</th>"
        "<th>message</th><th>known cause</th><th>compile=False</th></tr>"
        f"{rows}</table>"
    )


def _cause(cause: dict[str, Any] | None) -> str:
    """The cause's title; its upstream link is in compat.md and compat.json
    (the page fetches and links nothing)."""
    return _text(cause["title"]) if cause else "<strong>new or unexplained</strong>"


def _key_cells(cell: dict[str, Any], labels: dict[str, str]) -> str:
    values = [
        labels.get(cell["producer"], cell["producer"]),
        labels.get(cell["consumer"], cell["consumer"]),
        cell["model"],
        cell["policy"],
        cell["format"],
        cell["loader"],
    ]
    return "".join(f"<td>{_text(v)}</td>" for v in values)
