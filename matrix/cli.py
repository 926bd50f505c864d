"""The command line: `python -m matrix run|plan|produce|consume|report`.

`run` is the whole pipeline, one stage after the other:

    plan -> provision -> produce -> consume -> compare + report

Each per-env stage runs its envs in parallel (`--jobs`); one env's failure is
recorded in its state and never stops the others. Only this module turns
outcomes into exit codes: 0 when the pipeline ran (whatever it found), 2 for
a bad setting or a busy output folder, before anything runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from matrix import __version__, files, machine, references, store, usermodels
from matrix.config import ConfigError, Settings, build_settings, read_pyproject
from matrix.consume import consume
from matrix.paths import REPORT_JSON, REPORT_MD, Layout
from matrix.phase import ready_env
from matrix.plan import Plan, PlannedEnv, make_plan
from matrix.produce import produce

Stage = Callable[[PlannedEnv, Plan, Settings, Layout], None]


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.command(args))
    except (ConfigError, files.LockedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    """The whole matrix: every env produces, every env consumes, then reports."""
    settings = settings_from(args)
    plan = plan_from(settings, user_models_from(args))
    layout = Layout(settings.output, settings.envdir)
    with files.exclusive_lock(layout.lock, f"the output folder {settings.output}"):
        files.write_json(layout.plan, plan.to_dict())
        _print_plan(plan, settings)
        each_env("provision", _provision, plan, settings, layout)
        each_env("produce", produce, plan, settings, layout, plan.producer_envs)
        _references(plan, settings, layout)
        each_env("consume", consume, plan, settings, layout)
        document = write_reports(plan, settings, layout)
    _print_summary(document, settings)
    return 0


def one_phase(args: argparse.Namespace) -> int:
    """One env's produce or consume: what `nox -s produce(<env>)` runs.

    The plan is the configured one (plus this env if it is not in it): a
    consumer loads the artifacts of every planned producer found on disk."""
    settings = settings_from(args)
    plan = plan_from(settings, user_models_from(args), extra_env=args.env)
    planned = plan.env(args.env)
    layout = Layout(settings.output, settings.envdir)
    stage: Stage = produce if args.phase == "produce" else consume
    with files.exclusive_lock(
        layout.output / f".{args.env}.{args.phase}.lock", f"{args.phase} of {args.env}"
    ):
        if args.phase == "consume":
            _references(plan, settings, layout)
        each_env(args.phase, stage, plan, settings, layout, (planned,))
    if args.phase == "consume":
        print(f"results: {layout.results(args.env)}")
    state = store.read_env_state(layout, args.env)
    return 0 if state.get("status") in ("ok", "unavailable") else 1


def report(args: argparse.Namespace) -> int:
    """Rebuild the reports from stored results; no env is touched."""
    settings = settings_from(args)
    layout = Layout(settings.output, settings.envdir)
    stored = files.read_json(layout.plan)
    if _selection_given(args) or not isinstance(stored, dict):
        plan = plan_from(settings, user_models_from(args))
    else:
        plan = Plan.from_dict(stored)
    document = write_reports(plan, settings, layout)
    _print_summary(document, settings)
    return 0


def show_plan(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    plan = plan_from(settings, user_models_from(args))
    if args.json:
        print(json.dumps(plan_listing(plan), indent=2))
    else:
        _print_plan(plan, settings)
    return 0


def plan_listing(plan: Plan) -> list[dict[str, Any]]:
    return [
        {
            "id": p.id,
            "tags": p.env.tags,
            "python": p.env.python,
            "tensorflow": p.env.tf,
            "keras_flavour": p.env.flavour,
            "device": p.env.device,
            "interpreter": str(p.interpreter) if p.interpreter else None,
            "unavailable": p.unavailable,
        }
        for p in plan.envs
    ]


# -- stages -----------------------------------------------------------------


def _provision(planned: PlannedEnv, plan: Plan, settings: Settings, layout: Layout) -> None:
    ready_env(planned, layout, settings, "provision")


def _references(plan: Plan, settings: Settings, layout: Layout) -> None:
    if plan.user_models:
        started = time.monotonic()
        references.prepare(plan, settings, layout)
        seconds = time.monotonic() - started
        print(f"[reference] {len(plan.user_models)} user model(s) in {seconds:.1f} s")


def each_env(  # noqa: PLR0917 - a stage and everything it runs with
    name: str,
    stage: Stage,
    plan: Plan,
    settings: Settings,
    layout: Layout,
    targets: tuple[PlannedEnv, ...] | None = None,
) -> None:
    """Run one stage for each target env (default: every env), `jobs` at a
    time; an error stays with its env."""

    def one(planned: PlannedEnv) -> None:
        started = time.monotonic()
        try:
            stage(planned, plan, settings, layout)
        except Exception as exc:  # noqa: BLE001 - one env's bug must not stop the rest
            traceback.print_exc()
            store.write_env_state(
                layout,
                planned.id,
                {"status": "env-error", "reason": f"internal error during {name}: {exc!r}"},
            )
        state = store.read_env_state(layout, planned.id)
        status = state.get("status", "?")
        reason = f" ({_first_line(state.get('reason'))})" if state.get("reason") else ""
        print(
            f"[{name}] {planned.id}: {status}{reason} in {time.monotonic() - started:.1f} s",
            flush=True,
        )

    with ThreadPoolExecutor(max_workers=settings.effective_jobs()) as pool:
        list(pool.map(one, plan.envs if targets is None else targets))


def write_reports(plan: Plan, settings: Settings, layout: Layout) -> dict[str, Any]:
    from matrix.report import document as builder
    from matrix.report import markdown

    document = builder.build(plan, layout, settings)
    files.write_json(settings.reports / REPORT_JSON, document)
    files.write_atomic(settings.reports / REPORT_MD, markdown.render(document))
    return document


# -- settings and plan --------------------------------------------------------


def settings_from(args: argparse.Namespace) -> Settings:
    file_values = read_pyproject(Path(args.config))
    timeouts = dict(file_values.get("timeouts") or {})
    for name in ("cell", "start", "install"):
        value = getattr(args, f"{name}_timeout", None)
        if value is not None:
            timeouts[name] = value
    cli = {key: getattr(args, key, None) for key in _SELECTION + _PLACES}
    for flag in ("fresh", "onednn_off", "unsafe"):
        cli[flag] = True if getattr(args, flag, False) else None
    if timeouts:
        cli["timeouts"] = timeouts
    return build_settings(file_values, cli)


def user_models_from(args: argparse.Namespace) -> tuple[usermodels.UserModel, ...]:
    """User models of the config file, then of the command line."""
    config = Path(args.config)
    declared = read_pyproject(config).get("user-models", [])
    if not isinstance(declared, list):
        msg = f"[[tool.compat-matrix.user-models]] in {config} must be an array of tables"
        raise ConfigError(msg)
    from_file = usermodels.parse(declared, config.resolve().parent)
    from_cli = usermodels.parse(getattr(args, "user_models", None) or [], Path.cwd())
    return usermodels.check_unique(from_file + from_cli)


def plan_from(
    settings: Settings,
    user_models: tuple[usermodels.UserModel, ...] = (),
    extra_env: str | None = None,
) -> Plan:
    interpreters = machine.discover()

    def make(chosen: Settings) -> Plan:
        return make_plan(
            chosen,
            interpreters,
            gpu_visible=machine.gpu_visible(),
            host_python=machine.host_version(),
            user_models=user_models,
        )

    plan = make(settings)
    if extra_env is not None and extra_env not in plan.env_ids:
        # A single env's session may name an env outside the configured
        # selection (CI shards pass explicit ids): plan it beside the rest.
        from dataclasses import replace

        plan = make(replace(settings, envs=(*plan.env_ids, extra_env), tf=()))
    return plan


_SELECTION = (
    "preset",
    "tf",
    "envs",
    "models",
    "formats",
    "loaders",
    "policies",
    "devices",
    "python",
    "jobs",
    "memory_mb",
    "max_restarts",
    "pins",
)
_PLACES = ("output", "reports", "envdir")


def _selection_given(args: argparse.Namespace) -> bool:
    given = any(getattr(args, key, None) is not None for key in _SELECTION)
    return given or bool(getattr(args, "user_models", None))


# -- output -------------------------------------------------------------------


def _print_plan(plan: Plan, settings: Settings) -> None:
    cells = sum(1 for _ in plan.cells())
    print(
        f"tf-compat-matrix {__version__}: {len(plan.envs)} env(s), "
        f"{len(plan.models)} model(s) x {len(plan.policies)} policy(ies) x "
        f"{len(plan.formats)} format(s), {cells} cells, {settings.effective_jobs()} job(s)"
    )
    for planned in plan.envs:
        where = (planned.unavailable and f"unavailable: {planned.unavailable}") or str(
            planned.interpreter
        )
        print(f"  {planned.id:32} {where}")


def _print_summary(document: dict[str, Any], settings: Settings) -> None:
    counts = ", ".join(f"{status} {n}" for status, n in document["summary"].items())
    print(f"{len(document['cells'])} cells: {counts}")
    if document["pending"]:
        print(f"{len(document['pending'])} cells have no result yet")
    print(f"reports: {settings.reports / REPORT_MD}, {settings.reports / REPORT_JSON}")


def _first_line(text: Any) -> str:
    lines = str(text).strip().splitlines()
    return lines[0][:160] if lines else ""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m matrix",
        description="Does a TensorFlow/Keras model saved in one env load and predict "
        "the same in another? Builds envs, saves the zoo in each, loads every "
        "artifact in every env and reports the differences.",
    )
    parser.add_argument("--version", action="version", version=f"tf-compat-matrix {__version__}")
    commands = parser.add_subparsers(dest="name", required=True, metavar="COMMAND")

    def command(
        name: str, func: Callable[[argparse.Namespace], int], text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(command=func)
        _common(sub)
        return sub

    command("run", run, "Run the whole matrix and write the reports.")
    command("plan", show_plan, "Show the envs and cells a run would have.").add_argument(
        "--json", action="store_true", help="print the envs as JSON (for CI job matrices)"
    )
    for phase in ("produce", "consume"):
        sub = command(phase, one_phase, f"Run the {phase} phase of one env.")
        sub.add_argument("--env", required=True, help="the env id, e.g. tf2.15-keras2-py3.11-cpu")
        sub.set_defaults(phase=phase)
    command("report", report, "Rebuild the reports from stored results (no env runs).")
    return parser


def _common(sub: argparse.ArgumentParser) -> None:
    select = sub.add_argument_group("selection (defaults: [tool.compat-matrix] in pyproject.toml)")
    select.add_argument("--preset", help="default (7 envs) or full (every TF 2.5-2.21)")
    select.add_argument(
        "--tf", nargs="+", metavar="X.Y", help="TF versions, e.g. 2.15 2.21 nightly"
    )
    select.add_argument(
        "--envs", nargs="+", metavar="ID", help="env ids or globs: 'tf2.1*-keras3-*'"
    )
    select.add_argument("--models", nargs="+", metavar="NAME", help="zoo models, or all")
    select.add_argument("--formats", nargs="+", metavar="NAME", help="h5 keras savedmodel weights")
    select.add_argument("--loaders", nargs="+", metavar="NAME", help="keras saved-model tfsm-layer")
    select.add_argument(
        "--policies", nargs="+", metavar="NAME", help="float32 mixed_float16 mixed_bfloat16"
    )
    select.add_argument("--devices", nargs="+", metavar="NAME", help="cpu gpu")
    select.add_argument("--python", help="host (default) or newest: which Python an env gets")
    select.add_argument(
        "--onednn-off",
        action="store_true",
        help="add a TF_ENABLE_ONEDNN_OPTS=0 consumer beside each CPU env",
    )
    select.add_argument(
        "--unsafe",
        action="store_true",
        help="load models holding Python code (Lambda) even where no safe_mode guards it",
    )
    users = sub.add_argument_group("user models (repeat --user-model; options apply to the last)")
    users.add_argument(
        "--user-model", action=_NewUserModel, metavar="PATH", help=".h5, .keras or SavedModel dir"
    )
    for flag, key, text in _USER_OPTIONS:
        users.add_argument(flag, action=_UserModelOption, dest=key, metavar="X", help=text)
    run_group = sub.add_argument_group("running")
    run_group.add_argument("--jobs", "-j", help="envs worked on at once: a number or auto")
    run_group.add_argument("--fresh", action="store_true", help="ignore stored results")
    run_group.add_argument(
        "--pin",
        action="append",
        dest="pins",
        metavar="GLOB=REQ",
        help="extra requirement for matching envs, e.g. 'tf2.15-*=protobuf<4' (repeatable)",
    )
    run_group.add_argument(
        "--memory-mb", type=int, metavar="MB", help="address space a probe may add after import"
    )
    run_group.add_argument(
        "--max-restarts", type=int, metavar="N", help="probe restarts per env and phase (default 5)"
    )
    run_group.add_argument("--cell-timeout", type=float, metavar="S", help="seconds per cell")
    run_group.add_argument(
        "--start-timeout", type=float, metavar="S", help="seconds for a probe to import TensorFlow"
    )
    run_group.add_argument(
        "--install-timeout", type=float, metavar="S", help="seconds to build one env"
    )
    places = sub.add_argument_group("places")
    places.add_argument(
        "--config", default="pyproject.toml", help="pyproject.toml to read settings from"
    )
    places.add_argument("--output", help="working folder (default build/matrix)")
    places.add_argument("--reports", help="report folder (default reports)")
    places.add_argument("--envdir", help="where env virtualenvs live (default .nox)")


_USER_OPTIONS = (
    ("--inputs", "inputs", "its inputs: .npy or .npz (default: derived from its signature)"),
    ("--expected", "expected", "its expected outputs: .npy or .npz (default: a baseline env's)"),
    (
        "--custom-objects",
        "custom-objects",
        "a .py defining get_custom_objects(keras) or CUSTOM_OBJECTS",
    ),
    ("--baseline", "baseline", "the env whose outputs are its reference"),
    ("--name", "name", "its report label (default: the file name)"),
)


class _NewUserModel(argparse.Action):
    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        models = getattr(namespace, "user_models", None) or []
        models.append({"path": values})
        namespace.user_models = models


class _UserModelOption(argparse.Action):
    def __call__(self, parser: Any, namespace: Any, values: Any, option: Any = None) -> None:
        models = getattr(namespace, "user_models", None)
        if not models:
            parser.error(f"{option} must follow the --user-model it belongs to")
        else:
            models[-1][str(self.dest)] = values
