"""The settings every layer reads, and the error a bad one raises.

`Settings` is what a command works with (from `[tool.compat-matrix]` in
pyproject.toml and the command line, read by `matrix.selection.config`);
`ReportOptions` what it adds to a plain report. `ConfigError` names the key,
what was expected and what was received; the command line turns it into
exit code 2.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from matrix import axes
from matrix.status import Status


class ConfigError(ValueError):
    """A user's setting is wrong; the message says which and why."""


def suggest(value: object, choices: Iterable[str]) -> str:
    """A hint such as " Did you mean 'mlp'?" for a near miss (difflib) or the
    one choice that starts with what was typed; "" when nothing is close."""
    options = list(choices)
    started = [c for c in options if c.lower().startswith(str(value).lower())]
    found = started[:1] if len(started) == 1 else []
    found = found or difflib.get_close_matches(str(value), options, n=1, cutoff=0.6)
    return f" Did you mean {found[0]!r}?" if found else ""


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float


@dataclass(frozen=True)
class Timeouts:
    cell: float = 300.0  # one load + predict, or one build + train + save
    start: float = 600.0  # probe start-up, TensorFlow import included
    install: float = 1800.0  # creating and installing one env


@dataclass(frozen=True)
class Settings:
    preset: str = "default"
    tf: tuple[str, ...] = ()
    envs: tuple[str, ...] = ()
    models: tuple[str, ...] = axes.DEFAULT_MODELS
    formats: tuple[str, ...] = axes.FORMATS
    loaders: tuple[str, ...] = axes.LOADERS
    policies: tuple[str, ...] = axes.DEFAULT_POLICIES
    devices: tuple[str, ...] = ("cpu",)
    # Keras 3 minors to add as envs of their own ("3.3", "nightly", or "all"),
    # each on every backend of `backends` (TensorFlow's when none is given).
    keras: tuple[str, ...] = ()
    backends: tuple[str, ...] = ()
    # "host": the host's Python when TF has wheels for it, else the newest
    # installed one that has; "newest": always the newest installed one.
    python: str = "host"
    jobs: int = 0  # 0 = auto
    output: Path = Path("build/matrix")
    reports: Path = Path("reports")
    envdir: Path = Path(".nox")
    max_restarts: int = 5
    # Extra address space a CPU env's probe may map after importing TensorFlow,
    # so a model that allocates without bound fails alone; 0 = no cap.
    memory_mb: int = 8192
    # Extra requirements for the envs whose id matches a glob, e.g.
    # ("tf2.15-*", ("protobuf<4",)): the table's pins are not the last word.
    pins: tuple[tuple[str, tuple[str, ...]], ...] = ()
    fresh: bool = False
    onednn_off: bool = False  # add a TF_ENABLE_ONEDNN_OPTS=0 consumer per CPU env
    unsafe: bool = False  # load models that carry Python code (Lambda) everywhere
    # Let uv download a missing Python (`uv python install 3.X`) instead of
    # reporting the envs that need it as unavailable. Off by default: a run
    # should not fetch interpreters from the network unless the user says so.
    download_python: bool = False
    # Gold producers to replay (env ids in the gold store); None: the preset's.
    gold: tuple[str, ...] | None = None
    # Where the releases come from (matrix/discovery.py): "index" asks the
    # package index the installer is configured for (cached 12 h in the
    # output folder), "table" uses the release table alone, a path reads a
    # releases.json that `releases` wrote (a nightly's shards share one).
    # COMPAT_MATRIX_RELEASES sets the default.
    releases: str = field(default_factory=lambda: os.environ.get("COMPAT_MATRIX_RELEASES", "index"))
    timeouts: Timeouts = field(default_factory=Timeouts)
    tolerances: dict[str, Tolerance] = field(
        default_factory=lambda: {
            name: Tolerance(atol, rtol) for name, (atol, rtol) in axes.DEFAULT_TOLERANCES.items()
        }
    )

    def tolerance_for(self, policy: str, fmt: str) -> Tolerance:
        """A quantised format's own tolerance, else its policy's."""
        name = axes.FORMAT_TOLERANCE.get(fmt, policy)
        return self.tolerances.get(name) or self.tolerances["float32"]

    def effective_jobs(self) -> int:
        """`auto`: one probe per core, bounded by memory (about 2 GB each)."""
        if self.jobs > 0:
            return self.jobs
        cores = os.cpu_count() or 1
        try:
            memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        except (ValueError, OSError, AttributeError):
            memory_gb = 4.0
        return max(1, min(cores, int(memory_gb // 2)))


DEFAULT_FAIL_ON = tuple(s.value for s in Status if s.read_failure)


@dataclass(frozen=True)
class ReportOptions:
    """What a command adds to a plain report, checked up front."""

    baseline: Path | None = None  # a previous compat.json to compare with
    fail_on: tuple[str, ...] = DEFAULT_FAIL_ON
    upgrade: tuple[str, str] | None = None  # --from / --to
    history: bool = True
    step_summary: Path | None = None
