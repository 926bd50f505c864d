"""Live progress: per env, what is done, what is failing, and how long is left.

Every stage reports to one `Progress` (the sinks that receive probe events
call `cell_done`). On a terminal it is a live table (rich); elsewhere (CI
logs) one plain line per running env every `PLAIN_EVERY` seconds, so a
15-minute consumer is never 15 minutes of silence. The ETA comes from what
this run measured: the time per cell of the env so far.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from matrix.escape import terminal
from matrix.status import Status

PLAIN_EVERY = 30.0
FAILING = Status.values(lambda s: s.failing)


@dataclass
class _EnvProgress:
    stage: str
    total: int
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    failing: int = 0
    finished: bool = False

    def eta(self) -> float | None:
        if self.done == 0 or self.finished:
            return None
        per_cell = (time.monotonic() - self.started) / self.done
        return per_cell * (self.total - self.done)

    def line(self, env_id: str) -> str:
        eta = self.eta()
        left = f", about {_duration(eta)} left" if eta is not None else ""
        return (
            f"[{self.stage}] {env_id}: {self.done}/{self.total} "
            f"{'artifacts' if self.stage == 'produce' else 'cells'}, {self.failing} failing{left}"
        )


class Progress:
    """What every env is doing; thread-safe (stages run envs in parallel)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.envs: dict[str, _EnvProgress] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: Any = None

    # -- what the stages say ---------------------------------------------------

    def env_started(self, stage: str, env_id: str, total: int) -> None:
        with self._lock:
            self.envs[env_id] = _EnvProgress(stage, total)

    def cell_done(self, env_id: str, status: str) -> None:
        with self._lock:
            found = self.envs.get(env_id)
            if found is not None:
                found.done += 1
                found.failing += status in FAILING

    def env_finished(self, env_id: str) -> None:
        with self._lock:
            found = self.envs.get(env_id)
            if found is not None:
                found.finished = True

    # -- showing it ---------------------------------------------------------------

    def running(self) -> list[str]:
        with self._lock:
            return [p.line(e) for e, p in self.envs.items() if not p.finished and p.total]

    def __enter__(self) -> Progress:
        if self.stream.isatty():
            self._start_live()
        else:
            self._thread = threading.Thread(target=self._plain, name="progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._live is not None:
            self._live.stop()

    def _plain(self) -> None:
        while not self._stop.wait(PLAIN_EVERY):
            for line in self.running():
                print(terminal(line), file=self.stream, flush=True)

    def _start_live(self) -> None:
        from rich.console import Console
        from rich.live import Live

        progress = self

        class _View:
            def __rich__(self) -> Any:
                return progress._table()

        self._live = Live(_View(), console=Console(file=self.stream), refresh_per_second=2)
        self._live.start()

    def _table(self) -> Any:
        from rich.table import Table

        table = Table(box=None, show_header=True, header_style="bold")
        for column in ("stage", "env", "done", "failing", "left"):
            table.add_column(column)
        with self._lock:
            for env_id, found in self.envs.items():
                if found.finished or not found.total:
                    continue
                eta = found.eta()
                table.add_row(
                    found.stage,
                    terminal(env_id),
                    f"{found.done}/{found.total}",
                    str(found.failing),
                    _duration(eta) if eta is not None else "…",
                )
        return table


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    whole = round(seconds)  # rounded first: 659.6 s is 11 min 00 s, not 10 min 60 s
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


_CURRENT = Progress(stream=None)


def current() -> Progress:
    """The run's progress (a quiet one when no command set it up)."""
    return _CURRENT


def use(progress: Progress) -> None:
    global _CURRENT  # noqa: PLW0603 - one run, one progress; sinks reach it from any thread
    _CURRENT = progress
