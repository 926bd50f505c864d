"""The command line: `python -m matrix run|plan|produce|consume|report|repro|merge`.

`run` is the whole pipeline, one stage after the other:

    plan -> provision -> produce -> user models -> consume -> compare + report

Each per-env stage runs its envs in parallel (`--jobs`); one env's failure is
recorded in its state and never stops the others. Only this module turns
outcomes into exit codes: 0 when the pipeline ran (whatever it found), 1 when
a `--baseline` shows regressions, 2 for a bad setting or a busy output
folder, before anything runs, 130 when interrupted (Ctrl-C or SIGTERM: the
probes are stopped, what was written is kept, and a rerun goes on from it).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from matrix import __version__, files
from matrix.escape import terminal
from matrix.files import JsonObject
from matrix.launch import Interrupted, stop_all
from matrix.paths import GOLD_DIR, Layout
from matrix.report import jsonfile, view
from matrix.report.publish import Extras, publish, report_paths
from matrix.results import document as builder
from matrix.results import selfcheck, store
from matrix.results.document import Document
from matrix.results.ledger import Ledger, ledger
from matrix.results.merge import merge as merge_folders
from matrix.results.records import EnvState
from matrix.run import gold, progress
from matrix.run.consume import consume
from matrix.run.estimate import estimate, nightly
from matrix.run.produce import produce
from matrix.run.ready import ReadyEnv
from matrix.run.runner import Envs, each_env, prepare_user_models
from matrix.selection.plan import NO_GPU, Plan, PlannedEnv
from matrix.selection.select import select
from matrix.settings import ConfigError, Settings

INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # A SIGTERM (a CI job cancelled, `kill`) stops the run as Ctrl-C does
    # (Python lets only the main thread set a handler).
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        return int(args.command(args))
    except (ConfigError, files.LockedError) as exc:
        print(f"error: {terminal(exc)}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Interrupted):
        stop_all()
        print(
            "interrupted: the probes are stopped; every result written so far is kept,"
            " and the same command goes on from them",
            file=sys.stderr,
        )
        return INTERRUPTED
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """The whole matrix: every env produces, every env consumes, then reports."""
    chosen = select(args)
    extras = Extras.read(chosen.report)
    plan, settings, layout = chosen.plan, chosen.settings, chosen.layout
    with (
        files.exclusive_lock(layout.lock, f"the output folder {settings.output}"),
        progress.Progress() as shown,
    ):
        progress.use(shown)
        files.write_json(layout.plan, plan.to_dict())
        _print_plan(plan, settings, layout)
        envs = Envs(layout, settings.timeouts.install)
        envs.ready_all(plan, settings)
        each_env("produce", produce, envs, plan, settings, plan.producer_envs)
        gold.bring_in(plan, layout)
        prepare_user_models(plan, settings, layout, envs)
        cells = _consume(envs, plan, settings, plan.consumer_envs)
        document = builder.build(plan, layout, settings, cells)
        document, code = publish(document, settings.reports, extras)
    _print_summary(document, settings)
    return code


def _consume(
    envs: Envs, plan: Plan, settings: Settings, consumers: tuple[PlannedEnv, ...]
) -> Ledger:
    """Decide every cell once (the ledger), then let each consumer measure its
    pending ones; the ledger, for the report to join with the results."""
    for planned in consumers:
        envs.ready(planned, "consume")
    cells = ledger(plan, envs.layout, envs.states(plan), fresh=settings.fresh, inspect="run")

    def stage(ready: ReadyEnv, plan: Plan, settings: Settings, layout: Layout) -> EnvState:
        return consume(ready, cells, plan, settings, layout)

    each_env("consume", stage, envs, plan, settings, consumers)
    return cells


def one_phase(args: argparse.Namespace) -> int:
    """One env's produce or consume: what `nox -s produce(<env>)` runs.

    The plan is the configured one (plus this env if it is not in it): a
    consumer loads the artifacts of every planned producer found on disk."""
    chosen = select(args, extra_env=args.env)
    plan, settings, layout = chosen.plan, chosen.settings, chosen.layout
    planned = plan.env(args.env)
    lock = layout.output / f".{args.env}.{args.phase}.lock"
    with files.exclusive_lock(lock, f"{args.phase} of {args.env}"):
        files.write_json(layout.plan, plan.to_dict())
        envs = Envs(layout, settings.timeouts.install)
        if args.phase == "consume":
            gold.bring_in(plan, layout)
            prepare_user_models(plan, settings, layout, envs)
            _consume(envs, plan, settings, (planned,))
        else:
            each_env("produce", produce, envs, plan, settings, (planned,))
        state = envs.state(planned)
    return 0 if state.status in ("ok", "unavailable") else 1


def report(args: argparse.Namespace) -> int:
    """Rebuild the reports from stored results, or from a published compat.json
    (`--document`, its cells explained by today's known causes); no env is touched."""
    chosen = select(args, stored=True)
    extras = Extras.read(chosen.report)
    if args.document is not None:
        try:
            published = jsonfile.read(Path(args.document))
        except (OSError, ValueError, KeyError, EOFError) as exc:
            msg = (
                f"Invalid --document {args.document}: expected a compat.json (or .json.gz) "
                f"written by tf-compat-matrix ({exc})"
            )
            raise ConfigError(msg) from exc
        document, code = publish(builder.reexplained(published), chosen.settings.reports, extras)
        _print_summary(document, chosen.settings)
        return code
    if not store.any_results(chosen.layout, chosen.plan.env_ids):
        print(
            f"error: nothing to report: no env of this selection has a stored result in "
            f"{terminal(chosen.layout.output)} (run the matrix first, or pass its --output)",
            file=sys.stderr,
        )
        return 1
    document = builder.build(chosen.plan, chosen.layout, chosen.settings)
    document, code = publish(document, chosen.settings.reports, extras)
    _print_summary(document, chosen.settings)
    return code


def merge(args: argparse.Namespace) -> int:
    """Merge the output folders of CI shards, then report as `report` does."""
    chosen = select(args)
    extras = Extras.read(chosen.report)
    layout = chosen.layout
    with files.exclusive_lock(layout.lock, f"the output folder {chosen.settings.output}"):
        merge_folders([Path(p) for p in args.shards], layout.output)
        chosen = select(args, stored=True)  # the merged plan
        document = builder.build(chosen.plan, layout, chosen.settings)
        document, code = publish(document, chosen.settings.reports, extras)
    _print_summary(document, chosen.settings)
    return code


def repro(args: argparse.Namespace) -> int:
    """Write a standalone reproduction of one cell and replay it in its env."""
    from matrix.repro import folder

    chosen = select(args, stored=True)
    plan, settings, layout = chosen.plan, chosen.settings, chosen.layout
    key = folder.parse_cell_id(args.cell, plan)
    target = Path(args.folder) if args.folder else folder.default_folder(layout, key)
    prepared = folder.prepare(key, plan, layout, settings, target)
    print(f"wrote {target}: repro.py, README.md, the artifact and its reference")
    if args.no_run:
        return 0
    replayed = folder.run(prepared, settings.timeouts.start + settings.timeouts.cell)
    print("\n".join(replayed.stdout.rstrip().splitlines()[-8:]))
    recorded = prepared.recorded + (
        f" (compile=False: {prepared.recorded_inference})" if prepared.recorded_inference else ""
    )
    if replayed.reproduces(prepared):
        print(f"reproduced: the script gives {recorded}, as the run recorded")
        return 0
    got = f"{replayed.status} (compile=False: {replayed.inference})"
    print(f"NOT reproduced: the run recorded {recorded}; the script gives {got}")
    return 1


def freeze(args: argparse.Namespace) -> int:
    """Copy envs' saved artifacts (the selection's models, policies and
    formats) into the gold store, with their provenance."""
    chosen = select(args)
    if not chosen.settings.envs:
        raise ConfigError("freeze needs --envs: the env ids whose artifacts to freeze")
    keep = tuple((m, p, f) for _, m, p, f in chosen.plan.artifacts())
    # Globs name planned envs; a producer-only env needs a consumer in the
    # selection to make a plan, and an env that saved nothing here is skipped.
    produced = [p.env for p in chosen.plan.envs if chosen.layout.manifest(p.id).is_file()]
    if not produced:
        msg = (
            f"Nothing to freeze: no env of --envs {' '.join(chosen.settings.envs)} has saved "
            f"artifacts in {chosen.layout.output} (run `python -m matrix produce --env ID` first)"
        )
        raise ConfigError(msg)
    for env in produced:
        frozen = gold.freeze(chosen.layout, env, Path(args.store), keep)
        print(f"froze {len(frozen.artifacts)} artifact(s) of {env.id} into {frozen.folder}")
    return 0


def findings(args: argparse.Namespace) -> int:
    """Write docs/findings.md and every marked number of README.md and docs/
    from the published reports; with --check, say where they disagree."""
    from matrix.check import index as check_index
    from matrix.report import facts
    from matrix.report import findings as writer

    root = Path(args.root)
    documents = facts.read_published(root)
    if not documents:
        raise ConfigError(f"No published report under {root / 'reports'}: nothing to read")
    known = facts.facts(documents)
    generated = {root / "docs" / "findings.md": writer.render(documents)}
    shipped = root / "matrix" / "check" / "index.json.gz"
    # In facts.PUBLISHED's order, the newest run first: it wins a cell two measured.
    built = check_index.build(documents.items())
    if args.check:
        if not shipped.exists() or check_index.read(shipped).to_dict() != built.to_dict():
            wrong = [f"{shipped}: not the index `python -m matrix findings` builds"]
        else:
            wrong = []
    else:
        check_index.write(built, shipped)
        wrong = []
    prose = [root / "README.md", *sorted((root / "docs").glob("*.md"))]
    for path in prose:
        text = generated.get(path) or path.read_text(encoding="utf-8")
        if args.check:
            on_disk = path.read_text(encoding="utf-8") if path.exists() else ""
            if path in generated and on_disk != text:
                wrong.append(f"{path}: not what `python -m matrix findings` writes from the data")
            wrong += [str(m) for m in facts.check(on_disk, known, path)]
        else:
            files.write_atomic(path, facts.rewrite(text, known))
    for line in wrong:
        print(terminal(line))
    if not args.check:
        print(f"wrote {len(prose)} files from {', '.join(documents)}")
    return 1 if wrong else 0


def show_plan(args: argparse.Namespace) -> int:
    chosen = select(args)
    plan, settings = chosen.plan, chosen.settings
    sharded = args.github_matrix is not None
    stage = args.github_matrix or None
    if args.estimate and not sharded:
        msg = (
            "--estimate prices the sharded nightly: give it with --github-matrix "
            "(plain `plan` already prints this machine's estimate)"
        )
        raise ConfigError(msg)
    if sharded and args.estimate:
        entries = github_matrix(plan, args.cpu_runner, args.gpu_runner, stage)
        found = nightly(plan, chosen.layout, entries, gpu_runners=args.gpu_runners)
        print(f"the sharded nightly of this selection ({found.summary()}):")
        for line in found.lines():
            print(terminal(line))
    elif sharded:
        print(json.dumps(github_matrix(plan, args.cpu_runner, args.gpu_runner, stage)))
    elif args.json:
        print(json.dumps(plan_listing(plan), indent=2))
    else:
        _print_plan(plan, settings, chosen.layout)
    return 0


def plan_listing(plan: Plan) -> list[JsonObject]:
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
            "pins": list(p.pins),
        }
        for p in plan.envs
    ]


def github_matrix(
    plan: Plan, cpu_runner: str, gpu_runner: str | None, stage: str | None = None
) -> list[dict[str, str]]:
    """The job matrix of a CI workflow: one entry per env that has work in
    `stage` (produce: envs that save the zoo; consume: envs that load it,
    TFLite runtimes and oneDNN variants included, old-era envs not), or in
    either stage when None. GPU envs need a runner label; without one they
    are left out here and reported `unavailable` by the report job."""
    entries = []
    for planned in plan.envs:
        runner = gpu_runner if planned.env.device == "gpu" else cpu_runner
        # An env unavailable for good (TF < 2.14 on GPU) gets no job; one
        # unavailable only because this machine has no GPU does.
        lasting = planned.unavailable not in (None, NO_GPU)
        works = {"produce": planned.env.produces, "consume": planned.env.consumes}
        has_work = works[stage] if stage else any(works.values())
        if runner and has_work and not lasting:
            entries.append({"env": planned.id, "python": planned.env.python, "runner": runner})
    return entries


# -- output -------------------------------------------------------------------


def _print_plan(plan: Plan, settings: Settings, layout: Layout) -> None:
    cells = sum(1 for _ in plan.cells())
    print(
        f"tf-compat-matrix {__version__}: {len(plan.envs)} env(s), "
        f"{len(plan.models)} model(s) x {len(plan.policies)} policy(ies) x "
        f"{len(plan.formats)} format(s), {cells} cells, {settings.effective_jobs()} job(s)"
    )
    for planned in plan.envs:
        where = planned.unavailable and f"unavailable: {planned.unavailable}"
        untabled = planned.env.release.untabled
        mark = f" (untabled: {untabled}, found on the package index)" if untabled else ""
        print(terminal(f"  {planned.id:42} {where or planned.interpreter}{mark}"))
    for line in estimate(plan, layout, settings.effective_jobs()).lines():
        print(terminal(line))


def _print_summary(document: Document, settings: Settings) -> None:
    counts = ", ".join(f"{status} {n}" for status, n in document.summary.items())
    print(f"{len(document.cells)} cells: {counts}")
    if document.pending:
        print(f"{len(document.pending)} cells have no result yet")
    advice = document.advice
    if advice:
        summary = advice["summary"]
        print(
            f"upgrade TF {advice['from']} -> {advice['to']}: {summary['works']} still work, "
            f"{summary['breaks_with_a_way_out']} break with a measured way out, "
            f"{summary['breaks']} break with none"
        )
    found = document.changes
    if found:
        print(f"since the baseline: {found['regressions']} regression(s)")
    print("reports: " + ", ".join(str(p) for p in report_paths(settings.reports)))
    unexplained = len(view.unexplained(document))
    if unexplained:
        print(
            f"{unexplained} failing cell(s) have no known cause (New or unexplained, in compat.md)"
        )
    # The last line says whether the harness can be trusted on this run.
    print(selfcheck.summary(document.self_check))


# -- arguments ------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    # Installed, the tool is `tf-compat-matrix`; from a checkout, `python -m matrix`.
    invoked = Path(sys.argv[0]).name
    parser = argparse.ArgumentParser(
        prog="tf-compat-matrix" if invoked == "tf-compat-matrix" else "python -m matrix",
        description="Does a TensorFlow/Keras model saved in one env load and predict "
        "the same in another? Builds envs, saves the zoo in each, loads every "
        "artifact in every env and reports the differences.",
    )
    parser.add_argument("--version", action="version", version=f"tf-compat-matrix {__version__}")
    commands = parser.add_subparsers(dest="name", required=True, metavar="COMMAND")

    def command(name: str, func: Any, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.set_defaults(command=func)
        from matrix import arguments

        arguments.common(sub)
        return sub

    from matrix import arguments

    arguments.publishing(command("run", run, "Run the whole matrix and write the reports."))
    plan = command("plan", show_plan, "Show the envs and cells a run would have.")
    plan.add_argument("--json", action="store_true", help="print the envs as JSON")
    plan.add_argument(
        "--github-matrix",
        nargs="?",
        const="",
        choices=("", "produce", "consume"),
        metavar="STAGE",
        help="print a compact job matrix for CI: the envs with work in STAGE"
        " (produce or consume), or in either",
    )
    plan.add_argument("--cpu-runner", default="ubuntu-latest", help="runner label for CPU envs")
    plan.add_argument("--gpu-runner", default="", help="runner label for GPU envs (none: skip)")
    plan.add_argument(
        "--estimate",
        action="store_true",
        help="with --github-matrix: the nightly's jobs, longest job, runner minutes, wall time",
    )
    plan.add_argument(
        "--gpu-runners", type=int, default=1, metavar="N", help="GPU runners for --estimate"
    )
    for phase in ("produce", "consume"):
        sub = command(phase, one_phase, f"Run the {phase} phase of one env.")
        sub.add_argument("--env", required=True, help="the env id, e.g. tf2.15-keras2-py3.11-cpu")
        sub.set_defaults(phase=phase)
    rebuild = command("report", report, "Rebuild the reports from stored results (no env runs).")
    rebuild.add_argument(
        "--document",
        metavar="JSON",
        help="rebuild from this compat.json (or .json.gz) instead of the output folder",
    )
    arguments.publishing(rebuild)
    replay = command("repro", repro, "Write a standalone reproduction of one cell and replay it.")
    replay.add_argument(
        "cell",
        metavar="CELL",
        help="producer/consumer/model/policy/format/loader (as compat.md shows)",
    )
    replay.add_argument(
        "--folder", metavar="DIR", help="where to write it (default <output>/repro/...)"
    )
    replay.add_argument(
        "--no-run", action="store_true", help="write the folder without running the script"
    )
    frozen = command("freeze", freeze, "Copy envs' saved artifacts into the gold store.")
    frozen.add_argument(
        "--store", default=str(GOLD_DIR), metavar="DIR", help="the gold store (default gold/)"
    )
    checking = commands.add_parser(
        "check",
        help="Predict, in seconds and without building an env, whether a model file "
        "survives a release (exit 0 works, 1 breaks, 3 unknown, 2 bad usage).",
    )
    from matrix.check import command as check

    check.add_arguments(checking)
    checking.set_defaults(command=check.run)
    found = commands.add_parser(
        "findings", help="Write docs/findings.md and the numbers of the docs from the reports."
    )
    found.set_defaults(command=findings)
    found.add_argument("--check", action="store_true", help="only say where the docs disagree")
    found.add_argument("--root", default=".", help="the checkout (default: this folder)")
    from matrix import bisect as bisection
    from matrix import discovery

    for name, module, text in (
        ("releases", discovery,
         "Ask the package index for releases the table lacks and patches that moved."),
        ("bisect", bisection,
         "Find the first patch release where each failure group between two measured "
         "releases changes (measuring only that group's cells)."),
    ):  # fmt: skip
        sub = commands.add_parser(name, help=text, description=text)
        module.add_arguments(sub)
        sub.set_defaults(command=module.run)
    merged = command("merge", merge, "Merge the output folders of CI shards and report.")
    merged.add_argument("shards", nargs="+", metavar="DIR", help="output folders of shards")
    arguments.publishing(merged)
    return parser
