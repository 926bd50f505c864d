"""What a plan will cost before it runs: envs to build, disk, time.

The figures are measured on a 2-core, 24 GB machine with no GPU (the
default matrix and the full preset, docs/performance.md) and scaled by the
plan's counts and `--jobs`. They are estimates for deciding whether to start
now or tonight, not promises: a cold uv cache downloads about 600 MB per
TensorFlow wheel, and stored results that are still valid are not redone.
"""

from __future__ import annotations

from dataclasses import dataclass

from matrix.envs.provision import VenvRecord, reused_record
from matrix.paths import Layout, is_gold_producer, is_user_producer
from matrix.results import store
from matrix.results.ledger import Fate, Ledger, ledger
from matrix.results.records import EnvState
from matrix.selection.plan import Plan, PlannedEnv

# Seconds, measured per job while `jobs` probes share the machine.
BUILD_SECONDS = 25.0  # one env, TensorFlow already in uv's cache
BUILD_SECONDS_COLD = 120.0  # the same with nothing cached
PRODUCE_SECONDS_PER_ARTIFACT = 0.55
CONSUME_SECONDS_PER_CELL = 0.14
ARTIFACTS_MB_PER_ENV = 9.0
RESULTS_KB_PER_CELL = 0.7


@dataclass(frozen=True)
class Estimate:
    envs: int
    to_build: int
    cells: int
    artifacts: int
    disk_gb: float
    seconds: float
    seconds_cold: float
    # What the output folder already holds for this probe and these envs.
    artifacts_done: int = 0
    cells_done: int = 0

    def lines(self) -> list[str]:
        if self.to_build:
            time = (
                f"{_duration(self.seconds)} with TensorFlow wheels in uv's cache, "
                f"{_duration(self.seconds_cold)} without"
            )
        else:
            time = _duration(self.seconds)
        return [
            f"envs: {self.envs} to run, {self.to_build} to build "
            f"({self.envs - self.to_build} built already)",
            f"disk: up to {self.disk_gb:.1f} GB (new envs, uv's cache, the output folder)",
            f"stored: {self.artifacts_done} of {self.artifacts} artifacts and "
            f"{self.cells_done} of {self.cells} cells are reused from the output folder",
            f"time: {time} (rates measured on 2 cores, for what is not stored yet)",
        ]


def estimate(plan: Plan, layout: Layout, jobs: int) -> Estimate:
    runnable = [p for p in plan.envs if not p.unavailable and p.interpreter is not None]
    # None: the env is (re)built first; otherwise what its cells are keyed by.
    records = {p.id: reused_record(p, layout) for p in runnable}
    built: set[str] = set()
    to_build = []
    for planned in runnable:
        venv = planned.env.venv_id
        if venv not in built and records[planned.id] is None:
            to_build.append(planned)
        built.add(venv)
    producers = [p for p in runnable if p.env.produces]
    found = _ledger(plan, layout, runnable, records)
    artifacts = len(found.artifacts)
    cells = len(found.cells)
    disk = sum(p.env.release.env_disk_gb(p.env.flavour) for p in to_build)
    disk += len(producers) * ARTIFACTS_MB_PER_ENV / 1024 + cells * RESULTS_KB_PER_CELL / 2**20
    artifacts_done = sum(1 for a in found.artifacts if a.entry is not None and a.entry.attempted)
    cells_done = sum(1 for c in found.cells if c.fate is not Fate.NO_ENTRY and not c.pending)
    work = (artifacts - artifacts_done) * PRODUCE_SECONDS_PER_ARTIFACT
    work += (cells - cells_done) * CONSUME_SECONDS_PER_CELL
    lanes = max(1, min(jobs, len(runnable) or 1))
    return Estimate(
        envs=len(runnable),
        to_build=len(to_build),
        cells=cells,
        artifacts=artifacts,
        disk_gb=disk,
        seconds=(work + len(to_build) * BUILD_SECONDS) / lanes,
        seconds_cold=(work + len(to_build) * BUILD_SECONDS_COLD) / lanes,
        artifacts_done=artifacts_done,
        cells_done=cells_done,
    )


def _ledger(
    plan: Plan,
    layout: Layout,
    running: list[PlannedEnv],
    records: dict[str, VenvRecord | None],
) -> Ledger:
    """The ledger as it will stand once the envs are ready: the cells of envs
    that run here (and of gold and user producers), each env keyed by the
    record it will be reused with (none for an env to be built: all its
    cells are work); a producer whose manifest another probe version or env
    made will save everything anew."""
    probe = store.probe_version()
    states = {}
    for planned in running:
        record = records[planned.id]
        states[planned.id] = EnvState(
            planned.env,
            fingerprint=record.fingerprint if record else None,
            freeze=record.freeze if record else (),
        )
    redone = set()
    for planned in running:
        if planned.env.produces:
            manifest = store.read_manifest(layout, planned.id)
            current = states[planned.id].fingerprint
            if manifest.probe != probe or current is None or manifest.env_fingerprint != current:
                redone.add(planned.id)
    keys = [
        c
        for c in plan.cells()
        if c.consumer in states
        and (c.producer in states or is_user_producer(c.producer) or is_gold_producer(c.producer))
    ]
    return ledger(plan, layout, states, keys=keys, redone=frozenset(redone), inspect="later")


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return "under a minute"
    if minutes < 90:
        return f"about {minutes} min"
    return f"about {minutes // 60} h {minutes % 60:02d} min"


# -- the sharded nightly (.github/workflows/compat-matrix.yml) ---------------------

# A CI job's fixed part: checkout, setup-python with its Pythons, installing
# the host package, moving artifacts. Envs are built cold on a fresh runner.
JOB_SETUP_SECONDS = 90.0
REPORT_SECONDS_PER_CELL = 0.0006  # merge + compare + render, measured with `report`
CONCURRENT_JOBS = 20  # GitHub's concurrent job limit for a free account


@dataclass(frozen=True)
class Job:
    name: str
    env: str
    device: str
    seconds: float


@dataclass(frozen=True)
class Nightly:
    jobs: tuple[Job, ...]
    gpu_runners: int
    concurrency: int
    setup_seconds: float
    report_seconds: float

    def half(self, device: str) -> list[Job]:
        return [j for j in self.jobs if j.device == device]

    def wall_seconds(self, device: str) -> float:
        """plan, then every produce job, then every consume job, then report."""
        lanes = self.gpu_runners if device == "gpu" else self.concurrency
        jobs = self.half(device)
        if not jobs or lanes < 1:
            return 0.0
        stages = [
            _makespan([j.seconds for j in jobs if j.name == name], lanes)
            for name in ("produce", "consume")
        ]
        return self.setup_seconds + sum(stages) + self.report_seconds

    def summary(self) -> str:
        produce = sum(1 for j in self.jobs if j.name == "produce")
        return f"{produce} produce and {len(self.jobs) - produce} consume jobs"

    def lines(self) -> list[str]:
        out = []
        for device in ("cpu", "gpu"):
            jobs = self.half(device)
            if not jobs:
                if device == "gpu":
                    out.append("GPU half: no jobs (no --gpu-runner, or no GPU env planned)")
                continue
            longest = max(jobs, key=lambda j: j.seconds)
            lanes = self.gpu_runners if device == "gpu" else self.concurrency
            minutes = sum(j.seconds for j in jobs) / 60
            produce = sum(1 for j in jobs if j.name == "produce")
            out.append(
                f"{device.upper()} half: {produce} produce + {len(jobs) - produce} consume jobs "
                f"({lanes} at a time); longest {longest.name} {longest.env}, "
                f"{_duration(longest.seconds)}; {minutes:,.0f} runner minutes; "
                f"wall {_duration(self.wall_seconds(device))} (with the plan and report jobs)"
            )
        return out


def nightly(
    plan: Plan,
    layout: Layout,
    entries: list[dict[str, str]],
    gpu_runners: int = 1,
    concurrency: int = CONCURRENT_JOBS,
) -> Nightly:
    """The cost of the sharded nightly for the job matrix `entries` (what
    `plan --github-matrix` prints): a produce job per env that saves the zoo
    and a consume job per env that loads it, each
    timed from what this output folder measured for that env (`<phase>_work`
    in its state), else from the rates above."""
    sharded = {e["env"] for e in entries}
    cells: dict[str, int] = {}
    for cell in plan.cells():
        producer_runs = cell.producer in sharded or is_user_producer(cell.producer)
        if cell.consumer in sharded and producer_runs:
            cells[cell.consumer] = cells.get(cell.consumer, 0) + 1
    artifacts: dict[str, int] = {}
    for producer, *_ in plan.artifacts():
        artifacts[producer] = artifacts.get(producer, 0) + 1
    jobs = []
    for planned in plan.envs:
        if planned.id not in sharded:
            continue
        state = store.read_env_state(layout, planned.env)
        fixed = JOB_SETUP_SECONDS + BUILD_SECONDS_COLD
        make = _rate(state, "produce", PRODUCE_SECONDS_PER_ARTIFACT)
        load = _rate(state, "consume", CONSUME_SECONDS_PER_CELL)
        device = planned.env.device
        if planned.env.produces:
            made = artifacts.get(planned.id, 0) * make
            jobs.append(Job("produce", planned.id, device, fixed + made))
        if planned.env.consumes:
            jobs.append(Job("consume", planned.id, device, fixed + cells.get(planned.id, 0) * load))
    total_cells = sum(cells.values())
    return Nightly(
        jobs=tuple(jobs),
        gpu_runners=gpu_runners,
        concurrency=concurrency,
        setup_seconds=JOB_SETUP_SECONDS,
        report_seconds=JOB_SETUP_SECONDS + total_cells * REPORT_SECONDS_PER_CELL,
    )


def _rate(state: EnvState, phase: str, default: float) -> float:
    found = state.phase_record(phase)
    if found.tasks and found.seconds:
        return found.seconds / found.tasks
    return default


def _makespan(durations: list[float], lanes: int) -> float:
    """Wall time of jobs on `lanes` runners, longest first to the least busy."""
    busy = [0.0] * max(1, lanes)
    for seconds in sorted(durations, reverse=True):
        busy[busy.index(min(busy))] += seconds
    return max(busy)
