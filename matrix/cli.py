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

from matrix import __version__, files, machine, store
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
    plan = plan_from(settings)
    layout = Layout(settings.output, settings.envdir)
    with files.exclusive_lock(layout.lock, f"the output folder {settings.output}"):
        files.write_json(layout.plan, plan.to_dict())
        _print_plan(plan, settings)
        each_env("provision", _provision, plan, settings, layout)
        each_env("produce", produce, plan, settings, layout)
        each_env("consume", consume, plan, settings, layout)
        document = write_reports(plan, settings, layout)
    _print_summary(document, settings)
    return 0


def one_phase(args: argparse.Namespace) -> int:
    """One env's produce or consume: what `nox -s produce(<env>)` runs."""
    settings = settings_from(args)
    plan = plan_from(settings, extra_env=args.env)
    planned = plan.env(args.env)
    layout = Layout(settings.output, settings.envdir)
    stage: Stage = produce if args.phase == "produce" else consume
    with files.exclusive_lock(
        layout.output / f".{args.env}.{args.phase}.lock", f"{args.phase} of {args.env}"
    ):
        each_env(args.phase, stage, Plan((planned,), *_axes(plan)), settings, layout)
    if args.phase == "consume" and plan.envs:
        print(f"results: {layout.results(args.env)}")
    state = store.read_env_state(layout, args.env)
    return 0 if state.get("status") in ("ok", "unavailable") else 1


def report(args: argparse.Namespace) -> int:
    """Rebuild the reports from stored results; no env is touched."""
    settings = settings_from(args)
    layout = Layout(settings.output, settings.envdir)
    stored = files.read_json(layout.plan)
    if _selection_given(args) or not isinstance(stored, dict):
        plan = plan_from(settings)
    else:
        plan = Plan.from_dict(stored)
    document = write_reports(plan, settings, layout)
    _print_summary(document, settings)
    return 0


def show_plan(args: argparse.Namespace) -> int:
    settings = settings_from(args)
    plan = plan_from(settings)
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


def each_env(name: str, stage: Stage, plan: Plan, settings: Settings, layout: Layout) -> None:
    """Run one stage for every env, `jobs` at a time; errors stay per env."""

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
        list(pool.map(one, plan.envs))


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
    cli["fresh"] = True if getattr(args, "fresh", False) else None
    if timeouts:
        cli["timeouts"] = timeouts
    return build_settings(file_values, cli)


def plan_from(settings: Settings, extra_env: str | None = None) -> Plan:
    interpreters = machine.discover()
    if extra_env is not None and not settings.envs:
        # A single env's session may name an env outside the configured
        # selection (CI shards pass explicit ids).
        settings = _with_envs(settings, extra_env)
    return make_plan(
        settings,
        interpreters,
        gpu_visible=machine.gpu_visible(),
        host_python=machine.host_version(),
    )


def _with_envs(settings: Settings, env_id: str) -> Settings:
    from dataclasses import replace

    return replace(settings, envs=(env_id,), tf=())


def _axes(plan: Plan) -> tuple[tuple[str, ...], ...]:
    return plan.models, plan.policies, plan.formats, plan.loaders


_SELECTION = ("preset", "tf", "envs", "models", "formats", "loaders", "policies", "jobs")
_PLACES = ("output", "reports", "envdir")


def _selection_given(args: argparse.Namespace) -> bool:
    return any(getattr(args, key, None) is not None for key in _SELECTION)


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
        "--tf", nargs="+", metavar="X.Y", help="TensorFlow versions, e.g. 2.15 2.21"
    )
    select.add_argument(
        "--envs", nargs="+", metavar="ID", help="env ids or globs, e.g. 'tf2.1*-keras3-*'"
    )
    select.add_argument(
        "--models", nargs="+", metavar="NAME", help="zoo models: mlp cnn lstm custom"
    )
    select.add_argument("--formats", nargs="+", metavar="NAME", help="h5 keras savedmodel")
    select.add_argument("--loaders", nargs="+", metavar="NAME", help="keras saved-model tfsm-layer")
    select.add_argument("--policies", nargs="+", metavar="NAME", help="float32 mixed_float16")
    run_group = sub.add_argument_group("running")
    run_group.add_argument("--jobs", "-j", help="envs worked on at once: a number or auto")
    run_group.add_argument("--fresh", action="store_true", help="ignore stored results")
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
