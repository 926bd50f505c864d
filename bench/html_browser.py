"""How fast compat.html opens and answers in headless Chromium.

Renders the page of a compat.json (or its .gz) the way `publish` does, opens
it from file:// in Debian's Chromium through Playwright with the network
blocked, and prints as JSON: the page's size, how long rendering took, first
paint (the browser's paint timing), when the explorer was ready
(`window.compatExplorer.timings`), and how long one filter change, one
model view and two searches took to filter and render, measured in the page
around the work (`lastUpdate.ms`) and up to the next frame. A benchmark,
not a test: the figures depend on the machine.

    python bench/html_browser.py [reports/full/compat.json.gz] [--runs 3] [--out build/bench-html]
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matrix.report import answer, html, jsonfile, markdown  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# One change, timed in the page: set a control, fire its event, read how
# long the explorer took, and how long until the next frame could paint.
CHANGE = """([selector, value, event]) => new Promise((resolve) => {
  const started = performance.now();
  const control = document.querySelector(selector);
  control.value = value;
  control.dispatchEvent(new Event(event));
  const update = window.compatExplorer.lastUpdate;
  requestAnimationFrame(() => setTimeout(() => resolve(
    {ms: update.ms, rows: update.rows, to_frame_ms: performance.now() - started})));
})"""
OPTION = """([selector, text]) => [...document.querySelectorAll(selector + ' option')]
  .find((o) => o.textContent.startsWith(text)).value"""


def main() -> int:
    args = _arguments()
    args.out.mkdir(parents=True, exist_ok=True)
    page, rendering = _render(args.source)
    path = args.out.resolve() / "compat.html"
    path.write_text(page, encoding="utf-8")
    runs = [_open(path, args.chromium) for _ in range(args.runs)]
    found = {
        "source": str(args.source),
        "page_bytes": len(page.encode("utf-8")),
        "fits_limit": html.fits(page),
        "limit_bytes": html.PAGE_LIMIT,
        "render_seconds": rendering,
        "runs": len(runs),
        "median": {key: _median(runs, key) for key in runs[0]},
        "each": runs,
    }
    (args.out / "html_browser.json").write_text(json.dumps(found, indent=2) + "\n", "utf-8")
    print(json.dumps(found, indent=2))
    return 0 if found["fits_limit"] else 1


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "source", nargs="?", type=Path, default=ROOT / "reports/full/compat.json.gz"
    )
    parser.add_argument("--runs", type=int, default=3, help="page loads to take the median of")
    parser.add_argument("--out", type=Path, default=ROOT / "build/bench-html")
    parser.add_argument("--chromium", default=CHROMIUM, help="the browser to drive")
    return parser.parse_args()


def _render(source: Path) -> tuple[str, dict[str, float]]:
    raw = source.read_bytes()
    started = time.perf_counter()
    document = jsonfile.load_document(
        (gzip.decompress(raw) if source.suffix == ".gz" else raw).decode()
    )
    # As publish does: the upgrade answer made anew from the cells.
    document = document.with_(answers=tuple(answer.answers(document)))
    loaded = time.perf_counter()
    text = markdown.render(document)
    marked = time.perf_counter()
    page = html.render(document, text)
    done = time.perf_counter()
    seconds = {"load": loaded - started, "markdown": marked - loaded, "html": done - marked}
    return page, {key: round(value, 3) for key, value in seconds.items()}


def _open(path: Path, chromium: str) -> dict[str, float]:
    """One fresh browser: open the page, then time the changes."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.route("http://**/*", lambda route: route.abort())
        page.route("https://**/*", lambda route: route.abort())
        page.goto(path.as_uri())
        page.evaluate("window.compatReady")
        paints = page.evaluate(
            "Object.fromEntries(performance.getEntriesByType('paint')"
            ".map((e) => [e.name, e.startTime]))"
        )
        timings = page.evaluate("window.compatExplorer.timings")
        status = page.evaluate(OPTION, ["#filter-status", "load-error"])
        model = page.evaluate(OPTION, ["#filter-model", "mlp"])
        changes = {
            "filter": _change(page, "#filter-status", status, "change"),
            "model_view": _change(page, "#filter-model", model, "change"),
            "clear_model": _change(page, "#filter-model", "", "change"),
            "search_first": _change(page, "#search", "unknown layer", "input"),
            "search_again": _change(page, "#search", "mlp keras", "input"),
        }
        browser.close()
    found = {
        "first_paint_ms": paints.get("first-paint", -1.0),
        "first_contentful_paint_ms": paints.get("first-contentful-paint", -1.0),
        "ready_ms": timings["ready"],
        "inflate_ms": timings["inflate"],
        "decode_ms": timings["decode"],
        "start_ms": timings["start"],
    }
    for name, change in changes.items():
        found[f"{name}_ms"] = change["ms"]
        found[f"{name}_to_frame_ms"] = change["to_frame_ms"]
        found[f"{name}_rows"] = change["rows"]
    return {key: round(float(value), 1) for key, value in found.items()}


def _change(page: Any, selector: str, value: str, event: str) -> dict[str, float]:
    return dict(page.evaluate(CHANGE, [selector, value, event]))


def _median(runs: list[dict[str, float]], key: str) -> float:
    return round(statistics.median(run[key] for run in runs), 1)


if __name__ == "__main__":
    raise SystemExit(main())
