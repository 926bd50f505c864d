"""Bisection to the release: the first patch where a failure group changes.

A *group* is the failing cells of one cause (or status) between one pair of
measured releases of one family that sit next to each other in the report
(TF minors, Keras 3 minors, LiteRT runtimes) with everything else equal:
the producer varies (a file of 3.12 loads in 3.3, one of 3.15 does not) or
the consumer does (2.15 reads an h5 that 2.16 refuses). Between the two
measured versions lie the patch releases the package index lists; the
outcome is assumed to change once, and a binary search measures only the
group's cells (its models, policies, formats and loaders, against the one
env that stays) in log2 of the candidates: each candidate is an env of its
own, `keras3.14-tensorflow-py3.11-cpu-v3.14.0`, one patch pinned.

The answer is data (`<reports>/bisect.json`; `--record` keeps it with the
known causes in `matrix/results/bisections.json`): "broken in 3.13.0 (3.12.4
works)" or "fixed in 2.16.2", which the report shows on the cause and the
upgrade answer uses for what to pin. A candidate that fails to install is
a line in the answer and the search goes on without it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from matrix import axes, discovery, files
from matrix.files import JsonObject
from matrix.results.cells import Cell
from matrix.results.document import Document
from matrix.selection.env import Env
from matrix.status import READ_FAILURES

RECORDED = Path(__file__).with_name("results") / "bisections.json"
SCHEMA_VERSION = 1
PASSING = frozenset({"identical", "close"})


@dataclass(frozen=True)
class Group:
    """Failing cells whose outcome differs between two measured releases."""

    cause: str  # the known cause's id, else the status
    side: str  # producer | consumer: the side that varies
    family: str
    good: Env  # the varied env where the cells pass
    bad: Env  # ... and where they fail
    fixed: str  # the env id that stays
    cells: tuple[tuple[str, str, str, str], ...]  # (model, policy, format, loader)

    @property
    def id(self) -> str:
        return f"{self.cause}:{self.side}:{self.good.id}..{self.bad.id}:{self.fixed}"

    @property
    def regression(self) -> bool:
        """Newer fails (a break to find), rather than newer passes (a fix)."""
        return self.bad.release.version > self.good.release.version


@dataclass
class Bisection:
    group: Group
    package: str
    good_version: str
    bad_version: str
    candidates: list[str]
    measured: list[JsonObject] = field(default_factory=list)
    first: str | None = None  # the first version (ascending) with the newer outcome
    cause: str | None = None  # the known cause, where the measurements explained the group
    last: str | None = None  # the version before it
    problems: list[str] = field(default_factory=list)

    @property
    def words(self) -> str:
        """`fails when saved with keras 3.13.0 or newer (3.12.4 works)`."""
        if self.first is None:
            return "not found: " + ("; ".join(self.problems) or "no candidate between them")
        verb = "saved" if self.group.side == "producer" else "loaded"
        now, before = ("fails", "works") if self.group.regression else ("works", "fails")
        return f"{now} when {verb} with {self.package} {self.first} or newer ({self.last} {before})"

    def to_dict(self) -> JsonObject:
        g = self.group
        return {
            "group": g.id,
            "cause": self.cause or g.cause,
            "side": g.side,
            "family": g.family,
            "package": self.package,
            "fixed_env": g.fixed,
            "good": {"env": g.good.id, "version": self.good_version},
            "bad": {"env": g.bad.id, "version": self.bad_version},
            "cells": [list(c) for c in g.cells],
            "kind": "broken" if g.regression else "fixed",
            "first": self.first,
            "last": self.last,
            "words": self.words,
            "candidates": self.candidates,
            "measured": self.measured,
            "steps": len(self.measured),
            "problems": self.problems,
        }


# -- groups -----------------------------------------------------------------------


def groups(document: Document) -> list[Group]:
    """Every group of the document, the ones with most cells first."""
    envs = {state.id: state.env for state in document.envs}
    by_key = {c.key: c for c in document.cells}
    found: dict[tuple[Any, ...], set[tuple[str, str, str, str]]] = {}
    for cell in document.cells:
        if cell.status not in READ_FAILURES or cell.from_user:
            continue
        for side in ("producer", "consumer"):
            varied = envs.get(getattr(cell, side))
            if varied is None or varied.exact:
                continue
            for neighbour in _neighbours(varied, envs.values()):
                other = _swap(cell, side, neighbour.id)
                if other is None or by_key.get(other) is None:
                    continue
                if by_key[other].status not in PASSING:
                    continue
                fixed = cell.consumer if side == "producer" else cell.producer
                key = (cell.known or cell.status, side, neighbour.id, varied.id, fixed)
                found.setdefault(key, set()).add(
                    (cell.model, cell.policy, cell.format, cell.loader)
                )
    made = [
        Group(cause, side, envs[good].release.family, envs[good], envs[bad], fixed,
              tuple(sorted(cells)))
        for (cause, side, good, bad, fixed), cells in found.items()
    ]  # fmt: skip
    # One question per cause, side and pair of releases: another env that
    # stays asks it again (the one with most cells answers).
    kept: dict[tuple[str, str, str, str], Group] = {}
    for group in sorted(made, key=lambda g: (-len(g.cells), g.id)):
        kept.setdefault((group.cause, group.side, group.good.id, group.bad.id), group)
    return list(kept.values())


def _neighbours(env: Env, every: Iterable[Env]) -> list[Env]:
    """The measured envs next to it among its family's releases, everything
    else equal: the nearest older and the nearest newer one."""
    same = [
        e
        for e in every
        if e.release.family == env.release.family
        and (e.flavour, e.python, e.device, e.onednn_off, e.keras)
        == (env.flavour, env.python, env.device, env.onednn_off, env.keras)
        and not e.exact
        and not e.release.nightly
        and e.tf != env.tf
    ]
    older = [e for e in same if e.release.version < env.release.version]
    newer = [e for e in same if e.release.version > env.release.version]
    found = []
    if older:
        found.append(max(older, key=lambda e: e.release.version))
    if newer:
        found.append(min(newer, key=lambda e: e.release.version))
    return found


def _swap(cell: Cell, side: str, env_id: str) -> tuple[str, str, str, str, str, str] | None:
    producer, consumer = cell.producer, cell.consumer
    if side == "producer":
        producer = env_id
    else:
        consumer = env_id
    return (producer, consumer, cell.model, cell.policy, cell.format, cell.loader)


# -- candidates ---------------------------------------------------------------


def package_of(env: Env) -> str:
    """The package whose patch releases the family's envs pin."""
    if env.release.family == "tensorflow":
        return "tensorflow-cpu" if env.device == "cpu" else "tensorflow"
    return discovery.PACKAGES[env.release.family]


def installed(document: Document, env_id: str, package: str) -> str | None:
    """The version of a package an env of the document ran."""
    for state in document.envs:
        if state.id != env_id:
            continue
        for line in state.freeze:
            name, sep, version = line.partition("==")
            if sep and name.strip().lower().replace("_", "-") == package:
                return version.strip()
        if package == "keras":
            return state.keras
        if package.startswith("tensorflow"):
            return state.tensorflow
        runtime = state.versions.runtime if state.versions else None
        if runtime and runtime.split()[0] == package:  # "ai-edge-litert 2.3.0"
            return runtime.split()[-1]
    return None


def candidates(versions: Iterable[str], low: str, high: str) -> list[str]:
    """Final releases strictly between two versions, ascending."""
    lo, hi = sorted((Version(low), Version(high)))
    found = []
    for text in versions:
        try:
            version = Version(text)
        except InvalidVersion:
            continue
        if lo < version < hi and not version.is_prerelease and not version.is_devrelease:
            found.append(version)
    return [str(v) for v in sorted(found)]


def candidate_env(template: Env, version: str) -> Env | None:
    """The env of one patch release: the template's flavour, Python and
    device, on the release table's entry of that version's minor."""
    minor = ".".join(version.split(".")[:2])
    key = minor if template.release.family == "tensorflow" else f"{template.release.family}{minor}"
    release = axes.RELEASES.get(key)
    if release is None or template.python not in release.pythons:
        return None
    return Env(key, template.flavour, template.python, template.device, exact=version)


# -- the search -----------------------------------------------------------------


# Measures the group's cells with the candidate env: "bad", "good", or the
# reason it could not ("the env did not install: ...").
Measure = Callable[[Group, Env], str]


def bisect(
    group: Group, versions: Iterable[str], good: str, bad: str, *, measure: Measure, budget: int
) -> Bisection:
    """Binary search over the patch releases between the two measured ones
    for the first (ascending) whose outcome is the newer release's."""
    package = package_of(group.bad)
    between = candidates(versions, good, bad)
    found = Bisection(group, package, good, bad, list(between))
    ascending_good = Version(good) < Version(bad)  # a break: good first
    # The known ends: index -1 is the older measured version, len the newer.
    lo, hi = -1, len(between)
    while hi - lo > 1 and len(found.measured) < budget:
        middle = (lo + hi) // 2
        env = candidate_env(group.bad, between[middle])
        outcome = measure(group, env) if env is not None else "not in the release table"
        found.measured.append(
            {"version": between[middle], "env": env.id if env else None, "outcome": outcome}
        )
        if outcome not in ("good", "bad"):
            found.problems.append(f"{package} {between[middle]}: {outcome}")
            del between[middle]
            hi -= 1
            continue
        newer_outcome = "bad" if ascending_good else "good"
        if outcome == newer_outcome:
            hi = middle
        else:
            lo = middle
    if hi - lo > 1:
        found.problems.append(f"budget of {budget} measurements spent")
        return found
    ordered = [min(good, bad, key=Version), *between, max(good, bad, key=Version)]
    found.first, found.last = ordered[hi + 1], ordered[hi]
    return found


# -- measuring with the tool itself -----------------------------------------------


# The known causes the measurements found for a group (by group id): an
# unexplained group of the report may be explained by today's table.
EXPLAINED: dict[str, set[str]] = {}


def tool_measure(work: Path, envdir: Path) -> Measure:
    """Measure a group's cells by running the matrix on the two envs (the one
    that stays and the candidate) in one output folder per group, so what
    stays is produced once."""

    def measure(group: Group, env: Env) -> str:
        from matrix import cli

        out = work / _slug(group.id)
        models = sorted({c[0] for c in group.cells})
        keys = {
            "policies": sorted({c[1] for c in group.cells}),
            "formats": sorted({c[2] for c in group.cells}),
            "loaders": sorted({c[3] for c in group.cells}),
        }
        args = ["run", "--envs", group.fixed, env.id, "--models", *models]
        for name, values in keys.items():
            args += [f"--{name}", *values]
        args += ["--gold", "none", "--no-history", "--output", str(out / "out"),
                 "--reports", str(out / env.id), "--envdir", str(envdir),
                 "--releases", "table"]  # fmt: skip
        code = cli.main(args)
        if code not in (0, 1):
            return f"the run failed (exit {code})"
        from matrix.report import jsonfile

        document = jsonfile.read(out / env.id / "compat.json")
        states = {s.id: s for s in document.envs}
        if states.get(env.id) is None or states[env.id].status != "ok":
            why = states[env.id].reason if env.id in states else "not planned"
            return f"the env did not install: {why}"
        producer, consumer = (
            (env.id, group.fixed) if group.side == "producer" else (group.fixed, env.id)
        )
        wanted = {(producer, consumer, *c) for c in group.cells}
        cells = [c for c in document.cells if c.key in wanted]
        if not cells:
            return "none of the group's cells was measured"
        # The group's failure, not another one: a cell that fails for
        # another cause there is not this group's change. An unexplained
        # group (its cause is a status) matches by status: this run may
        # explain what the report's run did not.
        unexplained = group.cause in READ_FAILURES
        failing = [
            c
            for c in cells
            if c.status in READ_FAILURES and (c.status if unexplained else c.known) == group.cause
        ]
        EXPLAINED.setdefault(group.id, set()).update(c.known for c in failing if c.known)
        return "bad" if failing else "good"

    return measure


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", text)[:120]


# -- recorded answers -------------------------------------------------------------


def write(found: list[Bisection], path: Path) -> None:
    when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    files.write_json(path, {"schema_version": SCHEMA_VERSION, "when": when,
                            "bisections": [b.to_dict() for b in found]})  # fmt: skip


def record(found: list[Bisection], path: Path = RECORDED) -> None:
    """Keep the answers that found a version beside the known causes (one
    per group; a newer answer replaces an older one of the same group)."""
    kept = {b["group"]: b for b in recorded(path)}
    for bisection in found:
        if bisection.first is not None:
            kept[bisection.group.id] = bisection.to_dict()
    data = {
        "schema_version": SCHEMA_VERSION,
        "bisections": sorted(kept.values(), key=lambda b: b["group"]),
    }
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def recorded(path: Path = RECORDED) -> list[JsonObject]:
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return list(data.get("bisections") or [])


def by_cause(path: Path = RECORDED) -> Mapping[str, list[JsonObject]]:
    """Recorded answers by the known cause they bisect."""
    found: dict[str, list[JsonObject]] = {}
    for entry in recorded(path):
        found.setdefault(str(entry["cause"]), []).append(entry)
    return found


def clean(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)


# -- the command ------------------------------------------------------------------


def add_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--document",
        default=None,
        metavar="JSON",
        help="the report whose groups to bisect (default reports/compat.json, or its .gz)",
    )
    sub.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="TEXT",
        help="only groups whose id contains TEXT (repeat: any of them)",
    )
    sub.add_argument("--list", action="store_true", help="list the groups, measure nothing")
    sub.add_argument(
        "--budget",
        type=int,
        default=16,
        metavar="N",
        help="measurements in all (each one env built and one run)",
    )
    sub.add_argument(
        "--record",
        action="store_true",
        help="keep the answers with the known causes (matrix/results/bisections.json)",
    )
    sub.add_argument("--output", default="build/bisect", metavar="DIR")
    sub.add_argument("--envdir", default=".nox", metavar="DIR")
    sub.add_argument("--reports", default="reports", metavar="DIR", help="where bisect.json goes")
    sub.add_argument("--index", metavar="URL", help="the Simple API listing the patches")


def run(args: argparse.Namespace) -> int:
    """Bisect the document's failure groups within a budget of measurements;
    exit 0 when every group bisected found its version, 1 otherwise, 2 on
    bad input."""
    from matrix.escape import terminal
    from matrix.report import jsonfile

    path = Path(args.document) if args.document else jsonfile.published(Path("reports/compat.json"))
    try:
        document = jsonfile.read(path)
    except (OSError, ValueError, KeyError, EOFError) as exc:
        print(f"error: Invalid --document {path}: expected a compat.json ({exc})",
              file=sys.stderr)  # fmt: skip
        return 2
    chosen = [g for g in groups(document)
              if not args.group or any(text in g.id for text in args.group)]  # fmt: skip
    print(f"{len(chosen)} failure group(s) change between two measured releases")
    if args.list or not chosen:
        for group in chosen:
            print(terminal(f"  {group.id} ({len(group.cells)} cell(s))"))
        return 0
    found = discovery.discover(discovery._slash(args.index) if args.index else None)
    if found.offline:
        print(f"error: no package index to list patch releases: {found.offline}", file=sys.stderr)
        return 2
    measure = tool_measure(Path(args.output), Path(args.envdir))
    done: list[Bisection] = []
    budget = args.budget
    for group in chosen:
        if budget <= 0:
            print(terminal(f"  {group.id}: not bisected (budget of {args.budget} spent)"))
            continue
        package = package_of(group.bad)
        good = installed(document, group.good.id, package)
        bad = installed(document, group.bad.id, package)
        if good is None or bad is None:
            print(terminal(f"  {group.id}: the report does not say which {package} ran"))
            continue
        with contextlib.redirect_stdout(sys.stderr):  # the runs' progress
            result = bisect(group, found.versions.get(package, []), good, bad,
                            measure=measure, budget=budget)  # fmt: skip
        budget -= len(result.measured)
        explained = EXPLAINED.get(group.id, set())
        if group.cause in READ_FAILURES and len(explained) == 1:
            result.cause = next(iter(explained))
        done.append(result)
        steps = f"{len(result.measured)} of {len(result.candidates)} candidates measured"
        print(terminal(f"  {group.id}: {result.words} ({steps})"))
    write(done, Path(args.reports) / "bisect.json")
    if args.record:
        record(done)
    print(f"measurements used: {args.budget - budget} of {args.budget}")
    return 0 if all(b.first for b in done) else 1
