"""The probe launcher against real processes that crash, hang and lie.

The stand-in probe speaks the same event protocol as probes/*.py without
TensorFlow, so each fault is a real signal, a real hang, a real cut line.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from matrix import launch
from matrix.launch import (
    MAX_EVENT_BYTES,
    Fault,
    ProbeCommand,
    Sink,
    _LineReader,
    describe_exit,
    run_probe,
)

FAKE_PROBE = textwrap.dedent(
    """
    import argparse, json, os, signal, sys, time
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks"); parser.add_argument("--events-fd", type=int)
    args = parser.parse_args()
    events = os.fdopen(args.events_fd, "w")
    def emit(**fields):
        events.write(json.dumps(fields) + "\\n"); events.flush()
    if os.environ.get("FAKE_IMPORT") == "fail":
        sys.stderr.write("ImportError: numpy.core.multiarray failed to import\\n")
        sys.exit(1)
    if os.environ.get("FAKE_IMPORT") == "hang":
        time.sleep(60)
    emit(event="hello", env={"tensorflow": "fake"})
    for task in json.load(open(args.tasks))["tasks"]:
        emit(event="start", task=task["id"])
        how = task["how"]
        if how == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif how == "hang":
            time.sleep(60)
        elif how == "exit":
            os._exit(7)
        elif how == "garbage":
            events.write("{not json\\n"); events.write('{"event": "done", "ta'); events.flush()
            os._exit(0)
        elif how == "child-hang":
            if os.fork() == 0:
                time.sleep(60)
            os._exit(1)
        elif how == "huge":
            # one event line of 64 MiB, the shape of a 1 GiB config echoed back
            events.write('{"event": "done", "task": "' + task["id"] + '", "x": "')
            block = "x" * (1 << 20)
            for _ in range(64):
                events.write(block)
            events.write('"}\\n'); events.flush()
            continue
        elif how == "environ":
            emit(event="done", task=task["id"], env=dict(os.environ), cwd=os.getcwd())
            continue
        emit(event="done", task=task["id"], status="predicted")
    emit(event="bye")
    """
)


class Recorder(Sink):
    def __init__(self) -> None:
        self.done: list[str] = []
        self.faults: list[Fault] = []

    def event(self, event: dict[str, Any]) -> None:
        if event["event"] == "done":
            self.done.append(event["task"])
            self.last = event

    def fault(self, fault: Fault) -> None:
        self.faults.append(fault)


def command(tmp_path: Path, env: dict[str, str] | None = None, **limits: Any) -> ProbeCommand:
    script = tmp_path / "probe.py"
    script.write_text(FAKE_PROBE, encoding="utf-8")
    return ProbeCommand(
        python=Path(sys.executable),
        script=script,
        environment=env or {},
        log=tmp_path / "probe.log",
        workdir=tmp_path,
        start_timeout=limits.get("start_timeout", 20.0),
        task_timeout=limits.get("task_timeout", 20.0),
        max_restarts=limits.get("max_restarts", 5),
    )


@dataclass(frozen=True)
class FakeTask:
    id: str
    how: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "how": self.how}


def tasks(*hows: str) -> list[FakeTask]:
    return [FakeTask(f"t{i}-{how}", how) for i, how in enumerate(hows)]


def test_clean_run_reports_every_task(tmp_path: Path) -> None:
    sink = Recorder()
    result = run_probe(command(tmp_path), tasks("ok", "ok"), sink)
    assert sink.done == ["t0-ok", "t1-ok"]
    assert result.hello == {"tensorflow": "fake"}
    assert (result.restarts, result.faults, result.env_error) == (0, [], None)


def test_segfault_costs_only_its_cell_and_the_rest_still_run(tmp_path: Path) -> None:
    sink = Recorder()
    result = run_probe(command(tmp_path), tasks("ok", "segv", "ok"), sink)
    assert sink.done == ["t0-ok", "t2-ok"]
    assert [(f.task, f.status) for f in sink.faults] == [("t1-segv", "crash")]
    assert "SIGSEGV" in sink.faults[0].reason
    assert result.restarts == 1


def test_os_exit_is_a_crash_with_the_exit_code(tmp_path: Path) -> None:
    sink = Recorder()
    run_probe(command(tmp_path), tasks("exit", "ok"), sink)
    assert sink.faults[0].status == "crash"
    assert "exited with code 7" in sink.faults[0].reason
    assert sink.done == ["t1-ok"]


def test_hang_is_a_timeout_and_the_group_is_killed(tmp_path: Path) -> None:
    sink = Recorder()
    started = time.monotonic()
    run_probe(command(tmp_path, task_timeout=1.5), tasks("hang", "ok"), sink)
    assert time.monotonic() - started < 30
    assert [(f.task, f.status) for f in sink.faults] == [("t0-hang", "timeout")]
    assert sink.done == ["t1-ok"]


def test_grandchild_holding_the_pipe_cannot_stall_the_host(tmp_path: Path) -> None:
    sink = Recorder()
    started = time.monotonic()
    run_probe(command(tmp_path), tasks("child-hang", "ok"), sink)
    assert time.monotonic() - started < 15
    assert sink.faults[0].status == "crash"
    assert sink.done == ["t1-ok"]


def test_cut_and_malformed_lines_are_not_trusted(tmp_path: Path) -> None:
    sink = Recorder()
    run_probe(command(tmp_path), tasks("garbage", "ok"), sink)
    assert [(f.task, f.status) for f in sink.faults] == [("t0-garbage", "crash")]
    assert sink.done == ["t1-ok"]


def test_restart_budget_marks_the_rest_not_run(tmp_path: Path) -> None:
    sink = Recorder()
    result = run_probe(command(tmp_path, max_restarts=1), tasks("segv", "segv", "ok"), sink)
    statuses = [(f.task, f.status, f.attempted) for f in sink.faults]
    assert statuses == [
        ("t0-segv", "crash", True),
        ("t1-segv", "crash", True),
        ("t2-ok", "crash", False),
    ]
    assert "restart budget (1)" in sink.faults[2].reason
    assert result.restarts == 2


def test_import_failure_is_an_env_error_with_the_excerpt(tmp_path: Path) -> None:
    sink = Recorder()
    result = run_probe(command(tmp_path, env={"FAKE_IMPORT": "fail"}), tasks("ok"), sink)
    assert result.env_error is not None
    assert "numpy.core.multiarray failed to import" in result.env_error
    assert "exited with code 1" in result.env_error
    assert sink.done == [] and sink.faults == []


def test_import_hang_is_an_env_error_after_the_start_limit(tmp_path: Path) -> None:
    sink = Recorder()
    result = run_probe(
        command(tmp_path, env={"FAKE_IMPORT": "hang"}, start_timeout=1.0), tasks("ok"), sink
    )
    assert result.env_error is not None
    assert "had not loaded TensorFlow within 1 s" in result.env_error


@pytest.mark.parametrize(
    ("code", "text"),
    [(-11, "killed by SIGSEGV"), (-9, "SIGKILL (out of memory?)"), (-4, "SIGILL"), (3, "code 3")],
)
def test_exit_descriptions(code: int, text: str) -> None:
    assert text in describe_exit(code)


def test_an_oversized_event_is_dropped_in_linear_time(tmp_path: Path) -> None:
    sink = Recorder()
    started = time.monotonic()
    run_probe(command(tmp_path), tasks("huge", "ok"), sink)
    assert time.monotonic() - started < 20
    # The 64 MiB line is never parsed: its cell is a crash (no trusted report).
    assert sink.done == ["t1-ok"]
    assert [(f.task, f.status) for f in sink.faults] == [("t0-huge", "crash")]


def test_line_reader_keeps_lines_across_chunks_and_drops_long_ones() -> None:
    reader = _LineReader(limit=10)
    lines = [*reader.feed(b"ab"), *reader.feed(b"c\n" + b"x" * 50), *reader.feed(b"\nok\n")]
    assert lines == [b"abc", b"ok"]
    assert MAX_EVENT_BYTES >= 1 << 20


def test_probes_get_a_minimal_environment_and_their_own_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("PYTHONPATH", "/host/code")
    sink = Recorder()
    run_probe(command(tmp_path, env={"EXTRA": "1"}), tasks("environ"), sink)
    env, cwd = sink.last["env"], sink.last["cwd"]
    assert "GITHUB_TOKEN" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert "PYTHONPATH" not in env
    assert env["EXTRA"] == "1" and env["HOME"] == str(tmp_path) and env["TMPDIR"] == str(tmp_path)
    assert Path(cwd) == tmp_path


@pytest.fixture
def stoppable() -> Iterator[None]:
    yield
    launch._STOPPING.clear()  # the flag is for the life of a process; tests share one


def test_stop_all_ends_a_running_probe_at_once_and_records_no_fault(
    tmp_path: Path, stoppable: None
) -> None:
    """A Ctrl-C must not wait for an env to finish, and must not turn the
    cell the probe was on into a crash: the next run does that cell again."""
    sink = Recorder()
    raised: list[BaseException] = []

    def go() -> None:
        try:
            run_probe(command(tmp_path), tasks("ok", "hang", "ok"), sink)
        except BaseException as exc:  # noqa: BLE001 - what the thread ends with is the test
            raised.append(exc)

    worker = threading.Thread(target=go)
    worker.start()
    deadline = time.monotonic() + 20
    while sink.done != ["t0-ok"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sink.done == ["t0-ok"]
    started = time.monotonic()
    launch.stop_all()
    worker.join(timeout=15)
    assert not worker.is_alive()
    assert time.monotonic() - started < 10
    assert [type(e) for e in raised] == [launch.Interrupted]
    assert sink.faults == []  # the hanging cell is not a crash
    assert sink.done == ["t0-ok"]  # and nothing after the stop ran


INTERRUPTED_RUN = textwrap.dedent(
    """
    import argparse, signal, sys
    from pathlib import Path
    from types import SimpleNamespace
    # A terminal's Ctrl-C, whatever this test was started from: a shell that
    # runs it in the background sets SIGINT to ignored, and Python then keeps
    # it ignored (so would the tool, as every program started that way).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from matrix import cli, launch
    from matrix.paths import Layout
    from matrix.run.runner import each_env
    from matrix.selection.env import Env
    from matrix.selection.plan import PlannedEnv
    sys.path.insert(0, sys.argv[2])
    from test_launch import FakeTask, command

    tmp = Path(sys.argv[1])
    layout = Layout(tmp / "out", tmp / "envs")
    planned = [PlannedEnv(Env.parse(e), Path(sys.executable))
               for e in ("tf2.15-keras2-py3.11-cpu", "tf2.21-keras3-py3.11-cpu")]
    ready = SimpleNamespace(
        ready=lambda p, name: SimpleNamespace(planned=p),
        layout=layout,
        record=lambda state: state,
        state=lambda p: SimpleNamespace(status="ok", reason=None),
    )
    settings = SimpleNamespace(effective_jobs=lambda: 2)

    def stage(r, plan, settings, layout):
        folder = tmp / r.planned.id
        folder.mkdir()
        launch.run_probe(command(folder), [FakeTask("t0", "hang")], launch.Sink())

    def whole_run(args):
        each_env("consume", stage, ready, SimpleNamespace(envs=planned), settings)
        return 0

    parsed = SimpleNamespace(command=whole_run)
    cli._parser = lambda: SimpleNamespace(parse_args=lambda argv: parsed)
    sys.exit(cli.main([]))
    """
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_stops_every_probe_and_exits_130(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """Probes run in sessions of their own, so the signal reaches only the
    host; it stops them and exits at once instead of running each env to
    its end."""
    script = tmp_path / "run.py"
    script.write_text(INTERRUPTED_RUN, encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path), str(Path(__file__).parent)],
        cwd=Path(__file__).parent.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    logs = [
        tmp_path / env / "probe.log"
        for env in ("tf2.15-keras2-py3.11-cpu", "tf2.21-keras3-py3.11-cpu")
    ]
    deadline = time.monotonic() + 30
    while not all(p.exists() for p in logs) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)  # both probes are in their hanging cell
    process.send_signal(sig)
    signalled = time.monotonic()
    out, err = process.communicate(timeout=60)
    assert time.monotonic() - signalled < 10, "the run waited for its envs to finish"
    assert process.returncode == 130, out + err
    assert "interrupted" in err
    leftover = subprocess.run(
        ["pgrep", "-f", str(tmp_path)], capture_output=True, text=True, check=False
    )
    assert leftover.stdout.strip() == "", "a probe outlived the run"
