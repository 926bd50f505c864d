"""compat.html in a real headless Chromium: it renders, and shows the cells."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from matrix.paths import Layout
from matrix.report import html as html_report
from matrix.results import document
from matrix.selection.plan import Plan
from matrix.settings import Settings
from tests.test_document import stored  # noqa: F401 - the fixture

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI installs Chromium and requires this check; elsewhere it runs when found.
pytestmark = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("COMPAT_MATRIX_REQUIRE_BROWSER"),
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


@pytest.fixture
def page(stored: tuple[Plan, Layout], tmp_path: Path) -> Path:  # noqa: F811
    plan, layout = stored
    path = tmp_path / "compat.html"
    path.write_text(html_report.render(document.build(plan, layout, Settings())), "utf-8")
    return path


def test_chromium_renders_the_heat_maps_and_details(page: Path) -> None:
    done = chromium("--dump-dom", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "<h1>TensorFlow/Keras compatibility matrix</h1>" in dom
    tables = re.findall(r'<table class="heat" data-format="([^"]+)" data-loader="([^"]+)"', dom)
    assert ("h5", "keras") in tables and ("savedmodel", "saved-model") in tables
    # A square: its colour, its letters, a link to its cells.
    assert re.search(
        r'<td style="background:#[0-9a-f]{6};color:#[0f]{3}"[^>]*><a href="#sq-[^"]+">I1</a></td>',
        dom,
    )
    assert "Failing cells, by cause" in dom and "boom | &lt;script&gt;" in dom
    assert "<script>" not in dom


def test_statuses_need_no_emoji_font(page: Path) -> None:
    """Debian's Chromium as installed has no emoji font: every status is a word
    or a letter, and nothing on the page comes from an emoji block."""
    text = page.read_text(encoding="utf-8")
    emoji = [c for c in text if 0x1F000 <= ord(c) <= 0x1FAFF or 0x2600 <= ord(c) <= 0x27BF]
    assert emoji == []
    assert '<span class="badge pass">identical</span>' in text


def test_chromium_paints_a_screenshot(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    done = chromium(f"--screenshot={shot}", "--window-size=1200,900", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000


def test_heat_map_squares_link_to_their_cells(page: Path) -> None:
    done = chromium("--dump-dom", page.as_uri())
    links = set(re.findall(r'<a href="#(sq-[^"]+)"', done.stdout))
    targets = set(re.findall(r'<details id="(sq-[^"]+)"', done.stdout))
    assert links and {link for link in links if "crash" in done.stdout} <= links
    failing = [link for link in links if link in targets]
    assert failing, "squares with failures link to their details"


def test_the_svg_heat_map_renders(stored: tuple[Plan, Layout], tmp_path: Path) -> None:  # noqa: F811
    from matrix.report import svg

    plan, layout = stored
    picture = tmp_path / "compat.svg"
    picture.write_text(svg.render(document.build(plan, layout, Settings())), "utf-8")
    shot = tmp_path / "svg.png"
    done = chromium(f"--screenshot={shot}", "--window-size=700,600", picture.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes().startswith(b"\x89PNG")
