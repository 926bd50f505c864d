"""compat.html in a real headless Chromium: it renders, and shows the cells."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from matrix.config import Settings
from matrix.paths import Layout
from matrix.plan import Plan
from matrix.report import document
from matrix.report import html as html_report
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
    assert re.search(r'<td style="background:hsl\(\d+,65%,78%\)"[^>]*>✅1</td>', dom)
    assert "Failing cells" in dom and "boom | &lt;script&gt;" in dom
    assert "<script>" not in dom


def test_chromium_paints_a_screenshot(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    done = chromium(f"--screenshot={shot}", "--window-size=1200,900", page.as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 10_000
