"""Render `compat.html`: one self-contained page that reads anywhere.

No scripts, no fonts or images fetched, no emoji: every status is a word or
a letter in a coloured badge (viridis, readable with colour-vision
deficiencies and in grey), so the page reads the same on a machine with no
emoji font. It opens with the upgrade answer and the self-check; each
heat-map square links to a short account of its cells by cause; failures are
grouped by known cause (or message), each group collapsible. All dynamic
text is escaped with `html.escape` after `xml_text`.
"""

from __future__ import annotations

import html
import re
from collections import Counter, defaultdict
from collections.abc import Mapping

from matrix.escape import shorten, xml_text
from matrix.files import JsonObject
from matrix.report import view
from matrix.results import selfcheck
from matrix.results.document import Document
from matrix.report.svg import LETTERS, colour
from matrix.results.cells import KEY_FIELDS, Cell
from matrix.status import MEANINGS, Status

CELLS_PER_GROUP = 100  # a group lists this many of its cells; compat.json has every one

_STYLE = """
body{font:14px/1.45 system-ui,"DejaVu Sans",sans-serif;margin:24px;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:8px 0 20px}
th,td{border:1px solid #ccc;padding:3px 6px;vertical-align:top}
th{background:#f3f3f3;text-align:left}
table.heat td{text-align:center;white-space:nowrap;min-width:3.5em;padding:0}
table.heat td a{display:block;padding:3px 4px;color:inherit;text-decoration:none}
td.none{background:#f2f2f2;color:#777}
.meta{color:#555}
td.msg{max-width:48em;word-break:break-word}
.badge{display:inline-block;min-width:1.2em;padding:0 3px;border-radius:3px;font-weight:bold;
font-family:ui-monospace,"DejaVu Sans Mono",monospace;text-align:center}
.pass{background:#fde725;color:#000}.fail{background:#440154;color:#fff}
.na{background:#e6e6e6;color:#333}
details{margin:4px 0}summary{cursor:pointer}
.new{color:#a00;font-weight:bold}
"""


def render(document: Document) -> str:
    labels = view.labels(document)
    body = [
        "<h1>TensorFlow/Keras compatibility matrix</h1>",
        _meta(document),
        _answers(document),
        _self_check(document, labels),
        _envs(document, labels),
        _legend(),
        "<h2>Producer × consumer, per format and loader</h2>",
        *[_grid(grid, labels) for grid in view.grids(document)],
        _squares(document, labels),
        _advice(document.advice, labels) if document.advice else "",
        _changes(document.changes, labels) if document.changes else "",
        _failing(document, labels),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>TensorFlow/Keras compatibility matrix</title>"
        f"<style>{_STYLE}</style></head><body>\n"
        + "\n".join(b for b in body if b)
        + "\n</body></html>\n"
    )


def _text(value: object, limit: int = 600) -> str:
    return html.escape(shorten(xml_text(value), limit), quote=True)


def badge(status: str) -> str:
    """A status as a word in a coloured badge: no emoji font needed."""
    kind = "na" if status in ("not-applicable", "unavailable") else "fail"
    if Status(status).passing:
        kind = "pass"
    return f'<span class="badge {kind}">{_text(status)}</span>'


def _anchor(*parts: str) -> str:
    return "sq-" + re.sub(r"[^A-Za-z0-9_.-]", "_", "--".join(parts))


def _meta(document: Document) -> str:
    run = document.run
    totals = ", ".join(f"{s} {n}" for s, n in view.ordered(document.summary))
    unsafe = (
        " <strong>Unsafe mode was on: the safety gate was open.</strong>"
        if run.get("unsafe")
        else ""
    )
    return (
        f'<p class="meta">Generated {_text(run["when"])} on {_text(run["host"])} by '
        f"tf-compat-matrix {_text(run['tool_version'])} (probe {_text(run['probe_version'])}). "
        f"{len(document.cells)} cells: {_text(totals)}.{unsafe}</p>"
    )


def _answers(document: Document) -> str:
    found = list(document.answers)
    if not found:
        return ""
    formats = sorted({f for a in found for f in a["formats"]})
    head = "".join(f"<th>{_text(f)}</th>" for f in formats)
    rows = ""
    for answer in found:
        cells = ""
        for fmt in formats:
            counts = answer["formats"].get(fmt) or {}
            cells += (
                f"<td>{counts.get('work', 0)}/{counts.get('models', 0)} still work; "
                f"{counts.get('way_out', 0)} with a way out; {counts.get('no_way', 0)} without</td>"
            )
        rows += f"<tr><th>TF {_text(answer['from'])} to {_text(answer['to'])}</th>{cells}</tr>"
    return (
        "<h2>The upgrade answer</h2><p>A model saved with the old TensorFlow's default Keras, "
        "loaded with <code>load_model</code> after the upgrade: of the zoo's models the old env "
        "read back itself, how many still load and predict the same, how many break with a "
        "measured way out, how many with none.</p>"
        f"<table><tr><th>upgrade</th>{head}</tr>{rows}</table>"
    )


def _self_check(document: Document, labels: dict[str, str]) -> str:
    result = document.self_check or {}
    if not result:
        return ""
    rows = "".join(
        f"<tr><td>{_text(labels.get(c['producer'], c['producer']))}</td><td>{_text(c['model'])}"
        f"</td><td>{_text(c['policy'])}</td><td>{_text(c['format'])}</td>"
        f"<td>{_text(c['loader'])}</td><td>{badge(c['status'])}</td>"
        f'<td class="msg">{_text(c.get("error") or "")}</td></tr>'
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
        f"Failing cells no known cause explains: {unexplained}.</p>{table}"
    )


def _envs(document: Document, labels: dict[str, str]) -> str:
    rows = "".join(
        f"<tr><td>{_text(labels[e.id])}</td><td>{_text(e.id)}</td>"
        f"<td>{_text(e.python)}</td><td>{_text(e.tensorflow or '?')}</td>"
        f"<td>{_text(e.keras or '?')} ({_text(e.env.flavour)})</td>"
        f"<td>{_text(e.status)}{': ' + _text(e.reason, 200) if e.reason else ''}"
        "</td></tr>"
        for e in document.envs
    )
    return (
        "<h2>Envs</h2><table><tr><th>key</th><th>env</th><th>Python</th><th>TensorFlow</th>"
        f"<th>Keras</th><th>status</th></tr>{rows}</table>"
    )


def _legend() -> str:
    rows = "".join(
        f"<tr><td>{badge(s.value)}</td><td>{LETTERS.get(s, '–')}</td>"
        f"<td>{html.escape(MEANINGS[s])}</td></tr>"
        for s in Status
    )
    return (
        "<h2>Legend</h2><p>Each heat-map square counts the (model, policy) pairs of one producer "
        "(row) and consumer (column) by outcome letter; its colour is the share that passes "
        "(identical or close), from dark (none) to yellow (all). <code>+s</code> counts silent "
        "changes, <code>+c</code> load-errors that load with <code>compile=False</code>. A "
        f"square links to its cells.</p><table><tr><th>status</th><th>letter</th><th>meaning</th>"
        f"</tr>{rows}</table>"
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
        f"<tr><th>producer / consumer</th>{head}</tr>{''.join(rows)}</table>"
    )


def _heat_cell(grid: view.Grid, producer: str, consumer: str) -> str:
    counts = grid.at(producer, consumer)
    statuses = view.ordered(counts)
    if not statuses:
        return '<td class="none">.</td>'
    measured = [(s, n) for s, n in statuses if Status(s) in LETTERS]
    text = " ".join(f"{LETTERS.get(Status(s), '-')}{n}" for s, n in statuses)
    for mark, letter in ((view.INFERENCE_MARK, "c"), (view.SILENT_MARK, "s")):
        if counts.get(mark):
            text += f" +{letter}{counts[mark]}"
    title = ", ".join(f"{n} {s}" for s, n in statuses)
    keys = " ".join(s for s, _ in statuses)
    if not measured:
        return f'<td class="none" title="{_text(title)}" data-statuses="{_text(keys)}">{text}</td>'
    share = sum(n for s, n in measured if Status(s).passing) / sum(n for _, n in measured)
    ink = "#000" if share >= 0.5 else "#fff"
    link = _anchor(grid.format, grid.loader, producer, consumer)
    return (
        f'<td style="background:{colour(share)};color:{ink}" title="{_text(title)}" '
        f'data-statuses="{_text(keys)}"><a href="#{link}">{_text(text)}</a></td>'
    )


def _squares(document: Document, labels: dict[str, str]) -> str:
    """Each square with a failure: its cells by cause, linking to the groups."""
    tally: dict[tuple[str, str, str, str], Counter[tuple[str, str]]] = defaultdict(Counter)
    for cell in document.cells:
        if cell.state in view.NOT_FAILING:
            continue
        key = (cell.format, cell.loader, cell.producer, cell.consumer)
        tally[key][(cell.status, cell.known or "")] += 1
    if not tally:
        return ""
    causes = document.causes or {}
    parts = []
    for (fmt, loader, producer, consumer), found in sorted(tally.items()):
        items = "".join(
            f"<li>{n} {badge(status)} {_cause_link(cause, causes)}</li>"
            for (status, cause), n in found.most_common()
        )
        summary = (
            f"{_text(labels.get(producer, producer))} to {_text(labels.get(consumer, consumer))}: "
            f"{_text(fmt)} format, {_text(loader)} loader"
        )
        parts.append(
            f'<details id="{_anchor(fmt, loader, producer, consumer)}"><summary>{summary}</summary>'
            f"<ul>{items}</ul></details>"
        )
    return "<h2>Squares with failures</h2>" + "".join(parts)


def _cause_link(cause: str, causes: Mapping[str, JsonObject]) -> str:
    if not cause:
        return '<span class="new">new or unexplained</span>'
    title = causes.get(cause, {}).get("title", cause)
    return f'<a href="#cause-{_text(cause)}">{_text(title)}</a>'


def _advice(advice: JsonObject, labels: dict[str, str]) -> str:
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
        f"<h2>Upgrade advice: TF {_text(advice['from'])} to {_text(advice['to'])}</h2>"
        "<table><tr><th>saved in</th><th>model</th><th>policy</th><th>format</th>"
        f"<th>load_model after the upgrade</th><th>what to do</th></tr>{rows}</table>"
    )


def _changes(found: JsonObject, labels: dict[str, str]) -> str:
    rows = "".join(
        f"<tr><td>{_text(kind)}</td>{_key_cells(c, labels)}"
        f"<td>{badge(c['before'])} to {badge(c['after'])}</td></tr>"
        for kind in ("breakages", "drift_grew", "fixes", "other")
        for c in found[kind]
    )
    return (
        f"<h2>Changes since {_text(found['baseline'].get('when') or 'the baseline')}</h2>"
        f"<p>Regressions: {found['regressions']}.</p><table><tr><th>kind</th><th>producer</th>"
        "<th>consumer</th><th>model</th><th>policy</th><th>format</th><th>loader</th>"
        f"<th>change</th></tr>{rows}</table>"
    )


def _failing(document: Document, labels: dict[str, str]) -> str:
    """Failing cells grouped by known cause (or, for the rest, by message),
    each group collapsible, new and unexplained groups first."""
    causes = document.causes or {}
    cells = [c for found in view.failing(document).values() for c in found]
    groups = sorted(view.error_groups(cells), key=lambda g: (g.cause is not None, -len(g.cells)))
    parts = []
    for group in groups:
        cause = causes.get(group.cause or "")
        anchor = f' id="cause-{_text(group.cause)}"' if cause else ""
        title = (
            _text(cause["title"])
            if cause
            else f'<span class="new">new or unexplained</span>: {_text(group.message, 300)}'
        )
        about = (
            f"<p>{_text(cause['cause'])} "
            + " ".join(f'<a href="{_text(url)}">{_text(url)}</a>' for url in cause["links"])
            + f"</p><p>Way out: {_text(cause['way_out'])}</p>"
            if cause
            else ""
        )
        rows = "".join(
            f"<tr>{_key_cells(c, labels)}<td>{badge(c.status)}</td>"
            f'<td class="msg">{_text(c.error or "", 300)}</td>'
            f"<td>{_text(c.inference.status if c.inference else '')}</td>"
            f"<td><code>{_text(view.cell_id(c))}</code></td></tr>"
            for c in group.cells[:CELLS_PER_GROUP]
        )
        more = len(group.cells) - CELLS_PER_GROUP
        rest = f"<p>... and {more} more cells (compat.json has every one).</p>" if more > 0 else ""
        parts.append(
            f"<details{anchor}><summary>{badge(group.status.value)} {len(group.cells)} cells: "
            f"{title}</summary>{about}<table><tr><th>producer</th><th>consumer</th><th>model</th>"
            "<th>policy</th><th>format</th><th>loader</th><th>status</th><th>message</th>"
            "<th>compile=False</th><th>python -m matrix repro ...</th></tr>"
            f"{rows}</table>{rest}</details>"
        )
    if not parts:
        return "<h2>Failing cells</h2><p>Every cell loaded and predicted within tolerance.</p>"
    return "<h2>Failing cells, by cause</h2>" + "".join(parts)


def _key_cells(cell: Cell | JsonObject, labels: dict[str, str]) -> str:
    """The key columns of a cell, or of a change entry (which has the same keys)."""
    key = cell.key if isinstance(cell, Cell) else tuple(cell[k] for k in KEY_FIELDS)
    producer, consumer, *rest = key
    values = [labels.get(producer, producer), labels.get(consumer, consumer), *rest]
    return "".join(f"<td>{_text(v)}</td>" for v in values)
