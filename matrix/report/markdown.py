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
from matrix.report import readers, view
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
        _since_last(document, labels),
        _changes(document.changes, labels) if document.changes else "",
        _readers(document, labels),
        _self_check(document, labels),
        _unexplained(document, labels),
        _glance(),
        _tables(document, labels),
        _disagreements(document, labels),
        _silent(document, labels),
        _details(document, labels),
        _envs(document, labels),
        _user_models(document),
        _notes(document, labels),
        _run_facts(document),
        _glossary(),
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
    """The title and what the report is, in two lines: the answer comes next."""
    lines = [
        "# TensorFlow/Keras compatibility report",
        "",
        "Will a model saved with one TensorFlow/Keras load and predict the same with another? "
        f"Every answer below is a measured cell (a real save, load and prediction): "
        f"{len(document.cells):,} of them here; how they were made is under "
        "[How this was measured](#how-this-was-measured).",
    ]
    if document.run.get("unsafe"):
        lines += [
            "",
            "**Unsafe mode was on** (`--unsafe`): the safety gate was open, and files "
            "holding code were loaded with `safe_mode=False`.",
        ]
    if document.pending:
        lines += [
            "",
            f"**{len(document.pending):,} cell(s) have no result yet** (run "
            "`nox -s matrix` with the same selection to compute them).",
        ]
    return "\n".join(lines)


def _answers(document: Document, labels: dict[str, str]) -> str:
    """The answer: per upgrade path, a verdict per format in plain words, what
    to pin, and what breaks with what to do."""
    found = list(document.answers)
    if not found:
        return ""
    formats = sorted({f for a in found for f in a["formats"]}, key=_format_order)
    rows = [
        [md_cell(f"{_path_title(a, labels)}")]
        + [md_cell(_short_verdict(a["formats"].get(f))) for f in formats]
        for a in found
    ]
    lines = [
        "## The answer",
        "",
        "A model saved with the old TensorFlow's default Keras, then loaded the way it loaded "
        "before (`load_model`; a Keras 3 SavedModel, which `load_model` never reads, with "
        "`tf.saved_model.load`) after `pip install tensorflow==<new>`: of the zoo's models "
        "(each under each policy) that the old TensorFlow read back itself, how many still "
        "load and predict the same, how many need a way out, how many have none. Models "
        "made to fail (a custom layer nobody registered) are listed apart, never counted.",
        "",
        _table(rows, ["upgrade", *[_format_name(f) for f in formats]]),
    ]
    for found_path in found:
        lines += ["", _answer_path(found_path, labels)]
    return "\n".join(lines)


_FORMAT_NAMES = {"h5": "`.h5`", "keras": "`.keras`", "savedmodel": "SavedModel",
                 "weights": "`.weights.h5`"}  # fmt: skip


def _format_name(fmt: str) -> str:
    return _FORMAT_NAMES.get(fmt, f"`{fmt}`")


def _path_title(found: JsonObject, labels: dict[str, str]) -> str:
    saved = ", ".join(labels.get(e, e) for e in found["from_envs"])
    return f"{saved} → {labels.get(found['to_env'], found['to_env'])}"


def _format_order(fmt: str) -> int:
    order = ["h5", "keras", "savedmodel", "weights"]
    return order.index(fmt) if fmt in order else len(order)


def _short_verdict(counts: JsonObject | None) -> str:
    """ "all 22 work", "8 of 22 work · 14 with a way out": no tick on zero."""
    if not counts or not counts["models"]:
        return "nothing measured"
    models, work = counts["models"], counts.get("work", 0)
    text = f"all {models} work" if work == models else f"{work} of {models} work"
    if counts.get("way_out"):
        text += f" · {counts['way_out']} with a way out"
    if counts.get("no_way"):
        text += f" · {counts['no_way']} with none"
    if counts.get("not_measured"):
        text += f" · {counts['not_measured']} not measured"
    return text


def _verdict_line(fmt: str, counts: JsonObject) -> str:
    """One format's verdict in a sentence, with the best way out and its cost."""
    models, work = counts["models"], counts.get("work", 0)
    how = " and ".join(f"`{_LOADER_CALLS.get(x, x)}`" for x in counts.get("loaders", ()))
    if not models:
        return f"- **{_format_name(fmt)}**: no model of this format was measured."
    head = (
        f"all {models} load and predict the same"
        if work == models
        else f"{work} of {models} load and predict the same"
    )
    split = counts.get("policies") or {}
    if len(split) > 1 and 0 < work < models:
        head += (
            " ("
            + "; ".join(
                f"{policy}: {tally.get('work', 0)} of {tally['models']}"
                for policy, tally in split.items()
            )
            + ")"
        )
    line = f"- **{_format_name(fmt)}** (read with {how}): {head}"
    best = counts.get("best")
    if counts.get("way_out") and best:
        costs = "; ".join(best["costs"])
        line += (
            f"; {counts['way_out']} need a way out. Best measured: {best['how']}, which works "
            f"for {best['works_for']} of them (keeps {best['keeps']}; costs: {costs})"
        )
    if counts.get("no_way"):
        line += f"; **{counts['no_way']} with no measured way out**"
    if counts.get("not_measured"):
        line += f"; {counts['not_measured']} not measured yet"
    return line + "."


_LOADER_CALLS = {
    "keras": "load_model",
    "saved-model": "tf.saved_model.load",
    "serving": "TensorFlow Serving",
    "tfsm-layer": "TFSMLayer",
}


def _answer_path(found: JsonObject, labels: dict[str, str]) -> str:
    lines = [f"### {md_cell(_path_title(found, labels))}", ""]
    formats = sorted(found["formats"], key=_format_order)
    lines += [_verdict_line(f, found["formats"][f]) for f in formats]
    lines += ["", _pins(found)]
    if found.get("unmeasured"):
        missing = ", ".join(f"`{e}`" for e in found["unmeasured"])
        lines += [
            "",
            f"Not measured in this selection, so not offered as ways out: {missing}. "
            f"`python -m matrix run --from {found['from']} --to {found['to']}` measures every "
            "flavour of both releases.",
        ]
    if found.get("by_design"):
        made = sorted({f"{md_cell(r['model'])} ({_format_name(r['format'])})"
                       for r in found["by_design"]})  # fmt: skip
        lines += [
            "",
            f"Made to fail, not counted: {', '.join(made)}: the zoo's custom "
            "layer nobody registered fails to load everywhere, as it should.",
        ]
    if found["breaking"]:
        lines += ["", "What breaks, and what to do (cheapest measured way first):", ""]
        lines.append(_breaking_table(found["breaking"]))
    return "\n".join(lines)


def _readers(document: Document, labels: dict[str, str]) -> str:
    """Which Keras (version, backend) loads each file and predicts the same."""
    found = readers.readers(document)
    if not found:
        return ""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for (producer, model, policy, fmt), side in found.items():
        groups.setdefault((producer, fmt, side.statement()), []).append(f"{model} ({policy})")
    order = {p: i for i, p in enumerate(document.producers)}
    rows = [
        [
            md_cell(labels.get(producer, producer)),
            _format_name(fmt),
            md_cell(_models_text(models), 400),
            md_cell(statement, 600),
        ]
        for (producer, fmt, statement), models in sorted(
            groups.items(), key=lambda g: (order.get(g[0][0], len(order)), _format_order(g[0][1]))
        )
    ]
    return (
        "## Which Keras reads each file\n\n"
        "For each file, the Keras versions (and Keras 3's backends) of this run that load it "
        "with `load_model` (`load_weights` for a weights file) and predict the same: the "
        "oldest and the newest, and those that do not.\n\n"
        + _table(rows, ["saved in", "format", "models", "read by"])
    )


def _ours(text: str) -> str:
    """Text this tool wrote (the ways out, with their code spans) in a table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _pins(found: JsonObject) -> str:
    """What to install to get what was measured, as commands."""
    blocks = []
    for pin in found.get("pins") or ():
        versions = ", ".join(f"{k} {v}" for k, v in pin["versions"].items())
        role = "as measured" if pin["role"] == "default" else "the way out, as measured"
        lines = [f"# {role} ({versions})"]
        lines.append("pip install " + " ".join(f'"{req}"' for req in pin["install"]))
        lines += [f"export {k}={v}" for k, v in sorted(pin["environment"].items())]
        blocks.append("\n".join(lines))
    patches = [
        f"- `{p['requirement']}` where the {'saving' if p['side'] == 'producer' else 'loading'} "
        f"env's Keras decides it: {md_cell(p['words'])} (bisected to the patch release)"
        for p in found.get("patches") or ()
    ]
    if not blocks:
        return "\n".join(patches)
    text = "What to pin:\n\n```sh\n" + "\n\n".join(blocks) + "\n```"
    return text + ("\n\n" + "\n".join(patches) if patches else "")


def _breaking_table(breaking: list[JsonObject]) -> str:
    groups: dict[tuple[str, str, str], list[str]] = {}
    for row in breaking:
        ways_text = (
            "; ".join(f"{w['how']} (keeps {w['keeps']})" for w in row["alternatives"])
            or "no measured way"
        )
        key = (row["format"], row["direct"]["status"], ways_text)
        groups.setdefault(key, []).append(f"{row['model']} ({row['policy']})")
    rows = [
        [
            _format_name(fmt),
            md_cell("not measured" if status == "pending" else status),
            md_cell(_models_text(models), 400),
            _ours(ways_text),
        ]
        for (fmt, status, ways_text), models in sorted(groups.items())
    ]
    return _table(rows, ["format", "after the upgrade", "models", "what to do"])


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


def _run_facts(document: Document) -> str:
    """How the cells were made: when, with what, under which tolerances."""
    run = document.run
    selection = run["selection"]
    totals = " · ".join(
        f"{Status(s).symbol} {s} {n:,}" for s, n in view.ordered(dict(document.summary))
    )
    return "\n".join(
        [
            "## How this was measured",
            "",
            f"Generated {md_cell(run['when'])} on {md_cell(run['host'])} "
            f"({md_cell(run['platform'])}) by tf-compat-matrix {md_cell(run['tool_version'])} "
            f"(probe {md_cell(run['probe_version'])}). Each env saved the zoo, its built-in "
            "models, each seeded and trained, in every format its Keras writes; every env "
            "then loaded every file through every loader it has, predicted on the saved "
            "inputs and was compared with the saving env's own outputs.",
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
            f"Cells: {len(document.cells):,}. {totals}",
            "",
            _releases_line(document),
            "",
            _sandbox_line(document),
        ]
    )


def _releases_line(document: Document) -> str:
    """Where the releases came from: the index's answer, what it added,
    what went wrong asking; or that the table alone was used."""
    found = document.run.get("releases")
    if not isinstance(found, dict):
        return "Releases: the release table alone (this run did not ask a package index)."
    if found.get("offline"):
        return f"Releases: the release table alone ({md_cell(found['offline'])})."
    untabled = [f"{u['family']} {u['version']} (as {u['based_on']})" for u in found["untabled"]]
    line = (
        f"Releases: the table, checked against {md_cell(found['index'])} at "
        f"{md_cell(found['when'])}: "
        + (
            "untabled (planned with the capabilities of the newest tabled release) "
            + md_cell(", ".join(untabled))
            if untabled
            else "nothing untabled"
        )
        + "."
    )
    problems = found.get("problems") or []
    if problems:
        line += " Problems: " + md_cell("; ".join(problems)) + "."
    return line


# The words of this report a reader may not know, in the order they meet them.
GLOSSARY = (
    (
        "env",
        "one virtualenv: a Python, a TensorFlow (or a TFLite runtime), a Keras flavour "
        "and a device, built by the tool (`tf2.15-keras2-py3.11-cpu`)",
    ),
    (
        "Keras 2, Keras 3, tf-keras",
        "the Keras a TensorFlow runs: tf.keras up to TF 2.15, the "
        "`keras` 3 package from TF 2.16, and `tf-keras` (Keras 2 for TF ≥ 2.16) with "
        "`TF_USE_LEGACY_KERAS=1`",
    ),
    (
        "zoo",
        "the models the tool builds itself, one per family of failures (BatchNormalization, "
        "LSTM, a custom layer, preprocessing state, ...)",
    ),
    ("policy", "the Keras dtype policy a model was built under: float32 or mixed_float16"),
    ("format", "how a model was saved: `.h5`, `.keras`, SavedModel, `.weights.h5`, TFLite"),
    (
        "loader",
        "how it was read: `load_model`, `tf.saved_model.load`, TensorFlow Serving's "
        "graph-mode session, `TFSMLayer`, a TFLite interpreter",
    ),
    ("cell", "one file saved in one env, read in another through one loader: one outcome"),
    ("way out", "another measured path that works where the plain load breaks"),
    (
        "inference-only",
        "`load_model(path, compile=False)`: the model without its optimizer, loss and metrics",
    ),
    ("frozen", "files an old env saved once and the tool replays (TF 1.15: no need to build it)"),
    (
        "self-check",
        "every env reading what it saved itself; a failure there that no known "
        "cause explains is suspected to be the tool's own",
    ),
)


def _glossary() -> str:
    rows = [[md_cell(word), md_cell(meaning, 400)] for word, meaning in GLOSSARY]
    return "## Glossary\n\n" + _table(rows, ["word", "meaning"])


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


# Rows of one kind of change shown in full; the rest is counted (compat.json has all).
SINCE_ROWS = 25


def _since_last(document: Document, labels: dict[str, str]) -> str:
    """New failures, fixes and envs since the last run (report/history.py)."""
    found = (document.history or {}).get("since_last")
    if not found:
        return ""
    lines = ["## Changed since the last run", ""]
    if found.get("note"):
        lines += [md_cell(found["note"]), ""]
    if not found["previous"]:
        lines.append("This is the first run these reports record: nothing to compare with yet.")
        return "\n".join(lines)
    new_envs = [labels.get(e, e) for e in found["new_envs"]]
    gone = [labels.get(e, e) for e in found["gone_envs"]]
    lines.append(
        f"Since {md_cell(found['previous'])}: **{len(found['new_failures'])}** new failure(s), "
        f"**{len(found['fixes'])}** fix(es), {len(found['other'])} other status change(s). "
        f"New envs: {md_cell(', '.join(new_envs) or 'none')}. "
        f"Gone: {md_cell(', '.join(gone) or 'none')}."
    )
    for kind, title in (("new_failures", "New failures"), ("fixes", "Fixes")):
        changes = found[kind]
        if not changes:
            continue
        rows = [
            [*_key_cells(dict(zip(KEY_FIELDS, c["cell"].split("/"), strict=True)), labels),
             md_cell(f"{c['before']} → {c['now']}"), md_cell(c.get("cause") or "")]
            for c in changes[:SINCE_ROWS]
        ]  # fmt: skip
        lines += ["", f"### {title}", "", _table(rows, [*KEY_FIELDS, "status", "cause"])]
        if len(changes) > SINCE_ROWS:
            lines.append(f"\n… and {len(changes) - SINCE_ROWS} more (compat.json, `history`).")
    return "\n".join(lines)


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
    headers = ["label", "env", "Python", "TensorFlow", "Keras", "numpy", "device", "status"]
    return (
        "## What ran\n\nOne virtualenv per row (an *env*), built with uv; the label is how the "
        "tables above name it.\n\n" + _table(rows, headers) + _gold(document, labels)
    )


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


def _glance() -> str:
    """The heat-map and the legend every table below uses, legend first."""
    rows = [[SYMBOLS[s], f"`{s.value}`", MEANINGS[s]] for s in Status]
    silent = "; ".join(f"{kind}: {meaning}" for kind, meaning in view.SILENT_MEANING.items())
    rows.append([view.SILENT_MARK, "silent change", f"counted beside the status ({silent})"])
    rows.append([view.INFERENCE_MARK, "inference-only", view.INFERENCE_MEANING])
    rows.append([view.DESIGN_MARK, "made to fail", view.DESIGN_MEANING])
    return (
        "## Every cell at a glance\n\n"
        "Each table below counts, for one format read by one loader, the models (each under "
        "each policy) saved in the TensorFlow of its row and loaded in the one of its column, "
        "by outcome:\n\n"
        + _table(rows, ["symbol", "outcome", "meaning"])
        + "\n\nThe same as a picture: each square is one row and column, its letter the worst "
        "outcome there, its shade the share that loads and predicts the same (its own legend "
        f"is on top of it).\n\n![Heat-map of every format and loader]({REPORT_SVG})"
    )


def _tables(document: Document, labels: dict[str, str]) -> str:
    sections = ["## Saved in × loaded in, per format and loader"]
    for grid in view.grids(document):
        rows = [
            [md_cell(labels[p])] + [_summary(grid.at(p, c)) for c in grid.consumers]
            for p in grid.producers
        ]
        headers = ["saved in ↓ loaded in →"] + [md_cell(labels[c]) for c in grid.consumers]
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
    for mark in (view.INFERENCE_MARK, view.SILENT_MARK, view.DESIGN_MARK):
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
    bisected = "; ".join(b["words"] for b in cause.get("bisected") or ())
    if bisected:
        shown += f" Bisected: {md_cell(bisected)}."
    if cause.get("first_seen"):
        shown += f" Seen {md_cell(cause['first_seen'][:10])} to {md_cell(cause['last_seen'][:10])}."
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
