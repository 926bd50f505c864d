"""`docs/findings.md`: what the published reports found, written from their cells.

Nothing here is typed by hand but the words that say what each report is:
the counts, the envs and versions, and every known cause with the cells it
explains come from the published `compat.json` files (`facts.py`), the
causes' words and links from `matrix/results/known.toml`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from matrix.escape import md_cell
from matrix.report import facts, view
from matrix.results.document import Document

# What each published report is, in words (its numbers come from its data).
ABOUT = {
    "default": (
        "[reports/compat.md](../reports/compat.md): `nox -s matrix`, the default matrix, "
        "with the frozen TF 1.15 producers replayed"
    ),
    "old": (
        "[reports/old/compat.md](../reports/old/compat.md): what TF 1.15-2.4 and standalone "
        "Keras 2.3.1 saved, read by today's envs"
    ),
    "full": (
        "[reports/full/compat.md](../reports/full/compat.md): `nox -s matrix -- --preset full`, "
        "every release the table knows"
    ),
}
TOP = 15  # causes told in full; the rest are listed


def render(documents: Mapping[str, Document]) -> str:
    known = facts.facts(documents)
    lines = [
        "# What the matrix found",
        "",
        "Written by `python -m matrix findings` from the published reports: every number "
        "below is read from their cells (and checked against them by the tests), every "
        "cause's words and links come from `matrix/results/known.toml`. Each failure group "
        "in a report names one cell to replay by hand with `python -m matrix repro`.",
    ]
    for name, document in documents.items():
        lines += ["", _report(name, document, known)]
    lines += ["", _causes(documents, known)]
    return "\n".join(lines) + "\n"


def _report(name: str, document: Document, known: Mapping[str, str]) -> str:
    def fact(key: str) -> str:
        return facts.span(f"{name}.{key}", known)

    statuses = " · ".join(
        f"{s} {facts.span(f'{name}.status.{s}', known)}"
        for s, _ in view.ordered(Counter(c.status for c in document.cells))
    )
    lines = [
        f"## {name.capitalize()}",
        "",
        f"{ABOUT.get(name, name)}: probe {fact('probe')}, run on {fact('when')}; "
        f"{fact('envs')} envs, {fact('cells')} cells ({fact('pending')} pending): {statuses}.",
        "",
        f"Self-check: {fact('selfcheck.checked')} cells where an env reads what it saved itself; "
        f"{fact('selfcheck.failing')} fail, {fact('selfcheck.suspects')} of them with no known "
        f"cause. Failing cells no known cause explains: {fact('unexplained')}; known causes "
        f"seen: {fact('causes')}.",
        "",
        _versions(document),
    ]
    return "\n".join(lines)


def _versions(document: Document) -> str:
    """The versions the envs ran, one row per env of the report."""
    rows = []
    labels = view.labels(document)
    for state in document.envs:
        versions = state.versions
        runtime = versions.runtime if versions is not None else None
        rows.append(
            "| "
            + " | ".join(
                md_cell(value)
                for value in (
                    labels.get(state.id, state.id),
                    state.tensorflow or runtime or "?",
                    state.keras or "none",
                    state.python,
                    state.status,
                )
            )
            + " |"
        )
    return "\n".join(["| env | TensorFlow or runtime | Keras | Python | status |",
                      "|---|---|---|---|---|", *rows])  # fmt: skip


def _causes(documents: Mapping[str, Document], known: Mapping[str, str]) -> str:
    """Every known cause the reports saw, by the cells it explains (largest first)."""
    seen: dict[str, dict[str, object]] = {}
    cells: Counter[str] = Counter()
    for document in documents.values():
        for cause_id, cause in (document.causes or {}).items():
            seen.setdefault(cause_id, dict(cause))
        cells.update(c.known for c in document.cells if c.known)
    ranked = sorted(seen, key=lambda c: (seen[c].get("kind") == "by-design", -cells[c], c))
    lines = [
        "## The incompatibilities, by the cells they explain",
        "",
        "Known causes, upstream behaviours first and the zoo's models made to fail last, "
        "each with the cells it explains in each report.",
    ]
    for rank, cause_id in enumerate(ranked, 1):
        cause = seen[cause_id]
        counts = ", ".join(
            f"{name} {facts.span(f'{name}.cause.{cause_id}', known)}"
            for name in documents
            if f"{name}.cause.{cause_id}" in known
        )
        links = " ".join(f"<{url}>" for url in cause.get("links") or ())  # type: ignore[attr-defined]
        if rank > TOP:
            lines += ["", f"{rank}. **{md_cell(cause['title'])}** (cells: {counts}). {links}"]
            continue
        lines += [
            "",
            f"{rank}. **{md_cell(cause['title'])}** (`{cause_id}`, {cause.get('kind')}; cells: "
            f"{counts}).",
            f"   {md_cell(cause.get('cause'), 2000)}",
            f"   Way out: {md_cell(cause.get('way_out'), 1000)} {links}",
        ]
        if cause.get("evidence"):
            lines.append(f"   Replay one: `python -m matrix repro {cause['evidence']}`.")
    return "\n".join(lines)
