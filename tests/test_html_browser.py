"""compat.html in a real headless Chromium, driven by Playwright: search,
filters, the model view and the cell panel work from file:// with the
network blocked, and no text of the document ever runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from matrix.paths import Layout
from matrix.report import html as html_report
from matrix.report import html_svg, jsonfile, markdown, view
from matrix.results import document
from matrix.results.cells import Part
from matrix.results.document import Document
from matrix.selection.plan import Plan
from matrix.settings import Settings
from tests.test_document import stored  # noqa: F401 - the fixture

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # the test extra is not installed
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI installs Chromium and Playwright and requires these checks; elsewhere
# they run when found (the screenshots need Chromium only).
REQUIRED = bool(os.environ.get("COMPAT_MATRIX_REQUIRE_BROWSER"))
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not REQUIRED,
    reason="Chromium is not installed (apt-get install chromium)",
)
# As the machine's notes advise: no sandbox as root, no background networking.
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
ATTACK = '<script>alert("x")</script><img src=x onerror="window.pwned=1">'
TRACEBACK = (
    'Traceback (most recent call last):\n  File "load.py", line 3, in <module>\n'
    f"ValueError: {ATTACK}\n"
)


@pytest.fixture
def doc(stored: tuple[Plan, Layout]) -> Document:  # noqa: F811
    """The stored run, its first failure with a hostile message and
    traceback, and texts that hold the cell's own paths (stored as
    `{artifact}` and `{venv}`) or a placeholder itself."""
    plan, layout = stored
    built = document.build(plan, layout, Settings())
    artifacts = jsonfile._by_artifact(built.artifacts)
    cells = list(built.cells)
    hostile = next(i for i, c in enumerate(cells) if c.status == "load-error")
    venv = jsonfile._places(cells[hostile].to_dict(), artifacts)["{venv}"]
    cells[hostile] = cells[hostile].with_(
        error=ATTACK,
        error_text=TRACEBACK,
        reason=ATTACK,
        inference=Part("close", max_abs=2.5e-7, max_rel=1e-6, max_ulp=3, seconds=0.5),
        own_policy=Part("load-error", error_type="builtins.ValueError",
                        error=f"no module in {venv}/lib", dtype_drift=("float16",)),
    )  # fmt: skip
    for i, cell in enumerate(cells):
        places = jsonfile._places(cell.to_dict(), artifacts)
        if cell.status == "crash":
            paths = " and ".join(places.values())
            cells[i] = cell.with_(error_text=f"died reading {paths}\n", reason="a literal {venv}")
    return built.with_(cells=tuple(cells))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        assert not REQUIRED, "pip install playwright (the test extra)"
        pytest.skip("Playwright is not installed (pip install playwright, the test extra)")
    assert CHROMIUM, "Chromium is installed by .ci/run (apt-get install chromium)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


class Opened:
    """A page opened from file:// with the network blocked, and what it tried."""

    def __init__(self, browser: Browser, path: Path) -> None:
        self.blocked: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        for scheme in ("http", "https"):
            self.context.route(f"{scheme}://**/*", self._block)
        self.page: Page = self.context.new_page()
        self.page.on(
            "dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss())
        )
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(path.as_uri())
        self.page.evaluate("window.compatReady")

    def _block(self, route: Any) -> None:
        self.blocked.append(route.request.url)
        route.abort()

    def count(self) -> int:
        return int(self.page.get_attribute("#count", "data-count") or -1)

    def statuses_shown(self) -> set[str]:
        return set(self.page.locator("#rows .row:visible span:nth-child(7)").all_inner_texts())


def write_page(doc: Document, folder: Path) -> Path:
    path = folder / "compat.html"
    path.write_text(html_report.render(doc, markdown.render(doc)), "utf-8")
    return path


@pytest.fixture
def opened(browser: Browser, doc: Document, tmp_path: Path) -> Iterator[Opened]:
    found = Opened(browser, write_page(doc, tmp_path))
    yield found
    found.context.close()


def matching(doc: Document, word: str) -> int:
    """How many cells the explorer's search should find for one word."""
    labels = view.labels(doc)
    word = word.lower()

    def fields(cell: Any) -> list[str]:
        names = [cell.model, cell.producer, cell.consumer, cell.format, cell.loader, cell.status]
        cause = (doc.causes or {}).get(cell.known or "", {})
        extra = [labels.get(cell.producer, ""), labels.get(cell.consumer, ""), cell.policy]
        known = [f"{cell.known} {cause.get('title', '')}"] if cell.known else []
        return [*names, *extra, *known, cell.error or ""]

    return sum(any(word in f.lower() for f in fields(c)) for c in doc.cells)


def test_the_explorer_decodes_every_cell_as_jsonfile_loads_does(
    opened: Opened, doc: Document
) -> None:
    shown = opened.page.evaluate(
        "Array.from({length: compatExplorer.data.count}, (_, i) => compatExplorer.data.cell(i))"
    )
    expected = jsonfile.loads(jsonfile.dumps(doc))["cells"]
    assert shown == expected
    assert any("<output>/artifacts/" in (c["error_text"] or "") for c in shown)
    assert any(c["reason"] == "a literal {venv}" for c in shown)
    assert any(
        (c["own_policy"] or {}).get("error", "").startswith("no module in <envdir>/") for c in shown
    )


def test_a_search_narrows_the_list(opened: Opened, doc: Document) -> None:
    assert opened.count() == len(doc.cells)
    for word in ("sigsegv", "load-error", "savedmodel", "2.21"):
        opened.page.fill("#search", "")
        opened.page.locator("#search").press_sequentially(word)
        assert opened.count() == matching(doc, word) > 0, word
    opened.page.fill("#search", "load-error sigsegv")  # every word must match
    assert opened.count() == 0
    assert opened.page.inner_text("#count").startswith("0 of ")


def test_a_filter_keeps_its_cells(opened: Opened, doc: Document) -> None:
    opened.page.select_option("#filter-status", label="load-error · 1")
    assert opened.count() == sum(c.status == "load-error" for c in doc.cells) == 1
    assert opened.statuses_shown() == {"load-error"}
    opened.page.select_option("#filter-status", label="any failure")
    failing = {"drift", "nan", "load-error", "predict-error", "crash", "timeout", "no-artifact"}
    assert opened.count() == sum(c.status in failing for c in doc.cells)
    assert opened.statuses_shown() <= failing
    opened.page.select_option("#filter-format", label=f"h5 · {_count(doc, 'format', 'h5')}")
    assert opened.count() == sum(c.status in failing and c.format == "h5" for c in doc.cells)
    opened.page.click("#clear")
    assert opened.count() == len(doc.cells)


def _count(doc: Document, field: str, value: str) -> int:
    return sum(getattr(c, field) == value for c in doc.cells)


def test_a_cell_shows_its_traceback_and_repro_command(opened: Opened, doc: Document) -> None:
    cell = next(c for c in doc.cells if c.error_text == TRACEBACK)
    opened.page.fill("#search", "onerror")
    assert opened.count() == 1
    opened.page.locator("#rows .row:visible").first.click()
    panel = opened.page.locator("#cell-panel")
    assert panel.is_visible()
    assert panel.locator("h3").inner_text() == cell.id
    assert panel.locator("pre.traceback").text_content() == TRACEBACK
    assert panel.locator("pre.repro").inner_text() == f"python -m matrix repro {cell.id}"
    assert "load-error" in panel.locator("dl").inner_text()
    parts = panel.locator("section.part")
    assert parts.count() == 2
    assert "compile=False" in parts.nth(0).inner_text() and "close" in parts.nth(0).inner_text()
    assert "2.50e-7" in parts.nth(0).inner_text()
    assert "float16" in parts.nth(1).inner_text() and "no module in" in parts.nth(1).inner_text()
    assert opened.page.evaluate("location.hash") == "#cell=" + cell.id.replace("/", "%2F")


def test_a_hostile_message_is_text_and_never_runs(opened: Opened) -> None:
    opened.page.fill("#search", "onerror")
    opened.page.locator("#rows .row:visible").first.click()
    panel = opened.page.locator("#cell-panel")
    assert ATTACK in panel.inner_text()
    assert ATTACK in opened.page.locator("#rows .row:visible span:nth-child(8)").inner_text()
    assert opened.page.evaluate("window.pwned") is None
    assert opened.page.locator("img[src='x'], #cell-panel script, #rows script").count() == 0
    # The page's own three: the config, the packed document, the explorer.
    assert opened.page.locator("script").count() == 3
    assert opened.dialogs == [] and opened.errors == []


def test_it_works_from_file_with_the_network_blocked(opened: Opened) -> None:
    assert opened.page.evaluate("location.protocol") == "file:"
    assert opened.page.get_attribute("html", "data-compat") == "ready"
    assert opened.blocked == [] and opened.errors == []
    # The report is there, and its contents lead to its sections.
    targets = opened.page.eval_on_selector_all(
        "nav.contents a", "(links) => links.map((a) => !!document.getElementById(a.hash.slice(1)))"
    )
    assert len(targets) > 3 and all(targets)
    assert opened.page.locator(".heat-map svg rect").count() > 0


def test_a_model_across_all_envs(opened: Opened, doc: Document) -> None:
    assert not opened.page.locator("#model-view").is_visible()
    opened.page.select_option("#filter-model", label=f"mlp · {len(doc.cells)}")
    grid = opened.page.locator("#model-grid")
    assert opened.page.locator("#model-view").is_visible()
    squares = grid.locator("button[data-producer]")
    pairs = {(c.producer, c.consumer) for c in doc.cells}
    assert squares.count() == len(pairs)
    square = squares.first
    producer = square.get_attribute("data-producer")
    consumer = square.get_attribute("data-consumer")
    square.click()
    assert opened.count() == sum(
        (c.producer, c.consumer) == (producer, consumer) for c in doc.cells
    )
    assert grid.locator("button[aria-pressed='true']").count() == 1


def test_a_cell_opens_from_its_link(browser: Browser, doc: Document, tmp_path: Path) -> None:
    path = write_page(doc, tmp_path)
    cell = doc.cells[-1]
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{path.as_uri()}#cell={cell.id}")
    page.evaluate("window.compatReady")
    assert page.locator("#cell-panel h3").inner_text() == cell.id
    context.close()


def test_a_repro_command_in_the_report_opens_its_cell(opened: Opened) -> None:
    link = opened.page.locator("main a[href^='#cell=']").first
    command = link.inner_text()
    link.click()
    panel = opened.page.locator("#cell-panel")
    assert panel.is_visible()
    assert panel.locator("pre.repro").inner_text() == command


def test_a_large_heat_map_shows_as_an_image(
    browser: Browser, doc: Document, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(html_svg, "INLINE_LIMIT", 100)
    opened = Opened(browser, write_page(doc, tmp_path))
    image = opened.page.locator("img.heat-map")
    image.evaluate("(img) => img.decode()")
    assert (image.get_attribute("src") or "").startswith("blob:")
    assert image.evaluate("(img) => img.naturalWidth") > 100
    assert opened.blocked == [] and opened.errors == []
    opened.context.close()


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "Chromium is installed by .ci/run (apt-get install chromium)"
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def test_chromium_paints_a_screenshot(doc: Document, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    page = write_page(doc, tmp_path)
    done = chromium(f"--screenshot={shot}", "--window-size=1200,900", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000


def test_the_svg_heat_map_renders(stored: tuple[Plan, Layout], tmp_path: Path) -> None:  # noqa: F811
    from matrix.report import svg

    plan, layout = stored
    picture = tmp_path / "compat.svg"
    picture.write_text(svg.render(document.build(plan, layout, Settings())), "utf-8")
    shot = tmp_path / "svg.png"
    done = chromium(f"--screenshot={shot}", "--window-size=700,600", picture.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG")


def test_a_document_with_no_cells_opens(browser: Browser, doc: Document, tmp_path: Path) -> None:
    empty = doc.with_(cells=(), summary={}, self_check={})
    opened = Opened(browser, write_page(empty, tmp_path))
    assert opened.count() == 0 and opened.errors == []
    assert opened.page.inner_text("#count") == "0 of 0 cells"
    opened.context.close()
