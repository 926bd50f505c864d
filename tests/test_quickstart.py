"""The README's two commands, and the tool installed as a wheel.

Line 1 of the quick start runs on a Python that refuses `pip install`
(PEP 668, Debian's /usr/bin/python3) from a fresh copy of the checkout; the
wheel runs the matrix, then the upgrade question for a user's model, from
an empty folder. Both build or reuse real TensorFlow envs.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from matrix.report import jsonfile
from tests.conftest import ROOT, assert_valid_report

SYSTEM_PYTHON = Path("/usr/bin/python3")
K2 = "tf2.15-keras2-py3.11-cpu"
K3 = "tf2.21-keras3-py3.11-cpu"


def quick_start() -> list[str]:
    """The command lines of the README's quick start, comments dropped."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the quick start has no ```sh block"
    return [line.split("#", 1)[0].strip() for line in block.group(1).strip().splitlines()]


def test_the_quick_start_is_two_lines_and_ci_runs_the_second() -> None:
    lines = quick_start()
    assert len(lines) == 2
    assert "nox -s matrix" in lines[0]
    assert "nox -s tests" in lines[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in ci.splitlines() if not line.lstrip().startswith("#")]
    assert lines[1] in commands


def _refuses_pip_install(python: Path) -> bool:
    if not python.exists():
        return False
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--dry-run", "--no-deps", "nox"],
        capture_output=True,
        text=True,
        check=False,
    )
    if "externally-managed-environment" in done.stdout + done.stderr:
        return True
    stdlib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return bool(stdlib) and (Path(stdlib) / "EXTERNALLY-MANAGED").exists()


def _checkout_copy(target: Path) -> Path:
    """The files a fresh clone has (tracked and new, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


@pytest.mark.tf
def test_readme_line_1_runs_the_matrix_where_pip_install_is_refused(tmp_path: Path) -> None:
    if not _refuses_pip_install(SYSTEM_PYTHON):
        pytest.skip(f"{SYSTEM_PYTHON} is not an externally managed (PEP 668) Python here")
    line = shlex.split(quick_start()[0])
    assert line[0] == "python3", "the quick start must start with the system's python3"
    checkout = _checkout_copy(tmp_path / "checkout")
    # README line 1 as written, run by the system Python, on a small slice
    # so the test stays minutes (the default matrix is ~15 of them).
    selection = ["--envs", "tf2.21-keras3-*", "--models", "mlp", "--policies", "float32"]
    selection += ["--formats", "keras", "--loaders", "keras", "--envdir", str(tmp_path / "envs")]
    done = subprocess.run(
        [str(SYSTEM_PYTHON), *line[1:], "--", *selection],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "NOX"))},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (checkout / ".nox-bootstrap" / "bin" / "nox").exists()
    report = checkout / "reports" / "compat.json"
    assert_valid_report(report)
    doc = jsonfile.loads(report.read_text(encoding="utf-8"))
    assert [c["status"] for c in doc["cells"]] == ["identical"]
    assert "self-check: every env reads what it wrote" in done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with tf-compat-matrix installed from its wheel (not editable)."""
    tmp = tmp_path_factory.mktemp("wheel")
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    subprocess.run(
        [uv, "build", "--wheel", "--out-dir", str(tmp / "dist"), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp / "dist").glob("tf_compat_matrix-*.whl")
    base = Path(sys.base_prefix) / "bin" / f"python{sysconfig.get_python_version()}"
    subprocess.run([uv, "venv", "--python", str(base), str(tmp / "venv")], check=True)
    python = tmp / "venv" / "bin" / "python"
    subprocess.run([uv, "pip", "install", "--python", str(python), str(wheel)], check=True)
    return tmp / "venv" / "bin" / "tf-compat-matrix"


def _run_in(folder: Path, command: list[str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, cwd=folder, capture_output=True, text=True, timeout=2400, check=False
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.mark.tf
def test_the_wheel_runs_from_an_empty_folder_and_answers_for_a_users_model(
    installed: Path, tmp_path: Path
) -> None:
    work = tmp_path / "my-project"
    work.mkdir()
    envdir = ["--envdir", str(ROOT / ".nox")]
    slice_ = ["--models", "mlp", "--policies", "float32", "--loaders", "keras"]
    # The probes ship in the wheel: the installed tool runs the matrix from
    # a folder that holds nothing of it, and writes there.
    _run_in(work, [str(installed), "run", "--envs", K3, *slice_, "--formats", "keras", *envdir])
    assert (work / "build" / "matrix" / "plan.json").is_file()
    saved = work / "build" / "matrix" / "artifacts" / K3 / "mlp-float32.keras"
    assert saved.is_file()
    assert_valid_report(work / "reports" / "compat.json")
    # The user's question, in the words of the README.
    shutil.copy(saved, work / "my_model.keras")
    done = _run_in(
        work,
        [
            str(installed),
            "run",
            "--from",
            "2.15",
            "--to",
            "2.21",
            "--user-model",
            "my_model.keras",
            *slice_,
            "--formats",
            "keras",
            "h5",
            *envdir,
        ],
    )
    assert "upgrade TF 2.15 -> 2.21" in done.stdout
    markdown = (work / "reports" / "compat.md").read_text(encoding="utf-8")
    first_section = markdown.split("\n## ", 2)[1]
    assert first_section.startswith("Upgrade advice: TF 2.15 → 2.21")
    doc = jsonfile.loads((work / "reports" / "compat.json").read_text(encoding="utf-8"))
    mine = [c for c in doc["cells"] if c["producer"].startswith("user:")]
    assert {c["producer"] for c in mine} == {"user:my_model"}
    assert {c["consumer"] for c in mine} == {
        K2,
        K3,
        "tf2.21-tf-keras-py3.11-cpu",
    }
    # A Keras 3 .keras file: Keras 3 reads it back, Keras 2.15 cannot.
    assert {c["status"] for c in mine if c["consumer"] == K3} == {"identical"}
    assert {c["status"] for c in mine if c["consumer"] == K2} == {"load-error"}
