"""Render `compat.md` from a `compat.json` document (GitHub tables via tabulate)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import tabulate as _tabulate
from tabulate import tabulate

from matrix.escape import md_cell
from matrix.files import JsonObject
from matrix.paths import REPORT_SVG
from matrix.report import view
from matrix.results import selfcheck
from matrix.results.cells import KEY_FIELDS, Cell
from matrix.results.document import Document
from matrix.results.records import Versions
from matrix.status import MEANINGS, SYMBOLS, Status

# tabulate pads by display width (an emoji counts 2) only when `wcwidth` is
# importable: a report must be the same bytes wherever it is rebuilt, so it
# always counts characters, as it does without wcwidth (nox's venv).
_tabulate.WIDE_CHARS_MODE = False

_PLAIN = re.compile(r"[A-Za-z0-9_.:/ -]+")
TRUNCATED = (
    "\n\n**The report was cut here to fit GitHub's 1 MiB job summary; the whole "
    "report is in the uploaded reports (compat.md, compat.json, compat.html).**\n"
)


def render(document: Document) -> str:
    labels = view.labels(document)
    parts = [
        _header(document),
        # The question the user asked (--from/--to) first, then the main paths.
        _advice(document.advice, labels) if document.advice else "",
        _answers(document, labels),
        _self_check(document, labels),
        _unexplained(document, labels),
        _changes(document.changes, labels) if document.changes else "",
        _envs(document, labels),
        _user_models(document),
        _legend(),
        _tables(document, labels),
        _disagreements(document, labels),
        _notes(document, labels),
        _silent(document, labels),
        _details(document, labels),
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def truncate(text: str, limit: int) -> str:
    """At most `limit` bytes of UTF-8, cut at a line, with a visible marker."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - len(TRUNCATED.encode("utf-8"))
    cut = data[:room].rfind(b"\n")
    return data[: max(cut, 0)].decode("utf-8", errors="ignore") + TRUNCATED


def _table(rows: list[list[str]], headers: list[str]) -> str:
    # disable_numparse: "2.20" must stay "2.20", not become 2.2.
    return str(tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True))


def _header(document: Document) -> str:
    run = document.run
    selection = run["selection"]
    totals = " · ".join(
        f"{Status(s).symbol} {s} {n}" for s, n in view.ordered(dict(document.summary))
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
        f"Cells: {len(document.cells)}. {totals}",
    ]
    lines += ["", _sandbox_line(document)]
    if run.get("unsafe"):
        lines += [
            "",
            "**Unsafe mode was on** (`--unsafe`): the safety gate was open, and files "
            "holding code were loaded with `safe_mode=False`.",
        ]
    if document.pending:
        lines += [
            "",
            f"**{len(document.pending)} cell(s) have no result yet** (run "
            "`nox -s matrix` with the same selection to compute them).",
        ]
    return "\n".join(lines)


def _answers(document: Document, labels: dict[str, str]) -> str:
    """The upgrade answer: per main path, how many models of each format
    still load with load_model after the upgrade, and what to do for the rest."""
    found = list(document.answers)
    if not found:
        return ""
    formats = sorted({f for a in found for f in a["formats"]}, key=_format_order)
    rows = [
        [md_cell(f"{a['from']} → {a['to']}")] + [_verdict(a["formats"].get(f)) for f in formats]
        for a in found
    ]
    lines = [
        "## The upgrade answer",
        "",
        f"![Heat-map: for each format and loader, producers (rows) by consumers (columns); "
        f"letters give the worst outcome, colour the share that passes]({REPORT_SVG})",
        "",
        "A model saved with the old TensorFlow's default Keras, loaded with `load_model` "
        "after `pip install tensorflow==<new>` (its default Keras): of the zoo's models (each "
        "under each policy) that the old env read back itself, ✅ how many still load and "
        "predict the same, ↪ how many break with a measured way out, ❌ how many with none.",
        "",
        _table(rows, ["upgrade", *[f"`{f}`" for f in formats]]),
    ]
    for found_path in found:
        lines += ["", _answer_path(found_path, labels)]
    return "\n".join(lines)


def _format_order(fmt: str) -> int:
    order = ["h5", "keras", "savedmodel", "weights"]
    return order.index(fmt) if fmt in order else len(order)


def _verdict(counts: dict[str, int] | None) -> str:
    if not counts:
        return "–"
    text = f"✅ {counts.get('work', 0)}/{counts['models']}"
    if counts.get("way_out"):
        text += f" · ↪ {counts['way_out']}"
    if counts.get("no_way"):
        text += f" · ❌ {counts['no_way']}"
    if counts.get("not_measured"):
        text += f" · … {counts['not_measured']}"
    return text


def _answer_path(found: JsonObject, labels: dict[str, str]) -> str:
    saved = ", ".join(labels.get(e, e) for e in found["from_envs"])
    target = labels.get(found["to_env"], found["to_env"])
    head = (
        f"### TF {md_cell(found['from'])} → {md_cell(found['to'])}\n\n"
        f"Saved in {md_cell(saved)}, loaded in {md_cell(target)}."
    )
    if not found["breaking"]:
        return head + " Every model of every format loads and predicts the same."
    groups: dict[tuple[str, str, str], list[str]] = {}
    for row in found["breaking"]:
        ways = "; ".join(w["how"] for w in row["alternatives"]) or "no measured way"
        key = (row["format"], row["direct"]["status"], ways)
        groups.setdefault(key, []).append(f"{row['model']} ({row['policy']})")
    rows = [
        [
            md_cell(fmt),
            md_cell("not measured" if status == "pending" else f"{Status(status).symbol} {status}"),
            md_cell(_models_text(models), 400),
            md_cell(ways, 400),
        ]
        for (fmt, status, ways), models in sorted(groups.items())
    ]
    table = _table(rows, ["format", "load_model after the upgrade", "models", "what to do"])
    return f"{head} What breaks, and what to do:\n\n{table}"


def _models_text(entries: list[str]) -> str:
    """ "cnn, mlp (mixed_float16)": a model named alone breaks under every policy listed."""
    policies: dict[str, list[str]] = {}
    for entry in entries:
        model, policy = entry[:-1].split(" (", 1)
        policies.setdefault(model, []).append(policy)
    everywhere = max(len(p) for p in policies.values())
    return ", ".join(
        model if len(found) == everywhere else f"{model} ({', '.join(found)})"
        for model, found in policies.items()
    )


def _sandbox_line(document: Document) -> str:
    """What confined the probes, as the envs reported it."""
    seen: dict[str, list[str]] = {}
    for state in document.envs:
        sandbox = state.sandbox or {}
        if not sandbox:
            continue
        parts = [f"Landlock {sandbox.get('landlock')}"]
        parts += [f"{k} {sandbox[k]}" for k in ("tcp", "signals") if sandbox.get(k)]
        parts.append(f"network {sandbox.get('network')}")
        seen.setdefault("; ".join(parts), []).append(state.id)
    if not seen:
        return "Probe sandbox: not reported (no probe ran in this run)."
    if len(seen) == 1:
        return f"Probe sandbox: {md_cell(next(iter(seen)), 400)}."
    return "Probe sandbox: " + "; ".join(
        f"{md_cell(', '.join(envs))}: {md_cell(text, 300)}" for text, envs in seen.items()
    )


def _self_check(document: Document, labels: dict[str, str]) -> str:
    """Every env must read what it wrote itself; what fails for no known
    cause is a suspected harness defect and comes first."""
    result = document.self_check
    if not result:
        return ""
    lines = ["## Self-check", "", md_cell(selfcheck.summary(result), 400) + "."]
    if result["suspects"]:
        rows = [
            [
                md_cell(labels.get(c["producer"], c["producer"])),
                md_cell(c["model"]),
                md_cell(c["policy"]),
                md_cell(c["format"]),
                md_cell(c["loader"]),
                md_cell(f"{Status(c['status']).symbol} {c['status']}"),
                md_cell(c.get("error") or ""),
            ]
            for c in result["suspects"]
        ]
        headers = ["env", "model", "policy", "format", "loader", "status", "message"]
        lines += ["", _table(rows, headers)]
    return "\n".join(lines)


def _unexplained(document: Document, labels: dict[str, str]) -> str:
    """Failing cells no known cause explains, grouped by message."""
    cells = view.unexplained(document)
    if not cells:
        causes = len(document.causes or {})
        return (
            f"## New or unexplained\n\nNone: every failing cell is explained by one of "
            f"{causes} known cause(s) (`matrix/results/known.toml`), listed with its upstream link "
            "under Details."
        )
    return (
        f"## New or unexplained ({len(cells)})\n\n"
        "No known cause (`matrix/results/known.toml`) explains these cells: each group is either a "
        "defect of this tool or an upstream regression worth reporting.\n\n"
        + _error_groups(document, cells, labels)
    )


def _changes(found: JsonObject, labels: dict[str, str]) -> str:
    since = found["baseline"].get("when") or "the baseline"
    lines = [
        f"## Changes since {md_cell(since)}",
        "",
        f"Regressions (into {md_cell(', '.join(found['fail_on']))}): **{found['regressions']}**. "
        f"New breakages: {len(found['breakages'])}. Drift past tolerance: "
        f"{len(found['drift_grew'])}. Fixes: {len(found['fixes'])}. "
        f"Other status changes: {len(found['other'])}.",
    ]
    if found["envs_added"] or found["envs_gone"]:
        lines += [
            "",
            f"Envs added: {md_cell(', '.join(found['envs_added']) or 'none')}. "
            f"Envs gone: {md_cell(', '.join(found['envs_gone']) or 'none')}.",
        ]
    for kind, title in (
        ("breakages", "New breakages"),
        ("drift_grew", "Drift past tolerance"),
        ("fixes", "Fixes"),
        ("other", "Other changes"),
    ):
        if found[kind]:
            rows = [
                [
                    *_key_cells(c, labels),
                    md_cell(
                        f"{c['before']} → {c['after']}" + (" ❗" if c.get("regression") else "")
                    ),
                    md_cell(c.get("error") or ""),
                ]
                for c in found[kind]
            ]
            headers = [*KEY_FIELDS, "change", "now"]
            lines += ["", f"### {title}", "", _table(rows, headers)]
    return "\n".join(lines)


def _advice(advice: JsonObject, labels: dict[str, str]) -> str:
    summary = advice["summary"]
    lines = [
        f"## Upgrade advice: TF {md_cell(advice['from'])} → {md_cell(advice['to'])}",
        "",
        f"Saved in {md_cell(', '.join(labels.get(e, e) for e in advice['from_envs']) or '?')}, "
        f"loaded with `load_model` in {md_cell(labels.get(advice['to_env'] or '', '?'))}: "
        f"{summary['works']} still work, {summary['breaks_with_a_way_out']} break but another "
        f"measured path works, {summary['breaks']} break with no measured way out.",
        "",
    ]
    rows = []
    for row in advice["rows"]:
        status = row["direct"]["status"]
        outcome = "not measured" if status == "pending" else f"{Status(status).symbol} {status}"
        ways = "; ".join(
            f"{w['how']} ({Status(w['status']).symbol} in {labels.get(w['consumer'], '?')})"
            for w in row["alternatives"]
        )
        rows.append(
            [
                md_cell(labels.get(row["producer"], row["producer"])),
                md_cell(row["model"]),
                md_cell(row["policy"]),
                md_cell(row["format"]),
                md_cell(outcome),
                md_cell("works as is" if row["works"] else ways or "no measured way", 400),
            ]
        )
    headers = [
        "saved in",
        "model",
        "policy",
        "format",
        "load_model after the upgrade",
        "what to do",
    ]
    return "\n".join([*lines, _table(rows, headers)])


def _envs(document: Document, labels: dict[str, str]) -> str:
    rows = []
    for state in document.envs:
        versions = state.versions or Versions()
        status = state.status if not state.reason else f"{state.status}: {state.reason}"
        flavour = state.env.flavour
        rows.append(
            [
                md_cell(labels[state.id]),
                md_cell(state.id),
                md_cell(state.python),
                md_cell(state.tensorflow or versions.runtime or "?"),
                md_cell(
                    "none (a TFLite interpreter)"
                    if flavour == "interpreter"
                    else f"{state.keras or '?'} ({flavour})"
                ),
                md_cell(versions.numpy or "?"),
                md_cell(state.env.device),
                md_cell(status, 200),
            ]
        )
    headers = ["key", "env", "Python", "TensorFlow", "Keras", "numpy", "device", "status"]
    return "## Envs\n\n" + _table(rows, headers) + _gold(document, labels)


def _gold(document: Document, labels: dict[str, str]) -> str:
    """Producers replayed from the gold store: what froze them, and when."""
    if not document.gold:
        return ""
    rows = [
        [
            md_cell(labels.get(g.producer, g.producer)),
            md_cell(g.env.id),
            md_cell(g.provenance.get("python") or "?"),
            md_cell(g.provenance.get("tensorflow") or "?"),
            md_cell(f"{g.provenance.get('keras') or '?'} ({g.env.flavour})"),
            md_cell(g.provenance.get("numpy") or "?"),
            md_cell(g.provenance.get("frozen") or "?"),
            str(g.artifacts),
        ]
        for g in document.gold
    ]
    headers = ["key", "frozen env", "Python", "TensorFlow", "Keras", "numpy", "frozen", "artifacts"]
    return (
        "\n\n### Gold producers\n\nArtifacts these envs saved, frozen in the gold store "
        "(`gold/`) and replayed here without building the env (`python -m matrix freeze` "
        "writes them; every file is checked against its sha256).\n\n" + _table(rows, headers)
    )


def _user_models(document: Document) -> str:
    users = [a for a in document.artifacts if a.get("source")]
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


def _legend() -> str:
    rows = [[SYMBOLS[s], f"`{s.value}`", MEANINGS[s]] for s in Status]
    silent = "; ".join(f"{kind}: {meaning}" for kind, meaning in view.SILENT_MEANING.items())
    rows.append([view.SILENT_MARK, "silent change", f"counted beside the status ({silent})"])
    rows.append([view.INFERENCE_MARK, "inference-only", view.INFERENCE_MEANING])
    return (
        "## Legend\n\nEach table cell counts the (model, policy) pairs of that producer "
        "(row) and consumer (column) by status.\n\n" + _table(rows, ["symbol", "status", "meaning"])
    )


def _tables(document: Document, labels: dict[str, str]) -> str:
    sections = ["## Producer × consumer, per format and loader"]
    for grid in view.grids(document):
        rows = [
            [md_cell(labels[p])] + [_summary(grid.at(p, c)) for c in grid.consumers]
            for p in grid.producers
        ]
        headers = ["producer ↓ consumer →"] + [md_cell(labels[c]) for c in grid.consumers]
        sections.append(
            f"### `{grid.format}` format, `{grid.loader}` loader\n\n" + _table(rows, headers)
        )
    return "\n\n".join(sections)


def _disagreements(document: Document, labels: dict[str, str]) -> str:
    """Where tf.saved_model.load and TensorFlow Serving's path part ways: a
    user who serves with one must not read the other's column."""
    found = view.loader_disagreements(document)
    if not found:
        return ""
    rows = [
        [
            md_cell(labels.get(d.producer, d.producer)),
            md_cell(labels.get(d.consumer, d.consumer)),
            str(d.count),
            md_cell(" ".join(f"{Status(s).symbol}{n}" for s, n in view.ordered(d.saved_model))),
            md_cell(" ".join(f"{Status(s).symbol}{n}" for s, n in view.ordered(d.serving))),
            md_cell(d.examples[0] if d.examples else "", view.MESSAGE_CHARS),
        ]
        for d in found
    ]
    headers = ["producer", "consumer", "cells", "saved-model", "serving", "the failing side says"]
    return (
        f"## `saved-model` and `serving` disagree ({sum(d.count for d in found)} cells)\n\n"
        "The same SavedModel, read through the TF2 object API (`tf.saved_model.load`, which "
        "revives Python objects) and through what TensorFlow Serving runs (graph mode, a v1 "
        "session, no Python objects), passes one way and fails the other.\n\n"
        + _table(rows, headers)
    )


def _summary(counts: Counter[str]) -> str:
    if not counts:
        return "…"
    text = " ".join(f"{Status(s).symbol}{n}" for s, n in view.ordered(counts))
    for mark in (view.INFERENCE_MARK, view.SILENT_MARK):
        if counts.get(mark):
            text += f" {mark}{counts[mark]}"
    return text


def _notes(document: Document, labels: dict[str, str]) -> str:
    """What producers did differently from what their users would expect."""
    where: dict[str, set[str]] = defaultdict(set)
    for artifact in document.artifacts:
        if artifact.get("note"):
            where[artifact["note"]].add(f"{labels[artifact['producer']]} {artifact['format']}")
    if not where:
        return ""
    rows = [
        [md_cell(note), md_cell(", ".join(sorted(envs)))] for note, envs in sorted(where.items())
    ]
    return "## Producer notes\n\n" + _table(rows, ["note", "producers"])


def _silent(document: Document, labels: dict[str, str]) -> str:
    """Cells that load and predict, but not quite the model that was saved."""
    cells = [c for c in document.cells if c.silent_changes]
    if not cells:
        return ""
    rows = [
        [
            *_key_cells(cell, labels),
            md_cell(f"{Status(cell.status).symbol} {cell.status}"),
            md_cell("; ".join(view.silent_details(cell)), 400),
        ]
        for cell in cells
    ]
    headers = [*KEY_FIELDS, "status", "what changed"]
    return (
        f"## {view.SILENT_MARK} Silent changes ({len(cells)})\n\n"
        "Cells whose model loaded, but not quite as saved.\n\n" + _table(rows, headers)
    )


def _details(document: Document, labels: dict[str, str]) -> str:
    by_status = view.failing(document)
    sections = ["## Details"]
    for status in Status:
        cells = by_status.get(status, [])
        if not cells:
            continue
        title = f"### {SYMBOLS[status]} `{status.value}` ({len(cells)})\n\n"
        if status is Status.DRIFT:
            headers = [
                *KEY_FIELDS,
                *["max abs", "max rel", "max ULP", "note", "known cause", "replay by hand"],
            ]
            causes = document.causes or {}
            rows = [_drift_row(cell, labels, causes) for cell in cells]
            sections.append(title + _table(rows, headers))
        else:
            sections.append(title + _error_groups(document, cells, labels))
    not_applicable = Counter(
        c.reason or "" for c in document.cells if c.status == Status.NOT_APPLICABLE.value
    )
    if not_applicable:
        rows = [[md_cell(reason), str(n)] for reason, n in sorted(not_applicable.items())]
        sections.append(
            f"### {SYMBOLS[Status.NOT_APPLICABLE]} `not-applicable`\n\n"
            + _table(rows, ["why", "cells"])
        )
    if len(sections) == 1:
        sections.append("Every cell loaded and predicted within tolerance.")
    return "\n\n".join(sections)


def _error_groups(document: Document, cells: list[Cell], labels: dict[str, str]) -> str:
    """One row per known cause (its cause, upstream link and way out) or, for
    the rest, per message: which producers, consumers, models and
    format/loader pairs it hit, and how many load for inference with
    compile=False. Each cell's own message and traceback stay in compat.json
    and compat.html."""
    producers, consumers = view.env_ids(document)
    causes = document.causes or {}
    rows = []
    for group in view.error_groups(cells):
        places = dict.fromkeys(f"{c.format} · {c.loader}" for c in group.cells)
        rows.append(
            [
                str(len(group.cells)),
                *_why(group, causes),
                md_cell(_inference_text(group)),
                md_cell(_envs_text(group.values("producer"), producers, labels)),
                md_cell(_envs_text(group.values("consumer"), consumers, labels)),
                md_cell(", ".join(group.values("model"))),
                md_cell(", ".join(places)),
                _replay(group.cells[0]),
            ]
        )
    headers = [
        *["cells", "what happens", "why (known cause)", "way out", "compile=False"],
        *["producers", "consumers", "models", "where", "replay one by hand"],
    ]
    return (
        "One row per known cause, or per message where none is known (artifact paths, "
        "numbers TF makes up per process and whole configs shortened); compat.json and "
        "compat.html have each cell's own message and traceback.\n\n" + _table(rows, headers)
    )


def _replay(cell: Cell) -> str:
    """The command that writes and runs a standalone reproduction of a cell.

    Cell ids are env ids, zoo names and validated user-model names: no
    character that needs escaping in a code span (checked, not assumed)."""
    return _replay_id(view.cell_id(cell))


def _replay_id(cell_id: str) -> str:
    command = f"python -m matrix repro {cell_id}"
    return f"`{command}`" if _PLAIN.fullmatch(command) else md_cell(command)


def _why(group: view.ErrorGroup, causes: Mapping[str, JsonObject]) -> list[str]:
    """[what happens, why, way out]: the cause's words and link, or the raw
    message marked as new."""
    cause = causes.get(group.cause or "")
    if cause is None:
        what = (
            f"{_short_type(group.error_type)}: {group.message}"
            if group.error_type
            else group.message
        )
        return [md_cell(what, view.MESSAGE_CHARS), "**new or unexplained**", ""]
    links = " ".join(f"[{_link_label(url)}]({url})" for url in cause["links"])
    evidence = cause.get("evidence")
    shown = f" Reproduced: {_replay_id(evidence)}" if evidence else ""
    return [
        md_cell(cause["title"]),
        md_cell(cause["cause"], 400) + " " + links + shown,
        md_cell(cause["way_out"], 400),
    ]


def _link_label(url: str) -> str:
    """keras-team/keras#18709 for an issue or pull request; the host otherwise."""
    parts = url.split("/")
    if len(parts) > 6 and parts[2] == "github.com" and parts[5] in ("issues", "pull"):
        return f"{parts[3]}/{parts[4]}#{parts[6]}"
    if len(parts) > 4 and parts[2] == "github.com":
        return f"{parts[3]}/{parts[4]}"
    return parts[2] if len(parts) > 2 else url


def _inference_text(group: view.ErrorGroup) -> str:
    if group.status is not Status.LOAD_ERROR:
        return ""
    tried = sum(1 for c in group.cells if c.inference)
    if not tried:
        return ""
    return f"{view.INFERENCE_MARK} {group.inference_ok}/{tried} load"


def _envs_text(found: list[str], everyone: list[str], labels: dict[str, str]) -> str:
    """Env labels in plan order, or "all N" when every env is in the list."""
    if len(everyone) > 1 and set(everyone) <= set(found):
        rest = [labels.get(e, e) for e in found if e not in everyone]
        return ", ".join([f"all {len(everyone)}", *rest])
    order = {env: i for i, env in enumerate(everyone)}
    ranked = sorted(found, key=lambda env: order.get(env, len(order)))
    return ", ".join(labels.get(env, env) for env in ranked)


def _key_cells(cell: Cell | JsonObject, labels: dict[str, str]) -> list[str]:
    """The key columns of a cell, or of a change entry (which has the same keys)."""
    key = cell.key if isinstance(cell, Cell) else tuple(cell[k] for k in KEY_FIELDS)
    producer, consumer, *rest = key
    return [
        md_cell(labels.get(producer, producer)),
        md_cell(labels.get(consumer, consumer)),
        *[md_cell(v) for v in rest],
    ]


def _drift_row(cell: Cell, labels: dict[str, str], causes: Mapping[str, JsonObject]) -> list[str]:
    cause = causes.get(cell.known or "")
    known = (
        f"{md_cell(cause['title'])} ([link]({cause['links'][0]}))"
        if cause
        else "**new or unexplained**"
    )
    return [
        *_key_cells(cell, labels),
        _number(cell.max_abs),
        _number(cell.max_rel),
        _number(cell.max_ulp),
        md_cell(cell.error or ""),
        known,
        _replay(cell),
    ]


def _short_type(error_type: str) -> str:
    return error_type.rsplit(".", 1)[-1] if error_type.startswith("builtins.") else error_type


def _number(value: Any) -> str:
    if value is None:
        return "–"
    return f"{value:.3g}" if isinstance(value, float) else str(value)
