"""Render `compat.svg`: the heat-map as small multiples, one per format and loader.

Each square is one env that saved (row) and one that loaded (column): its
colour is the share of the measured cells that pass (identical or close), on
viridis, a scale readable with every common colour-vision deficiency and in
grey; its letter is the worst outcome among them, so nothing depends on
colour alone, and nothing on hovering (GitHub shows the SVG as an image).
The legend comes first. A square where nothing could be saved says so (S),
apart from one where the format or loader does not exist (a dash); the cells of a
model made to fail are left out of the squares (the Markdown tables count
them apart). Embedded in compat.md, one file, no scripts.
"""

from __future__ import annotations

import html
from collections import Counter

from matrix.report import view
from matrix.results.document import Document
from matrix.status import Status

CELL = 14  # px per square
GAP = 28  # px between grids
CHAR = 5.2  # px per character of a 9 px sans-serif label, roughly
COLUMNS = 2  # grids per row of the picture
LEGEND = 84  # px of legend above the grids
# Worst first: the letter a square shows is the first of these it holds.
LETTERS: dict[Status, str] = {
    Status.CRASH: "X",
    Status.TIMEOUT: "T",
    Status.LOAD_ERROR: "L",
    Status.PREDICT_ERROR: "P",
    Status.NAN: "N",
    Status.DRIFT: "D",
    Status.CLOSE: "C",
    Status.IDENTICAL: "I",
}
# viridis, from no cell passing to every cell passing.
_VIRIDIS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")
_EMPTY = "#f2f2f2"
_NOT_SAVED = "#d9d9d9"


def render(document: Document) -> str:
    labels = view.labels(document)
    grids = view.grids(document)
    if not grids:
        return _svg(320, 40, ['<text x="8" y="24">No measured cells.</text>'])
    size = max(max(len(g.producers), len(g.consumers)) for g in grids)
    label = round(max(len(text) for text in labels.values()) * CHAR) + 8
    panel = label + size * CELL
    width = max(COLUMNS * panel + (COLUMNS - 1) * GAP + 16, 600)
    rows = (len(grids) + COLUMNS - 1) // COLUMNS
    parts = [_legend(8, 8)]
    for index, grid in enumerate(grids):
        x = 8 + (index % COLUMNS) * (panel + GAP)
        y = LEGEND + (index // COLUMNS) * (panel + GAP + 18)
        parts.append(_grid(grid, labels, x, y, label))
    return _svg(width, LEGEND + rows * (panel + GAP + 18), parts)


def _svg(width: int, height: int, parts: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="9">\n'
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>\n'
        + "\n".join(parts)
        + "\n</svg>\n"
    )


def _grid(grid: view.Grid, labels: dict[str, str], x: int, y: int, label_px: int) -> str:
    out = [
        f'<text x="{x}" y="{y + 10}" font-size="11" font-weight="bold">'
        f"{_text(grid.format)} · {_text(grid.loader)}</text>"
    ]
    top = y + 18 + label_px
    left = x + label_px
    for col, consumer in enumerate(grid.consumers):
        cx = left + col * CELL + CELL - 4
        label = _text(labels[consumer])
        out.append(f'<text transform="translate({cx},{top - 4}) rotate(-60)">{label}</text>')
    for row, producer in enumerate(grid.producers):
        cy = top + row * CELL
        out.append(
            f'<text x="{left - 4}" y="{cy + CELL - 4}" text-anchor="end">'
            f"{_text(labels[producer])}</text>"
        )
        for col, consumer in enumerate(grid.consumers):
            out.append(
                _square(grid.at(producer, consumer), left + col * CELL, cy, producer, consumer)
            )
    return "\n".join(out)


def _square(counts: Counter[str], x: int, y: int, producer: str, consumer: str) -> str:
    measured = {s: n for s, n in view.ordered(counts) if Status(s) in LETTERS}
    total = sum(measured.values())
    title = f"{producer} → {consumer}: " + (
        ", ".join(f"{n} {s}" for s, n in view.ordered(counts)) or "nothing planned"
    )
    if not total and counts.get(Status.NO_ARTIFACT.value):
        fill, letter, ink = _NOT_SAVED, "S", "#000000"  # the saving env failed to write it
    elif not total:
        fill, letter, ink = _EMPTY, "–" if counts else "", "#777777"
    else:
        share = sum(n for s, n in measured.items() if Status(s).passing) / total
        fill = colour(share)
        letter = next(LETTERS[s] for s in LETTERS if measured.get(s.value))
        ink = "#000000" if share >= 0.5 else "#ffffff"
    return (
        f'<g><title>{_text(title)}</title><rect x="{x}" y="{y}" width="{CELL - 1}" '
        f'height="{CELL - 1}" fill="{fill}"/><text x="{x + CELL / 2 - 0.5}" y="{y + CELL - 4}" '
        f'text-anchor="middle" fill="{ink}">{letter}</text></g>'
    )


def colour(share: float) -> str:
    position = share * (len(_VIRIDIS) - 1)
    low = min(int(position), len(_VIRIDIS) - 2)
    mix = position - low
    a, b = _rgb(_VIRIDIS[low]), _rgb(_VIRIDIS[low + 1])
    return "#" + "".join(f"{round(p + (q - p) * mix):02x}" for p, q in zip(a, b, strict=True))


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _legend(x: int, y: int) -> str:
    items = [f"{letter} {status.value}" for status, letter in LETTERS.items()]
    items += ["S could not be saved", "– not applicable"]
    half = len(items) // 2
    swatches = "".join(
        f'<rect x="{x + 212 + i * 26}" y="{y + 46}" width="24" height="10" fill="{colour(i / 4)}"/>'
        for i in range(5)
    )
    return (
        f'<text x="{x}" y="{y + 10}" font-size="11" font-weight="bold">Rows: the TensorFlow '
        "that saved the file. Columns: the one that loaded it. One grid per format and "
        "loader.</text>"
        f'<text x="{x}" y="{y + 26}">Letter: the worst outcome in the square: '
        f"{_text(' · '.join(items[:half]))}</text>"
        f'<text x="{x}" y="{y + 40}">{_text(" · ".join(items[half:]))}</text>'
        f'<text x="{x}" y="{y + 55}">Colour: share of measured cells that pass</text>'
        f'<text x="{x + 190}" y="{y + 55}">0%</text>{swatches}'
        f'<text x="{x + 346}" y="{y + 55}">100%</text>'
        f'<text x="{x}" y="{y + 70}">A model made to fail (a custom layer nobody registered) is '
        "left out of the squares.</text>"
    )


def _text(value: object) -> str:
    return html.escape(str(value), quote=True)
