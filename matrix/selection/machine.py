"""Facts about this machine: installed Python interpreters, visible GPUs.

Users should not have to activate pyenv versions or set PYENV_VERSION: this
looks at PATH, pyenv's versions folder and uv-managed Pythons directly, and
asks each candidate for its version (shims are skipped: an inactive pyenv
version's shim answers "command not found").
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

_ASK = "import sys; print('%d.%d' % sys.version_info[:2])"


def discover() -> dict[str, Path]:
    """Map "3.X" to one working interpreter; the running host's Python first."""
    found: dict[str, Path] = {host_version(): _host_base_python()}
    for candidate in _candidates():
        version = _version_of(candidate)
        if version and version not in found:
            found[version] = candidate
    return found


def host_version() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def _host_base_python() -> Path:
    """The host's interpreter outside any virtualenv (nox runs us in one), so
    env specs do not point into a venv that may be rebuilt."""
    base = Path(sys.base_prefix) / "bin" / f"python{host_version()}"
    return base if base.exists() else Path(sys.executable)


def _candidates() -> list[Path]:
    seen: set[Path] = set()
    ordered: list[Path] = []
    for path in [*_pyenv_versions(), *_uv_managed(), *_on_path()]:
        real = path.resolve()
        if real not in seen and os.access(path, os.X_OK):
            seen.add(real)
            ordered.append(path)
    return ordered


def _on_path() -> list[Path]:
    paths = []
    for minor in range(6, 15):
        hit = shutil.which(f"python3.{minor}")
        if hit and "shims" not in Path(hit).parts:
            paths.append(Path(hit))
    return paths


def _pyenv_versions() -> list[Path]:
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    return _bins_under(root, "*")


def _uv_managed() -> list[Path]:
    data = os.environ.get("XDG_DATA_HOME", str(Path.home() / ".local" / "share"))
    root = Path(os.environ.get("UV_PYTHON_INSTALL_DIR", Path(data) / "uv" / "python"))
    return _bins_under(root, "cpython-*")


def _bins_under(root: Path, pattern: str) -> list[Path]:
    if not root.is_dir():
        return []
    bins = []
    # Newest patch first, so the newest install of a minor wins.
    for folder in sorted(root.glob(pattern), reverse=True):
        for name in sorted(folder.glob("bin/python3.*")):
            if name.name.count(".") == 1 and name.name[len("python3.") :].isdigit():
                bins.append(name)
    return bins


def _version_of(python: Path) -> str | None:
    try:
        out = subprocess.run(
            [str(python), "-c", _ASK],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = out.stdout.strip()
    return text if out.returncode == 0 and text.startswith("3.") else None


_UV_LOCK = threading.Lock()


def uv_binary() -> str | None:
    """The uv binary the host package depends on (or one on PATH); None: none.

    Found once, under a lock: envs are provisioned from threads, and uv's
    finder reads `sysconfig`, whose first read is not thread-safe on Python
    3.11 (python/cpython#92452): a thread racing the first one is told the
    executable suffix is None, and building two new envs at once failed
    with "can only concatenate str (not 'NoneType') to str"."""
    with _UV_LOCK:
        return _find_uv()


@functools.cache
def _find_uv() -> str | None:
    try:
        import uv

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def download_pythons(versions: list[str]) -> str | None:
    """Have uv install these Python minors (its managed Pythons, found by
    `discover` afterwards); None when it did, else what went wrong."""
    uv = uv_binary()
    if uv is None:
        return "uv is not installed"
    print(f"downloading Python {', '.join(versions)} with uv (--download-python)", flush=True)
    try:
        done = subprocess.run(
            [uv, "python", "install", *versions],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    if done.returncode == 0:
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1] if lines else f"uv exited with {done.returncode}"


def gpu_visible() -> bool:
    """Whether an NVIDIA GPU is visible, asked without importing TensorFlow."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout
