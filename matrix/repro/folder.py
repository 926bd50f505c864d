"""Write a cell's reproduction folder and run its script in the cell's env."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from matrix import files
from matrix.envs.provision import node_modules
from matrix.launch import environment
from matrix.paths import PROBES_DIR, Layout
from matrix.repro import script
from matrix.results import document as builder
from matrix.results import known
from matrix.results.cells import Cell
from matrix.results.ledger import ledger
from matrix.results.records import ArtifactEntry, EnvState, Versions, is_user_producer
from matrix.selection.plan import CellKey, Plan
from matrix.settings import ConfigError, Settings
from matrix.status import Status

SCRIPT = "repro.py"
README = "README.md"
# Packages that decide how a model loads, named in the README's install line.
_PINNED = ("tensorflow", "tensorflow-cpu", "tf-nightly", "tf-keras", "keras", "numpy", "h5py")
# Statuses with nothing to replay: no load ran.
_NOTHING = frozenset(s for s in Status if not s.measured)


def cell_id(key: CellKey) -> str:
    """How reports name a cell (`view.cell_id` of its fields)."""
    return "/".join(dataclasses.astuple(key))


def parse_cell_id(text: str, plan: Plan) -> CellKey:
    parts = text.strip().split("/")
    if len(parts) != 6 or not all(parts):
        msg = (
            f"Invalid cell {text!r}: expected producer/consumer/model/policy/format/loader, "
            "e.g. tf2.15-keras2-py3.11-cpu/tf2.21-keras3-py3.11-cpu/mlp/float32/keras/keras "
            "(compat.md shows one per failure group)"
        )
        raise ConfigError(msg)
    key = CellKey(*parts)
    if key not in set(plan.cells()):
        msg = (
            f"Cell {text!r} is not in the stored plan: run the matrix with a selection that has it"
        )
        raise ConfigError(msg)
    return key


@dataclass(frozen=True)
class Prepared:
    folder: Path
    key: CellKey
    recorded: str
    recorded_inference: str | None
    python: Path
    environment: dict[str, str]


def prepare(key: CellKey, plan: Plan, layout: Layout, settings: Settings, target: Path) -> Prepared:
    states = builder.states(plan, layout)
    (planned_cell,) = ledger(plan, layout, states, keys=[key])
    cell = builder.resolve(planned_cell, plan, layout, settings)
    if cell is None:
        msg = f"Cell {cell_id(key)} has no result yet: run the matrix first"
        raise ConfigError(msg)
    status = cell.state
    if status in _NOTHING:
        msg = (
            f"Cell {cell_id(key)} is {status.value}: no load ran, nothing to replay ({cell.reason})"
        )
        raise ConfigError(msg)
    entry = planned_cell.entry
    assert entry is not None  # a measured cell has its artifact
    planned = plan.env(key.consumer)
    state = states[key.consumer]
    module = _copy_artifact(layout.artifacts(key.producer), entry, target)
    tolerance = settings.tolerance_for(key.policy, key.format)
    inference = cell.inference.status if cell.inference else None
    environment = planned.env.environment()
    if planned.env.release.npm_package:
        # TF.js: the Node script the loader talks to, beside repro.py, and the
        # env's own npm folder (README.md says how to make one elsewhere).
        shutil.copy2(PROBES_DIR / "tfjs_server.js", target / "tfjs_server.js")
        environment["COMPAT_MATRIX_NODE_MODULES"] = str(
            node_modules(layout.venv(planned.env.venv_id))
        )
    replay = script.Replay(
        cell_id=cell_id(key),
        flavour=planned.env.keras_line,
        keras_version=state.keras,
        environment=environment,
        task={
            "loader": key.loader,
            "format": key.format,
            "model": entry.model,
            "policy": None if is_user_producer(key.producer) else entry.policy,
            "path": entry.path,
            "files": dict(entry.files),
            "reference": entry.reference,
            "custom_objects_module": module,
            "safe_mode": not plan.unsafe,
            "input_names": entry.input_names,
            "output_names": entry.output_names,
            "must_resolve": [list(pair) for pair in planned_cell.must_resolve],
        },
        policy="float32",
        tolerance=(tolerance.atol, tolerance.rtol),
        recorded=status.value,
        recorded_inference=inference,
        interpreter_module=planned.env.release.interpreter_module,
        backend=planned.env.backend,
    )
    files.write_atomic(target / SCRIPT, script.render(replay))
    files.write_atomic(target / README, readme(replay, cell, entry, state))
    python = layout.venv_python(planned.env.venv_id)
    return Prepared(target, key, status.value, inference, python, environment)


def _copy_artifact(root: Path, entry: ArtifactEntry, target: Path) -> str | None:
    """The artifact's files and reference (and a user's custom-objects module),
    copied under the names the manifest gives them; the module's new name."""
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    for name in [*entry.files, entry.reference]:
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / name, target / name)
    if not entry.custom_objects_module:
        return None
    shutil.copyfile(entry.custom_objects_module, target / "custom_objects.py")
    return "custom_objects.py"


_ENVIRONMENT = (
    "- Python {python}, TensorFlow {tensorflow}, Keras {keras} ({flavour}), numpy {numpy}"
)


def readme(replay: script.Replay, cell: Cell, entry: ArtifactEntry, state: EnvState) -> str:
    versions = state.versions or Versions()
    freeze = [
        line for line in state.freeze if line.split("==")[0].lower().replace("_", "-") in _PINNED
    ]
    env_lines = [f"export {k}={v!r}" for k, v in sorted(replay.environment.items())]
    cause = known_cause(cell)
    lines = [
        f"# {replay.cell_id}",
        "",
        "One cell of a tf-compat-matrix run, replayed by a standalone script.",
        "",
        "## What was recorded",
        "",
        f"- status: **{cell.status}**"
        + (f" (`compile=False`: {replay.recorded_inference})" if replay.recorded_inference else ""),
    ]
    if cell.error:
        lines.append(f"- {cell.error_type or 'error'}: {cell.error}")
    if cell.max_abs is not None:
        numbers = (cell.max_abs, cell.max_rel, cell.max_ulp)
        lines.append("- max abs {:.3g}, max rel {:.3g}, max ULP {}".format(*numbers))
    if cause:
        lines += ["", f"Known cause: {cause}"]
    lines += [
        "",
        "## Environment",
        "",
        _ENVIRONMENT.format(
            flavour=replay.flavour,
            python=versions.python or "?",
            tensorflow=versions.tensorflow or "?",
            keras=versions.keras or "?",
            numpy=versions.numpy or "?",
        ),
        "",
        "```sh",
        "python -m venv env && . env/bin/activate",
        "pip install " + " ".join(f'"{line}"' for line in freeze),
        *env_lines,
        "python repro.py",
        "```",
        "",
        "## Expected output",
        "",
        "```",
        *(
            [f"inference-only load (compile=False): {replay.recorded_inference}"]
            if replay.recorded_inference
            else []
        ),
        f"RESULT: {cell.status}",
        "```",
        "",
        "## The artifact",
        "",
        f"Saved by `{cell.producer}` as `{entry.path}` ({cell.format} format); "
        f"loaded by `{cell.consumer}` with the `{cell.loader}` loader. "
        "Every file, with the sha256 the run measured (the script checks them):",
        "",
        *[f"- `{name}` {sha}" for name, sha in sorted(entry.files.items())],
        f"- `{entry.reference}` {entry.reference_sha256} (reference inputs and outputs)",
        "",
    ]
    if cell.error_text:
        runs = [len(run) for run in re.findall(r"`+", cell.error_text)]
        fence = "`" * max(3, max(runs, default=0) + 1)
        lines += [
            "## Traceback the run recorded",
            "",
            fence,
            cell.error_text.rstrip()[-6000:],
            fence,
            "",
        ]
    return "\n".join(lines)


def known_cause(cell: Cell) -> str | None:
    found = {c.id: c for c in known.causes()}.get(cell.known or "")
    if found is None:
        return None
    return f"{found.title}. {found.cause} Way out: {found.way_out} ({', '.join(found.links)})"


@dataclass(frozen=True)
class Replayed:
    status: str | None
    inference: str | None
    stdout: str
    stderr: str = ""

    def reproduces(self, prepared: Prepared) -> bool:
        same = self.status == prepared.recorded
        if prepared.recorded_inference is not None:
            return same and self.inference == prepared.recorded_inference
        return same


# Run the script as the probes run: in their sandbox, with their memory cap.
_LAUNCH = (
    "import runpy, sys; sys.path.insert(0, {probes!r}); import _sandbox; _sandbox.confine(); "
    "runpy.run_path('repro.py', run_name='__main__')"
)


def run(prepared: Prepared, timeout: float) -> Replayed:
    if not prepared.python.exists():
        msg = f"The consumer's env is not built ({prepared.python}): run the matrix first"
        raise ConfigError(msg)
    env = environment(prepared.environment, prepared.folder)
    env["COMPAT_MATRIX_WRITABLE"] = str(prepared.folder)
    env["COMPAT_MATRIX_READABLE"] = os.pathsep.join([str(prepared.folder), str(PROBES_DIR)])
    try:
        done = subprocess.run(
            [str(prepared.python), "-c", _LAUNCH.format(probes=str(PROBES_DIR))],
            cwd=prepared.folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Replayed("timeout", None, f"the script passed its {timeout:.0f} s limit")
    status = inference = None
    for line in done.stdout.splitlines():
        if line.startswith("RESULT: "):
            status = line.removeprefix("RESULT: ").strip()
        elif line.startswith("inference-only load (compile=False): "):
            inference = line.split(": ", 1)[1].strip()
    if status is None and done.returncode < 0:
        status = "crash"
    return Replayed(status, inference, done.stdout, done.stderr)


def default_folder(layout: Layout, key: CellKey) -> Path:
    slug = cell_id(key).replace("/", "__").replace(":", "-")
    return layout.output / "repro" / slug
