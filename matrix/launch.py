"""Launch: run one probe process over many tasks, surviving whatever it does.

A probe gets its tasks in a file and streams events (one JSON line each) on
a pipe. The host watches the clock: start-up (TensorFlow import) has one
limit, each task another. A probe that dies or hangs costs exactly the task
it was on (`crash` / `timeout`), and a fresh probe continues with the rest,
within a restart budget. Cut or malformed event lines are never trusted.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from matrix import files
from matrix.files import JsonObject


class Task(Protocol):
    """What a probe is asked to do: an id its events name, and its JSON."""

    @property
    def id(self) -> str: ...

    def to_dict(self) -> JsonObject: ...


_POLL_SECONDS = 0.5
_TERM_GRACE_SECONDS = 5.0
_EXCERPT_LINES = 30
# The longest event line read; probes cut their own events well below it
# (`_probe.EVENT_LIMIT`), so a longer line is hostile or broken: dropped unread.
MAX_EVENT_BYTES = 1 << 20
# What a probe inherits from the host's environment; everything else (tokens,
# credentials, the host's PYTHONPATH) stays behind.
_INHERITED = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "LD_LIBRARY_PATH", "SYSTEMROOT")


@dataclass(frozen=True)
class ProbeCommand:
    python: Path
    script: Path
    environment: Mapping[str, str]
    log: Path
    workdir: Path  # the probe's working directory, HOME and TMPDIR; task files go here
    start_timeout: float
    task_timeout: float
    max_restarts: int
    schema_version: int | None = None  # what the hello must say; None: not checked
    ready: str = "loaded TensorFlow"  # what its hello means, for messages


class Interrupted(BaseException):
    """The run was stopped (Ctrl-C, SIGTERM). A probe killed for it has
    failed nothing: no outcome of it is recorded, so the cell it was on runs
    again next time. A BaseException, like KeyboardInterrupt, so that no
    per-env `except Exception` turns it into an env error."""


# Probes run in sessions of their own (a timeout kills a whole group), so a
# Ctrl-C reaches only the host: `stop_all` ends them, or each env's stage
# would run to its end first.
_STOPPING = threading.Event()
_LIVE: set[subprocess.Popen[bytes]] = set()
_LIVE_LOCK = threading.Lock()


def stop_all() -> None:
    """Stop every running probe and start no other (the run was interrupted)."""
    _STOPPING.set()
    with _LIVE_LOCK:
        live = list(_LIVE)
    for process in live:
        _signal_group(process.pid, signal.SIGTERM)


def _check_stopping() -> None:
    if _STOPPING.is_set():
        raise Interrupted


@dataclass(frozen=True)
class Fault:
    task: str
    status: str  # "crash" or "timeout"
    reason: str
    attempted: bool = True  # False: never tried (the env gave out first)


class Sink:
    """What a phase does with a probe's events; override what you need."""

    def hello(self, env: JsonObject) -> None:
        pass

    def event(self, event: JsonObject) -> None:
        pass

    def fault(self, fault: Fault) -> None:
        pass


@dataclass
class LaunchResult:
    hello: JsonObject | None = None
    env_error: str | None = None  # the probe never got TensorFlow up
    restarts: int = 0
    faults: list[Fault] = field(default_factory=list)
    # Seconds from starting each probe process to its hello: what a restart costs.
    startups: list[float] = field(default_factory=list)


def run_probe(command: ProbeCommand, tasks: Sequence[Task], sink: Sink) -> LaunchResult:
    """Run `tasks` through the probe until each is done or faulted."""
    result = LaunchResult()
    remaining = {task.id: task.to_dict() for task in tasks}
    attempt = 0
    while remaining:
        outcome = _attempt(command, list(remaining.values()), sink, attempt)
        if outcome.startup_seconds is not None:
            result.startups.append(outcome.startup_seconds)
        for task_id in outcome.done:
            remaining.pop(task_id, None)
        if outcome.hello is not None and result.hello is None:
            result.hello = outcome.hello
        if outcome.fault is not None:
            remaining.pop(outcome.fault.task, None)
            _record(result, sink, outcome.fault)
        if outcome.hello is None:
            reason = outcome.startup_failure or f"the probe stopped before it {command.ready}"
            if attempt == 0:
                result.env_error = reason
            else:
                _fault_all(result, sink, remaining, "crash", f"probe restart failed: {reason}")
            return result
        if not remaining:
            break
        if not outcome.done and outcome.fault is None:
            _fault_all(
                result,
                sink,
                remaining,
                "crash",
                f"the probe {outcome.exit_text} without reporting this cell",
            )
            break
        attempt += 1
        result.restarts = attempt
        if attempt > command.max_restarts:
            _fault_all(
                result,
                sink,
                remaining,
                "crash",
                f"not run: the restart budget ({command.max_restarts}) was used up "
                f"by earlier crashes or timeouts in this env",
            )
            break
    return result


def _record(result: LaunchResult, sink: Sink, fault: Fault) -> None:
    result.faults.append(fault)
    sink.fault(fault)


def _fault_all(
    result: LaunchResult, sink: Sink, remaining: JsonObject, status: str, reason: str
) -> None:
    for task_id in list(remaining):
        _record(result, sink, Fault(task_id, status, reason, attempted=False))
    remaining.clear()


@dataclass
class _Attempt:
    hello: JsonObject | None = None
    startup_seconds: float | None = None
    done: list[str] = field(default_factory=list)
    fault: Fault | None = None
    exit_text: str = ""
    startup_failure: str | None = None


def _attempt(command: ProbeCommand, tasks: list[JsonObject], sink: Sink, number: int) -> _Attempt:
    _check_stopping()
    # Unique per process, thread and attempt: several stages share a workdir.
    tasks_file = command.workdir / f"tasks-{os.getpid()}-{threading.get_ident()}-{number}.json"
    files.write_json(tasks_file, {"tasks": tasks})
    command.log.parent.mkdir(parents=True, exist_ok=True)
    read_fd, write_fd = os.pipe()
    with command.log.open("ab") as log:
        log.write(f"[compat-matrix] attempt {number}: {len(tasks)} task(s)\n".encode())
        log.flush()
        try:
            process = subprocess.Popen(
                [
                    str(command.python),
                    str(command.script),
                    "--tasks",
                    str(tasks_file),
                    "--events-fd",
                    str(write_fd),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
                env=environment(command.environment, command.workdir),
                cwd=str(command.workdir),
                start_new_session=True,
            )
        except OSError as exc:
            os.close(read_fd)
            os.close(write_fd)
            return _Attempt(startup_failure=f"cannot start {command.python}: {exc}")
        os.close(write_fd)
        with _LIVE_LOCK:
            _LIVE.add(process)
        try:
            _check_stopping()
            outcome = _watch(command, process, read_fd, sink)
        finally:
            os.close(read_fd)
            _kill_group(process)
            with _LIVE_LOCK:
                _LIVE.discard(process)
    if outcome.hello is None and outcome.startup_failure is None:
        outcome.startup_failure = (
            f"the probe {outcome.exit_text} before it {command.ready}:\n" + _tail(command.log)
        )
    tasks_file.unlink(missing_ok=True)
    return outcome


def _watch(
    command: ProbeCommand, process: subprocess.Popen[bytes], read_fd: int, sink: Sink
) -> _Attempt:
    outcome = _Attempt()
    current: str | None = None
    started = time.monotonic()
    deadline = _Deadline(command.start_timeout)
    for line in _lines(read_fd, process, deadline):
        _check_stopping()
        if line is None:  # the deadline passed
            _kill_group(process)
            if outcome.hello is None:
                outcome.startup_failure = (
                    f"the probe had not {command.ready} within "
                    f"{command.start_timeout:.0f} s (start-up limit)"
                )
            elif current is not None:
                outcome.fault = Fault(
                    current,
                    "timeout",
                    f"the cell passed its {command.task_timeout:.0f} s limit; the probe was killed",
                )
            outcome.exit_text = "was killed after a timeout"
            return outcome
        event = _parse(line)
        if event is None:
            continue
        kind = event.get("event")
        deadline.reset(command.task_timeout)
        if kind == "hello":
            said = event.get("schema_version")
            if command.schema_version is not None and said != command.schema_version:
                _kill_group(process)
                outcome.startup_failure = (
                    f"the probe speaks schema version {said!r}; this host expects "
                    f"{command.schema_version} (probes and host are from different versions)"
                )
                outcome.exit_text = "was stopped"
                return outcome
            outcome.startup_seconds = round(time.monotonic() - started, 3)
            outcome.hello = event.get("env") or {}
            sink.hello(outcome.hello)
        elif kind == "start":
            current = str(event.get("task"))
        elif kind == "done":
            sink.event(event)
            outcome.done.append(str(event.get("task")))
            current = None
        elif kind != "bye":
            sink.event(event)
    _check_stopping()  # killed by stop_all: no crash to record
    code = process.wait()
    outcome.exit_text = describe_exit(code)
    if current is not None:
        outcome.fault = Fault(current, "crash", f"the probe {outcome.exit_text} on this cell")
    return outcome


class _Deadline:
    """A limit that each event from the probe pushes forward."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def reset(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        return self.at - time.monotonic()


def _lines(
    read_fd: int, process: subprocess.Popen[bytes], deadline: _Deadline
) -> Iterator[bytes | None]:
    """Yield complete lines from the pipe; None once the deadline passes.

    Ends at end-of-file, or when the process has exited and the pipe is
    drained (a grandchild holding the pipe open cannot stall the host).
    """
    selector = selectors.DefaultSelector()
    selector.register(read_fd, selectors.EVENT_READ)
    reader = _LineReader(MAX_EVENT_BYTES)
    try:
        while not _STOPPING.is_set():
            left = deadline.left()
            if left <= 0:
                yield None
                return
            ready = selector.select(min(left, _POLL_SECONDS))
            if not ready:
                if process.poll() is not None:
                    return
                continue
            chunk = os.read(read_fd, 65536)
            if not chunk:
                return  # end of file; a cut last line stays in the reader, unused
            yield from reader.feed(chunk)
    finally:
        selector.close()


class _LineReader:
    """Split a byte stream into lines in time linear in its length.

    Each chunk is scanned once for newlines; a line longer than `limit` is
    dropped as it streams in (never accumulated), and the next line starts
    clean after its newline."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0
        self.skipping = False

    def feed(self, chunk: bytes) -> Iterator[bytes]:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                self._keep(chunk[start:])
                return
            self._keep(chunk[start:end])
            if not self.skipping:
                yield b"".join(self.parts)
            self.parts, self.size, self.skipping = [], 0, False
            start = end + 1

    def _keep(self, piece: bytes) -> None:
        if self.skipping or not piece:
            return
        self.size += len(piece)
        if self.size > self.limit:
            self.parts, self.skipping = [], True
        else:
            self.parts.append(piece)


def _parse(line: bytes) -> JsonObject | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        hint = (
            " (CPU lacks an instruction TensorFlow needs, e.g. AVX?)" if name == "SIGILL" else hint
        )
        return f"was killed by {name}{hint}"
    if code == 0:
        return "exited normally"
    return f"exited with code {code}"


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """TERM the probe's whole process group, then KILL what is left."""
    if process.poll() is None:
        _signal_group(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_TERM_GRACE_SECONDS)
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def environment(extra: Mapping[str, str], workdir: Path) -> dict[str, str]:
    """A probe's whole environment: a few inherited basics, a home and temp
    folder of its own inside the output folder, and what the phase adds.
    Nothing else crosses over: no tokens, no credentials, no host PYTHONPATH."""
    env = {key: os.environ[key] for key in _INHERITED if key in os.environ}
    env.update(
        HOME=str(workdir),
        TMPDIR=str(workdir),
        KERAS_HOME=str(workdir / ".keras"),
        PYTHONNOUSERSITE="1",
        PYTHONDONTWRITEBYTECODE="1",
        TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
    )
    env.update(extra)
    return env


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-_EXCERPT_LINES:])
