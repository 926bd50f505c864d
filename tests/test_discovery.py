"""Release discovery against a package index served here (PEP 691 JSON and
PEP 503 HTML pages, as PyPI and a devpi or Artifactory mirror serve them):
untabled releases planned and marked, patch moves rebuilt, yanked and
wheel-less releases and an unreachable index each a clear line."""

from __future__ import annotations

import datetime
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from matrix import axes, discovery, files
from matrix.envs import provision
from matrix.selection.env import Env
from matrix.settings import Settings
from tests.conftest import ROOT, plan_for


def _wheel(name: str, version: str, python: str = "cp311", yanked: bool = False) -> dict[str, Any]:
    tag = f"{python}-{python}-manylinux_2_27_x86_64" if python.startswith("cp") else "py3-none-any"
    return {"filename": f"{name.replace('-', '_')}-{version}-{tag}.whl", "yanked": yanked}


PAGES: dict[str, Any] = {
    "tensorflow": [_wheel("tensorflow", v) for v in ("2.20.0", "2.21.0", "2.22.0rc0")]
    + [_wheel("tensorflow", "2.21.1", yanked=True)],
    "tensorflow-cpu": [_wheel("tensorflow-cpu", v) for v in ("2.21.0", "2.21.2", "2.22.0rc0")],
    "tf-keras": [_wheel("tf-keras", "2.21.0", "py3")],
    "keras": [_wheel("keras", v, "py3") for v in ("3.15.1", "3.16.0rc1")],
    # Only a Python the tool never runs: a line in the report, not an env.
    "ai-edge-litert": [_wheel("ai-edge-litert", v) for v in ("2.3.0",)]
    + [_wheel("ai-edge-litert", "2.4.0", "cp399")],
    # tflite-runtime as an HTML page (PEP 503), with a yanked anchor.
    "tflite-runtime": (
        '<html><body><a href="x">tflite_runtime-2.14.0-cp311-cp311-manylinux2014_x86_64.whl</a>'
        '<a href="y" data-yanked="">tflite_runtime-2.15.0-cp311-cp311-manylinux2014_x86_64.whl</a>'
        "</body></html>"
    ),
}


class _Index(http.server.BaseHTTPRequestHandler):
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        name = self.path.strip("/").split("/")[-1]
        type(self).asked.append(name)
        page = PAGES.get(name)
        if page is None:
            self.send_error(404)
            return
        if isinstance(page, str):
            body, kind = page.encode(), "text/html"
        else:
            body = json.dumps({"meta": {"api-version": "1.1"}, "files": page}).encode()
            kind = "application/vnd.pypi.simple.v1+json"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def index() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Index.asked = []
    yield f"http://127.0.0.1:{server.server_address[1]}/simple/"
    server.shutdown()


def test_untabled_releases_are_found_and_planned(index: str) -> None:
    found = discovery.discover(index)
    assert found.offline is None
    by_version = {u.version: u for u in found.untabled}
    assert set(by_version) == {"2.22.0rc0", "3.16.0rc1"}
    tf = by_version["2.22.0rc0"]
    # No tf-keras 2.22 on the index: its tf-keras flavour is not planned.
    assert (tf.based_on, tf.flavours, tf.pythons) == ("2.21", ("keras3",), ("3.11",))
    assert by_version["3.16.0rc1"].based_on == "keras3.15"
    assert found.newest["2.21"] == {"tensorflow": "2.21.0", "tensorflow-cpu": "2.21.2",
                                    "tf-keras": "2.21.0"}  # fmt: skip
    assert found.newest["tflite-runtime2.14"] == {"tflite-runtime": "2.14.0"}  # HTML read
    problems = "\n".join(found.problems)
    assert "tensorflow 2.21.1 is yanked" in problems
    assert "tflite-runtime 2.15.0" not in problems  # yanked, of no tabled minor: not planned
    assert "ai-edge-litert 2.4.0 (untabled) has no Linux wheel" in problems
    discovery.adopt(found)
    plan = plan_for(Settings())
    ids = [p.id for p in plan.envs]
    assert "tf2.22-keras3-py3.11-cpu" in ids  # the newest candidate joins the default matrix
    assert "keras3.16-tensorflow-py3.11-cpu" in ids
    env = Env.parse("tf2.22-keras3-py3.11-cpu")
    assert env.requirements()[0] == "tensorflow-cpu==2.22.0rc0"
    from matrix.report.view import release_label

    assert release_label(env) == "TF 2.22.0rc0 (Keras 3, untabled)"
    full = {p.id for p in plan_for(Settings(preset="full")).envs}
    assert {"tf2.22-keras3-py3.11-cpu", "keras3.16-jax-py3.11-cpu"} <= full
    assert axes.KERAS3_JUMP == ("2.15", "2.21")  # the answer's jump stays on tabled releases


def test_the_table_is_what_it_was_without_an_index() -> None:
    before = [p.id for p in plan_for(Settings()).envs]
    found = discovery.discover("http://127.0.0.1:9/simple/", timeout=2)
    assert found.offline and "did not answer for tensorflow" in found.offline
    discovery.adopt(found)
    assert [p.id for p in plan_for(Settings()).envs] == before
    assert "the release table alone" in discovery.describe(found)


def test_a_cached_answer_is_reused_and_an_old_one_asked_again(index: str, tmp_path: Path) -> None:
    kept = tmp_path / "releases.json"
    first = discovery.cached(kept, index)
    asked = len(_Index.asked)
    assert asked == len(discovery.PACKAGES) + 2
    files.write_json(kept, first.to_dict())  # what a run keeps in its output folder
    assert discovery.cached(kept, index).when == first.when
    assert len(_Index.asked) == asked  # not asked again
    later = datetime.datetime.now(datetime.timezone.utc) + discovery.MAX_AGE * 2
    discovery.cached(kept, index, now=later)
    assert len(_Index.asked) == 2 * asked


def test_a_patch_that_moved_rebuilds_the_env_once() -> None:
    freeze = ["tensorflow-cpu==2.21.0", "keras==3.15.1"]
    newest = {"tensorflow-cpu": "2.21.2", "tf-keras": "2.21.0"}
    reason = provision._patch_moved(newest, freeze, None)
    assert reason == "the index has a newer patch: tensorflow-cpu 2.21.0 -> 2.21.2"
    assert provision._patch_moved({"tensorflow-cpu": "2.21.0"}, freeze, None) is None
    # Built knowing these patches (the resolver kept 2.21.0): it stands.
    assert provision._patch_moved(newest, freeze, dict(newest)) is None


def test_plan_names_the_untabled_release(index: str, tmp_path: Path) -> None:
    env = {**os.environ, "UV_DEFAULT_INDEX": index, "COMPAT_MATRIX_RELEASES": "index"}
    done = subprocess.run(
        [sys.executable, "-m", "matrix", "plan", "--preset", "full", "--output", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if "tf2.22-keras3-py3.11-cpu" in x)
    assert "untabled: 2.22.0rc0" in line
    kept = json.loads((tmp_path / "releases.json").read_text(encoding="utf-8"))
    assert kept["index"] == index and kept["offline"] is None
    listing = subprocess.run(
        [sys.executable, "-m", "matrix", "releases", "--index", index],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    assert "untabled release candidate: tensorflow 2.22.0rc0" in listing.stdout
    assert "problem: tensorflow 2.21.1 is yanked" in listing.stdout
