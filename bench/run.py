"""`nox -s bench`: what the matrix costs, measured against the naive way.

A benchmark, not a test: it never runs in CI. On one fixed selection (the
first N envs of ENV_ORDER, spanning Keras 2, Keras 3 and tf-keras; the
spine's zoo; every format and loader) it measures side by side:

- tool-cold: `python -m matrix run` with an empty result cache (envs reused);
- tool-rerun: the same command again, nothing changed;
- naive: bench/naive_noxfile.py, nox's defaults, one session per env pair;
- naive-reuse: the same naive noxfile again with nox's `-r` over the venvs
  it built, so what the naive way loses without rebuilding envs shows;
- floor: one TensorFlow import per env and phase plus the in-process time of
  every build, train, save, load and predict, as the probes measured them,
  divided by the parallelism used.

It breaks the floor down (probe start-ups; per phase, format and loader the
in-probe seconds per cell; the host's compare and rendering), checks that
removing an env computes nothing and adding one computes exactly the cells
that involve it, simulates the nightly's nights (cold; unchanged, restored
from the last night's cache; one env changed), and writes build/bench.json.

    python bench/run.py [--envs 4] [--no-naive] [--scaling 2 4 8]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matrix import axes, files  # noqa: E402
from matrix.paths import PROBES_DIR, Layout  # noqa: E402
from matrix.report import jsonfile  # noqa: E402
from matrix.results import store  # noqa: E402
from matrix.results.document import Document  # noqa: E402
from matrix.results.ledger import Fate, PlannedCell  # noqa: E402
from matrix.results.records import ArtifactEntry  # noqa: E402
from matrix.selection import machine  # noqa: E402
from matrix.selection.env import Env  # noqa: E402
from matrix.selection.plan import CellKey, Plan, make_plan  # noqa: E402
from matrix.settings import Settings  # noqa: E402
from matrix.status import Status  # noqa: E402

ENV_ORDER = [
    "tf2.15-keras2-py3.11-cpu",
    "tf2.21-keras3-py3.11-cpu",
    "tf2.18-tf-keras-py3.11-cpu",
    "tf2.18-keras3-py3.11-cpu",
    "tf2.12-keras2-py3.11-cpu",
    "tf2.16-keras3-py3.11-cpu",
    "tf2.20-keras3-py3.11-cpu",
    "tf2.14-keras2-py3.11-cpu",
    "tf2.17-keras3-py3.11-cpu",
]
MODELS = ["mlp", "cnn", "lstm", "custom"]  # the spine's zoo
POLICIES = ["float32", "mixed_float16"]
FORMATS = ["h5", "keras", "savedmodel", "weights"]
LOADERS = ["keras", "saved-model", "serving", "tfsm-layer"]
JOBS = 2
WORK = ROOT / "build" / "bench"
MEASURED = Status.values(lambda s: s.measured)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=4, help="envs in the selection (2-8)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive way")
    parser.add_argument(
        "--scaling",
        type=int,
        nargs="*",
        default=[],
        metavar="N",
        help="also time tool-cold at these env counts",
    )
    parser.add_argument(
        "--only-scaling",
        action="store_true",
        help="time only the --scaling runs and add them to an existing build/bench.json",
    )
    args = parser.parse_args(argv)
    if args.only_scaling:
        return _only_scaling(args.scaling)
    envs = ENV_ORDER[: args.envs]
    report: dict[str, Any] = {
        "when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "selection": {
            "envs": envs,
            "models": MODELS,
            "policies": POLICIES,
            "formats": FORMATS,
            "loaders": LOADERS,
            "jobs": JOBS,
        },
    }
    _prepare(ENV_ORDER[: args.envs + 1])
    report["check_agreement"] = _check_agreement()
    report["tool_cold"] = _tool(envs, WORK / "tool", fresh=True)
    report["nights"] = _nights(envs, report["tool_cold"], WORK / "tool", WORK / "nights")
    report["check_speed"] = _check_speed(WORK / "tool" / "artifacts")
    report["floor"] = _floor(envs, WORK / "tool")
    report["breakdown"] = _breakdown(envs, WORK / "tool")
    report["tool_rerun"] = _tool(envs, WORK / "tool", fresh=False)
    report["incremental"] = _incremental(envs, ENV_ORDER[args.envs], WORK / "tool")
    if not args.no_naive:
        report["naive"] = _naive(envs, WORK / "naive")
        report["naive_reuse"] = _naive_again(envs, WORK / "naive")
    report["scaling"] = {
        str(n): _tool(ENV_ORDER[:n], WORK / f"scale-{n}", fresh=True) for n in args.scaling
    }
    files.write_json(ROOT / "build" / "bench.json", report)
    print(_table(report))
    return 0


def _only_scaling(counts: list[int]) -> int:
    """Long scaling runs (8 envs take minutes) can be added on another night."""
    path = ROOT / "build" / "bench.json"
    report: dict[str, Any] = json.loads(path.read_text("utf-8"))
    _prepare(ENV_ORDER[: max(counts, default=0)])
    for n in counts:
        report["scaling"][str(n)] = _tool(ENV_ORDER[:n], WORK / f"scale-{n}", fresh=True)
    files.write_json(path, report)
    print(_table(report))
    return 0


def _machine() -> dict[str, Any]:
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
    }


def _args(envs: list[str], out: Path) -> list[str]:
    return [
        "--envs",
        *envs,
        "--models",
        *MODELS,
        "--policies",
        *POLICIES,
        "--formats",
        *FORMATS,
        "--loaders",
        *LOADERS,
        "--jobs",
        str(JOBS),
        "--output",
        str(out),
        "--reports",
        str(out / "reports"),
        "--envdir",
        str(ROOT / ".nox"),
    ]


def _prepare(envs: list[str]) -> None:
    """Build the envs first (not timed: the tool reuses envs between runs)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "matrix",
            "run",
            *_args(envs, WORK / "prepare"),
            "--models",
            "mlp",
            "--formats",
            "h5",
            "--policies",
            "float32",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def _tool(envs: list[str], out: Path, fresh: bool) -> dict[str, Any]:
    if fresh:
        shutil.rmtree(out, ignore_errors=True)
    before = _fingerprint(out)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "matrix", "run", *_args(envs, out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"matrix run failed:\n{done.stdout}\n{done.stderr}")
    after = _fingerprint(out)
    return {
        "seconds": round(seconds, 2),
        "envs": len(envs),
        "new_result_lines": after["lines"] - before["lines"],
        "probe_starts": after["starts"] - before["starts"],
        "cells": len(_document(out).cells),
        "stages": _stage_seconds(done.stdout),
    }


def _stage_seconds(output: str) -> dict[str, float]:
    """Seconds per stage, summed over envs, from the run's `[stage] env: ... in N s` lines."""
    found: dict[str, float] = {}
    for line in output.splitlines():
        match = re.match(r"^\[(\w+)\] \S+: .* in ([0-9.]+) s$", line)
        if match:
            found[match[1]] = round(found.get(match[1], 0.0) + float(match[2]), 2)
    return found


def _fingerprint(out: Path) -> dict[str, int]:
    """Result lines and probe starts so far: what a run added is the difference."""
    lines = sum(len(p.read_bytes().splitlines()) for p in (out / "results").glob("*.jsonl"))
    starts = sum(
        p.read_text(errors="replace").count("[compat-matrix] attempt")
        for p in (out / "logs").rglob("*.log")
    )
    return {"lines": lines, "starts": starts}


def _document(out: Path) -> Document:
    return jsonfile.load_document((out / "reports" / "compat.json").read_text("utf-8"))


def _floor(envs: list[str], out: Path) -> dict[str, Any]:
    """The irreducible work of the cold run, as measured inside the probes."""
    layout = Layout(out, ROOT / ".nox")
    imports = produce = consume = 0.0
    for env_id in envs:
        state = store.read_env_state(layout, Env.parse(env_id))
        for phase in ("produce", "consume"):
            imports += (state.phase_record(phase).startups or (0.0,))[0]
        builds: dict[tuple[str, str], float] = {}
        for entry in store.read_manifest(layout, env_id).artifacts.values():
            produce += entry.seconds or 0.0
            builds[(entry.model, entry.policy)] = entry.build_seconds or 0.0
        produce += sum(builds.values())
        for result in store.read_results(layout, env_id).values():
            consume += result.measured.prepare_seconds or 0.0
            for part in result.parts():
                consume += (part.load_seconds or 0.0) + 2 * (part.predict_seconds or 0.0)
    total = imports + produce + consume
    return {
        "seconds": round(total / JOBS, 2),
        "imports": round(imports, 2),
        "produce_work": round(produce, 2),
        "consume_work": round(consume, 2),
        "jobs": JOBS,
    }


def _breakdown(envs: list[str], out: Path) -> dict[str, Any]:
    """Where the cold run's time goes: probe start-ups per phase; per format
    the seconds to build and save; per (format, loader) the in-probe seconds
    per cell (load, predict twice, the per-artifact preparation); and the
    host's share, rebuilding the report from the stored results."""
    layout = Layout(out, ROOT / ".nox")
    startups: dict[str, list[float]] = {"produce": [], "consume": []}
    saving: dict[str, list[float]] = {}
    loading: dict[str, dict[str, float]] = {}
    for env_id in envs:
        state = store.read_env_state(layout, Env.parse(env_id))
        for phase, found in startups.items():
            found.extend(state.phase_record(phase).startups)
        for entry in store.read_manifest(layout, env_id).artifacts.values():
            saving.setdefault(entry.format, []).append(entry.seconds or 0.0)
        for result in store.read_results(layout, env_id).values():
            row = loading.setdefault(
                f"{result.format} / {result.loader}",
                {"cells": 0, "loads": 0, "load": 0.0, "predict": 0.0, "prepare": 0.0},
            )
            row["cells"] += 1
            row["prepare"] += result.measured.prepare_seconds or 0.0
            for part in result.parts():
                row["loads"] += 1
                row["load"] += part.load_seconds or 0.0
                row["predict"] += 2 * (part.predict_seconds or 0.0)
    per_cell = {
        name: {
            "cells": int(row["cells"]),
            "loads_per_cell": round(row["loads"] / row["cells"], 2),
            "load_s": round(row["load"] / row["cells"], 4),
            "predict_s": round(row["predict"] / row["cells"], 4),
            "prepare_s": round(row["prepare"] / row["cells"], 5),
            "total_s": round(sum(row[k] for k in ("load", "predict", "prepare")), 2),
        }
        for name, row in sorted(loading.items())
    }
    return {
        "startups": {
            phase: {"count": len(found), "seconds": round(sum(found), 2)}
            for phase, found in startups.items()
        },
        "save_per_artifact_s": {
            fmt: round(sum(found) / len(found), 4) for fmt, found in sorted(saving.items())
        },
        "per_cell": per_cell,
        "host": _host_seconds(envs, out),
    }


def _host_seconds(envs: list[str], out: Path) -> dict[str, Any]:
    """The host's part: building the document (every compare) and rendering it."""
    from matrix.report import html, jsonfile, markdown, svg
    from matrix.results import document as builder

    settings = _settings(envs)
    plan = _plan(envs)
    layout = Layout(out, ROOT / ".nox")
    started = time.monotonic()
    document = builder.build(plan, layout, settings)
    built = time.monotonic() - started
    started = time.monotonic()
    text = markdown.render(document)
    html.render(document, text)
    svg.render(document)
    jsonfile.dumps(document)
    rendered = time.monotonic() - started
    cells = len(document.cells)
    return {
        "cells": cells,
        "compare_s": round(built, 2),
        "compare_ms_per_cell": round(1000 * built / max(cells, 1), 3),
        "render_s": round(rendered, 2),
    }


def _incremental(envs: list[str], extra: str, out: Path) -> dict[str, Any]:
    """Removing an env computes nothing; adding one computes exactly its cells."""
    layout = Layout(out, ROOT / ".nox")
    removed = _tool(envs[:-1], out, fresh=False)
    before = _measured_keys(layout, [*envs, extra])
    added = _tool([*envs, extra], out, fresh=False)
    involving = [
        c
        for c in _document(out).cells
        if extra in (c.producer, c.consumer) and c.status in MEASURED
    ]
    # A result is keyed by content: a cell whose artifact is byte-identical to
    # one the same consumer already loaded (two producers with the same Keras
    # writing the same file) reuses that result, so the cells to compute are
    # the distinct (artifact, consumer, loader) keys not stored before.
    digests = {
        (env_id, *e.key): e.sha256
        for env_id in [*envs, extra]
        for e in store.read_manifest(layout, env_id).artifacts.values()
    }
    keys = {
        (digests[(c.producer, c.model, c.policy, c.format)], c.consumer, c.loader)
        for c in involving
    }
    return {
        "removed": {
            "env": envs[-1],
            "new_result_lines": removed["new_result_lines"],
            "probe_starts": removed["probe_starts"],
        },
        "added": {
            "env": extra,
            "new_result_lines": added["new_result_lines"],
            # Cells a consumer had to measure (not decided from manifests alone).
            "measured_cells_involving": len(involving),
            "expected": len(keys - before),
            "seconds": added["seconds"],
        },
    }


# What the nightly's caches keep of a night (.github/workflows/compat-matrix.yml).
CACHED = ("artifacts", "results", "outputs", "inspections")


def _check_speed(artifacts: Path) -> dict[str, Any]:
    """`check` on files the cold run saved, as a user runs it (a fresh
    process: Python start, inspection and prediction): seconds per file and
    the answer's exit code, the slowest against the 5 s target."""
    producers = sorted(p for p in artifacts.iterdir() if p.is_dir())
    files = [artifacts / producer.name / f"lstm-float32{ext}"
             for producer in producers[:2]
             for ext in (".h5", ".keras", ".savedmodel", ".weights.h5")]  # fmt: skip
    found: dict[str, Any] = {}
    for path in files:
        if not path.exists():
            continue
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "matrix", "check", str(path), "--to", "2.21"],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        found[f"{path.parent.name}/{path.name}"] = {
            "seconds": round(time.monotonic() - started, 2), "exit": done.returncode}  # fmt: skip
    slowest = max((v["seconds"] for v in found.values()), default=0.0)
    return {"files": found, "slowest": slowest, "target": 5.0}


def _check_agreement() -> dict[str, Any]:
    """How often `check` is right over the shipped index, each zoo model
    predicted without its own cells (matrix/check/agreement.py)."""
    from matrix.check import index as check_index
    from matrix.check.agreement import agreement

    started = time.monotonic()
    found = agreement(check_index.read())
    return {**vars(found), "share": round(found.share, 4), "line": found.line(),
            "seconds": round(time.monotonic() - started, 2)}  # fmt: skip


def _nights(envs: list[str], cold: dict[str, Any], first: Path, work: Path) -> dict[str, Any]:
    """Nights as the nightly has them: each restores the last night's cached
    folders into a fresh output folder and runs. The cold night is
    tool-cold; the unchanged night must compute nothing; on the third, one
    env's installed packages changed (a patch release: its fingerprint
    moves, as the record of a rebuilt env would say), and exactly the cells
    that env takes part in are computed again."""
    shutil.rmtree(work, ignore_errors=True)
    unchanged = _night(envs, first, work / "2")
    changed = envs[1]
    record = ROOT / ".nox" / changed / ".matrix-env.json"
    kept = record.read_bytes()
    data = json.loads(kept)
    data["freeze"] = sorted([*data["freeze"], "bench-patch-release==1"])
    before = _result_digests(Layout(work / "2", ROOT / ".nox"), envs)
    record.write_text(json.dumps(data), encoding="utf-8")
    try:
        one = _night(envs, work / "2", work / "3")
    finally:
        record.write_bytes(kept)
    # What must be computed: the cells the changed env takes part in, keyed
    # as the ledger keys them (artifact digest, consumer fingerprint, probe,
    # loader), less the keys the restored cache holds.
    layout3 = Layout(work / "3", ROOT / ".nox")
    fingerprints = {
        env_id: store.read_env_state(layout3, Env.parse(env_id)).fingerprint for env_id in envs
    }
    digests = {
        (env_id, *e.key): e.sha256
        for env_id in envs
        for e in store.read_manifest(layout3, env_id).artifacts.values()
    }
    probe = store.probe_version()
    needed = {
        store.cell_key(digests[(c.producer, c.model, c.policy, c.format)] or "",
                       fingerprints[c.consumer] or "", probe, c.loader)
        for c in _document(work / "3").cells
        if changed in (c.producer, c.consumer) and c.status in MEASURED
    }  # fmt: skip
    return {
        "cold": {"seconds": cold["seconds"], "cells": cold["new_result_lines"]},
        "unchanged": {"seconds": unchanged["seconds"], "cells": unchanged["new_result_lines"]},
        "one_changed": {
            "env": changed,
            "seconds": one["seconds"],
            "cells": one["new_result_lines"],
            # The distinct (artifact, consumer, loader) keys of its cells not
            # stored before: what must be computed, no more.
            "expected": len(needed - before),
        },
        "unchanged_ratio": round(unchanged["seconds"] / cold["seconds"], 4),
    }


def _result_digests(layout: Layout, envs: list[str]) -> set[str]:
    return {key for env_id in envs for key in store.read_results(layout, env_id)}


def _night(envs: list[str], last: Path, out: Path) -> dict[str, Any]:
    """A night that restored `last`'s cached folders (actions/cache) into `out`."""
    out.mkdir(parents=True)
    for name in CACHED:
        if (last / name).is_dir():
            shutil.copytree(last / name, out / name)
    return _tool(envs, out, fresh=False)


def _measured_keys(layout: Layout, envs: list[str]) -> set[tuple[str, str, str]]:
    """(artifact sha256, consumer, loader) of every result the envs have stored."""
    return {
        (r.artifact_sha256, r.consumer, r.loader)
        for env_id in envs
        for r in store.read_results(layout, env_id).values()
    }


# -- the naive way --------------------------------------------------------------


def _naive(envs: list[str], work: Path) -> dict[str, Any]:
    shutil.rmtree(work, ignore_errors=True)
    (work / "tasks").mkdir(parents=True)
    plan = _plan(envs)
    layout = Layout(work / "out", ROOT / ".nox")
    naive_plan: dict[str, Any] = {
        "probes": str(PROBES_DIR),
        "tasks": str(work / "tasks"),
        "envs": [_naive_env(p, plan, layout, work) for p in plan.envs],
    }
    files.write_json(work / "plan.json", naive_plan)
    _warm_pip_cache(naive_plan["envs"])
    started = time.monotonic()
    _naive_session(work, "produce")
    _consume_tasks(plan, layout, work)
    _naive_session(work, "consume")
    seconds = time.monotonic() - started
    sessions = len(envs) + len(envs) ** 2
    return {
        "seconds": round(seconds, 2),
        "envs": len(envs),
        "sessions": sessions,
        "cells": _naive_cells(work),
    }


def _naive_again(envs: list[str], work: Path) -> dict[str, Any]:
    """The naive noxfile a second time with nox's `-r`: its venvs are reused,
    so what is left is its process start-ups and serial sessions."""
    started = time.monotonic()
    _naive_session(work, "produce", reuse=True)
    _naive_session(work, "consume", reuse=True)
    seconds = time.monotonic() - started
    return {"seconds": round(seconds, 2), "envs": len(envs), "cells": _naive_cells(work)}


def _naive_session(work: Path, session: str, reuse: bool = False) -> None:
    """One session of the naive noxfile (every env of it), nox's defaults or `-r`."""
    env = {**os.environ, "NAIVE_PLAN": str(work / "plan.json")}
    noxfile = str(ROOT / "bench" / "naive_noxfile.py")
    command = [sys.executable, "-m", "nox", *(["-r"] if reuse else []), "-f", noxfile]
    command += ["--envdir", str(work / "envs"), "-s", session]
    done = subprocess.run(command, env=env, cwd=ROOT, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(
            f"the naive {session} session failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )


def _settings(envs: list[str]) -> Settings:
    """The benchmark's selection over these envs."""
    return Settings(
        envs=tuple(envs),
        models=tuple(MODELS),
        policies=tuple(POLICIES),
        formats=tuple(FORMATS),
        loaders=tuple(LOADERS),
    )


def _plan(envs: list[str]) -> Plan:
    return make_plan(
        _settings(envs), machine.discover(), gpu_visible=False, host_python=machine.host_version()
    )


def _naive_env(planned: Any, plan: Plan, layout: Layout, work: Path) -> dict[str, Any]:
    from matrix.run.produce import missing_tasks

    root = layout.artifacts(planned.id)
    root.mkdir(parents=True, exist_ok=True)
    tasks = missing_tasks(planned, plan, layout, {})
    path = work / "tasks" / f"produce-{planned.id}.json"
    files.write_json(path, {"tasks": [task.to_dict() for task in tasks]})
    return {
        "id": planned.id,
        "python": str(planned.interpreter),
        "requirements": planned.requirements(),
        # The naive way has no sandbox: the probes run unconfined.
        "environment": {
            **planned.env.environment(),
            "COMPAT_MATRIX_FLAVOUR": planned.env.flavour,
            "COMPAT_MATRIX_THREADS": "0",
            "COMPAT_MATRIX_SANDBOX": "off",
            "COMPAT_MATRIX_NETWORK": "open",
        },
        "produce_tasks": str(path),
    }


def _consume_tasks(plan: Plan, layout: Layout, work: Path) -> None:
    """Task files per (producer, consumer) pair, from what the producers saved."""
    from matrix.run.consume import consume_task
    from matrix.run.produce import artifact_name

    for producer in plan.envs:
        root = layout.artifacts(producer.id)
        for consumer in plan.envs:
            tasks = []
            for model in plan.models:
                for policy in plan.policies:
                    for fmt in plan.formats:
                        name = artifact_name(producer, layout, model, policy, fmt)
                        if not (root / name).exists():
                            continue
                        entry = _entry(root, name, model, policy, fmt, layout)
                        for loader in plan.loaders_for(fmt):
                            rule = axes.LOADER_FLAVOURS.get(loader)
                            if rule is not None and consumer.env.flavour not in rule[0]:
                                continue
                            cell = PlannedCell(
                                CellKey(producer.id, consumer.id, model, policy, fmt, loader),
                                Fate.RUNS,
                                entry,
                                digest=f"{model}-{policy}-{fmt}-{loader}",
                            )
                            layout.outputs(consumer.id).mkdir(parents=True, exist_ok=True)
                            tasks.append(consume_task(cell, layout, plan))
            files.write_json(
                work / "tasks" / f"consume-{producer.id}__{consumer.id}.json",
                {"tasks": [task.to_dict() for task in tasks]},
            )


def _entry(  # noqa: PLR0917 - the parts of one manifest entry
    root: Path, name: str, model: str, policy: str, fmt: str, layout: Layout
) -> ArtifactEntry:
    entry = ArtifactEntry(
        model=model,
        policy=policy,
        format=fmt,
        path=name,
        status="saved",
        reference=layout.reference_name(model, policy),
        files=files.hash_tree(root, root / name),
    )
    entry = entry.with_(reference_sha256=files.sha256_file(root / entry.reference))
    return entry.with_(sha256=store.artifact_digest(entry))


def _naive_cells(work: Path) -> int:
    return sum(
        p.read_text().count('"event": "done"') for p in (work / "tasks").glob("consume-*.events")
    )


def _warm_pip_cache(envs: list[dict[str, Any]]) -> None:
    """pip downloads once, untimed: the tool's runs start with a warm cache too."""
    for env in envs:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "-d",
                str(WORK / "pip-download"),
                *env["requirements"],
            ],
            check=False,
            capture_output=True,
        )


# -- output -----------------------------------------------------------------------


def _table(report: dict[str, Any]) -> str:
    cold = report["tool_cold"]["seconds"]
    floor = report["floor"]["seconds"]
    rerun = report["tool_rerun"]["seconds"]
    rows = [
        ("tool-cold", cold, "1.00"),
        ("floor", floor, f"tool-cold / floor = {cold / floor:.2f}  (target <= 1.3)"),
        (
            "tool-rerun",
            rerun,
            f"{100 * rerun / cold:.1f}% of tool-cold, {report['tool_rerun']['probe_starts']} "
            "TensorFlow processes  (target <= 5%, 0)",
        ),
    ]
    if "naive" in report:
        naive = report["naive"]["seconds"]
        rows.append(("naive", naive, f"naive / tool-cold = {naive / cold:.2f}  (target >= 5)"))
    if "naive_reuse" in report:
        reuse = report["naive_reuse"]["seconds"]
        rows.append(
            ("naive-reuse", reuse, f"naive -r / tool-cold = {reuse / cold:.2f}  (venvs reused)")
        )
    lines = [
        f"selection: {len(report['selection']['envs'])} envs, {report['tool_cold']['cells']} cells",
        f"{'measure':<12} {'seconds':>9}  ratio",
    ]
    lines += [f"{name:<12} {seconds:>9.1f}  {ratio}" for name, seconds, ratio in rows]
    inc = report["incremental"]
    lines.append(
        f"remove {inc['removed']['env']}: {inc['removed']['new_result_lines']} new results, "
        f"{inc['removed']['probe_starts']} probe starts (target 0)"
    )
    added = inc["added"]
    lines.append(
        f"add {added['env']}: {added['new_result_lines']} new results; "
        f"{added['measured_cells_involving']} measured cells involve it, "
        f"{added['expected']} distinct results not stored before (target: equal)"
    )
    nights = report["nights"]
    lines.append(
        f"nights: cold {nights['cold']['seconds']:.1f} s / {nights['cold']['cells']} cells; "
        f"unchanged {nights['unchanged']['seconds']:.1f} s / {nights['unchanged']['cells']} cells "
        f"({100 * nights['unchanged_ratio']:.1f}% of cold; target 0 cells, < 5%); "
        f"{nights['one_changed']['env']} changed {nights['one_changed']['seconds']:.1f} s / "
        f"{nights['one_changed']['cells']} cells (expected {nights['one_changed']['expected']})"
    )
    if "check_speed" in report:
        speed = report["check_speed"]
        lines.append(
            f"check: {len(speed['files'])} files, the slowest {speed['slowest']:.2f} s "
            f"(target < {speed['target']:.0f} s)"
        )
    if "check_agreement" in report:
        lines.append(f"check: {report['check_agreement']['line']}")
    lines += _breakdown_lines(report.get("breakdown"))
    for count, run in report["scaling"].items():
        lines.append(f"scaling: {count} envs -> {run['seconds']:.1f} s, {run['cells']} cells")
    return "\n".join(lines)


def _breakdown_lines(found: dict[str, Any] | None) -> list[str]:
    if not found:
        return []
    starts = ", ".join(
        f"{phase} {s['count']} x, {s['seconds']:.1f} s" for phase, s in found["startups"].items()
    )
    saves = ", ".join(f"{fmt} {s:.2f} s" for fmt, s in found["save_per_artifact_s"].items())
    lines = [
        f"probe start-ups: {starts}",
        f"saving, per artifact: {saves}",
        f"{'format / loader':<24} {'cells':>6} {'loads':>6} {'load s':>8} {'predict s':>9} "
        f"{'prep s':>8} {'total s':>8}",
    ]
    for name, row in found["per_cell"].items():
        lines.append(
            f"{name:<24} {row['cells']:>6} {row['loads_per_cell']:>6} {row['load_s']:>8.3f} "
            f"{row['predict_s']:>9.3f} {row['prepare_s']:>8.4f} {row['total_s']:>8.1f}"
        )
    host = found["host"]
    lines.append(
        f"host: compare {host['compare_s']:.1f} s ({host['compare_ms_per_cell']:.2f} ms per "
        f"cell over {host['cells']} cells), render {host['render_s']:.1f} s"
    )
    return lines


if __name__ == "__main__":
    sys.exit(main())
