"""How a probe is started in a ready env, and what its launch leaves in the env's state."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from matrix.envs.provision import node_modules
from matrix.files import JsonObject
from matrix.launch import LaunchResult, ProbeCommand
from matrix.paths import PROBES_DIR, Layout, probe_script
from matrix.results.records import PROBE_SCHEMA, EnvState, PhaseRecord, Versions
from matrix.run.ready import ReadyEnv
from matrix.settings import Settings


def launched(  # noqa: PLR0917 - what a phase's probes did, and at what cost
    state: EnvState, layout: Layout, phase: str, outcome: LaunchResult, tasks: int, started: float
) -> EnvState:
    """An env's state after a probe ran there: broken, or its versions, what
    starting probes cost (`<phase>_startups`: seconds to TensorFlow's hello
    per process; more than one means restarts) and the phase's measured rate
    (`<phase>_work`: tasks and wall seconds, which `plan` estimates from)."""
    if outcome.env_error is not None:
        return replace(state, status="env-error", reason=outcome.env_error)
    found = PhaseRecord(
        restarts=outcome.restarts,
        startups=tuple(outcome.startups),
        tasks=tasks,
        seconds=round(time.monotonic() - started, 2),
    )
    state = state.with_phase(phase, found)
    if outcome.hello is None:
        return state
    hello = described(layout, outcome.hello)
    sandbox = hello.get("sandbox")
    return replace(
        state,
        versions=Versions.from_dict(hello),
        sandbox=sandbox if isinstance(sandbox, dict) else None,
    )


def described(layout: Layout, hello: JsonObject) -> JsonObject:
    """What a probe said of its env, as it is kept: the folders its sandbox
    may write (in the output folder) spelled `<output>/...`, so they read the
    same on every machine and shard."""
    found = dict(hello)
    sandbox = found.get("sandbox")
    if isinstance(sandbox, dict):
        found["sandbox"] = {key: layout.portable(str(value)) for key, value in sandbox.items()}
    return found


def probe_command(  # noqa: PLR0917 - what one probe process is given
    ready: ReadyEnv,
    layout: Layout,
    settings: Settings,
    phase: str,
    writable: Sequence[Path],
    readable: Sequence[Path] = (),
) -> ProbeCommand:
    """How to start a probe: its env's interpreter, a working folder of its
    own inside the output folder, the folders its sandbox lets it write
    (`writable`) and read beyond the system and its interpreter (the output
    folder, plus `readable`) and its memory cap."""
    threads = max(1, (os.cpu_count() or 1) // settings.effective_jobs())
    workdir = layout.output / "tmp" / ready.planned.id / phase
    workdir.mkdir(parents=True, exist_ok=True)
    for folder in writable:
        folder.mkdir(parents=True, exist_ok=True)
    # CUDA reserves address space by the terabyte: a GPU env runs uncapped.
    memory = settings.memory_mb if ready.planned.env.device == "cpu" else 0
    environment = {
        **ready.planned.env.environment(),
        # The Keras the probe imports: the release table's word, not the probe's guess.
        "COMPAT_MATRIX_FLAVOUR": ready.planned.env.keras_line,
        # TensorFlow, JAX or PyTorch: a Keras 3 minor's probe imports no
        # TensorFlow on the other two (the env has none).
        "COMPAT_MATRIX_BACKEND": ready.planned.env.backend or "",
        "COMPAT_MATRIX_INTERPRETER": ready.planned.env.release.interpreter_module or "",
        # TensorFlow.js: the env's own npm folder, and the Node that runs it.
        "COMPAT_MATRIX_NODE_MODULES": str(node_modules(layout.venv(ready.planned.env.venv_id))),
        "COMPAT_MATRIX_NODE": shutil.which("node") or "node",
        # TF 1.15-2.2's TFLite converter runs its `toco_from_protos` console
        # script by name: the env's own bin folder comes first on PATH.
        "PATH": os.pathsep.join(
            [str(layout.venv(ready.planned.env.venv_id) / "bin"), os.environ.get("PATH", "")]
        ),
        "COMPAT_MATRIX_THREADS": str(threads),
        "COMPAT_MATRIX_MEMORY_MB": str(memory),
        "COMPAT_MATRIX_WRITABLE": os.pathsep.join(str(p) for p in [workdir, *writable]),
        "COMPAT_MATRIX_READABLE": os.pathsep.join(
            str(p) for p in [layout.output, PROBES_DIR, *readable]
        ),
        "OMP_NUM_THREADS": str(threads),
    }
    return ProbeCommand(
        python=layout.venv_python(ready.planned.env.venv_id),
        script=probe_script(phase),
        environment=environment,
        log=layout.log(ready.planned.id, phase),
        workdir=workdir,
        start_timeout=settings.timeouts.start,
        task_timeout=settings.timeouts.cell,
        max_restarts=settings.max_restarts,
        schema_version=PROBE_SCHEMA,
    )
