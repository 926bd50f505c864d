"""Consume phase: one env loads every producer's artifacts through every loader.

One probe process per env handles all of its cells. Cells whose key is
already stored are decided here, before any process starts; so are cells the
safety gate refuses (they never reach a probe). Each finished cell is
appended to the env's results file the moment its event arrives.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

from matrix.envs.provision import ReadyEnv
from matrix.paths import Layout
from matrix.results import store
from matrix.run import progress
from matrix.run.launch import Fault, LaunchResult, Sink, run_probe
from matrix.run.probe import probe_command, record_launch
from matrix.safety import gate, inspections
from matrix.selection.config import Settings
from matrix.selection.plan import Plan
from matrix.selection.usermodels import is_user_producer

# Cells one probe process measures before a fresh one takes over. A process
# that loads thousands of models keeps some of each (graphs, caches): a fresh
# one every few hundred cells bounds its memory for about 4 s of start-up.
CELLS_PER_PROBE = 400


def consume(ready: ReadyEnv, plan: Plan, settings: Settings, layout: Layout) -> None:
    """Measure every cell of this consumer that has no stored result."""
    planned = ready.planned
    tasks = pending_tasks(ready, plan, settings, layout)
    if not tasks:
        return
    progress.current().env_started("consume", planned.id, len(tasks))
    command = probe_command(
        ready,
        layout,
        settings,
        "consume",
        writable=[layout.outputs(planned.id)],
        readable=_module_folders(tasks),
    )
    sink = _ResultSink(planned.id, layout, tasks)
    outcomes: list[LaunchResult] = []
    started = time.monotonic()
    for start in range(0, len(tasks), CELLS_PER_PROBE):
        # The restart budget is the env's and phase's, not each batch's.
        budget = max(0, command.max_restarts - sum(o.restarts for o in outcomes))
        batch = tasks[start : start + CELLS_PER_PROBE]
        outcomes.append(run_probe(replace(command, max_restarts=budget), batch, sink))
        if outcomes[-1].env_error is not None:
            break
    record_launch(layout, planned.id, "consume", combined(outcomes), len(tasks), started)
    progress.current().env_finished(planned.id)


def combined(outcomes: list[LaunchResult]) -> LaunchResult:
    """Several probe processes of one env and phase, as one record."""
    return LaunchResult(
        hello=next((o.hello for o in outcomes if o.hello is not None), None),
        env_error=next((o.env_error for o in outcomes if o.env_error is not None), None),
        restarts=sum(o.restarts for o in outcomes),
        faults=[f for o in outcomes for f in o.faults],
        startups=[s for o in outcomes for s in o.startups],
    )


def _module_folders(tasks: list[dict[str, Any]]) -> list[Path]:
    """Where the user's custom-objects modules live: the sandbox lets the probe read them."""
    modules = {t["custom_objects_module"] for t in tasks if t.get("custom_objects_module")}
    return sorted({Path(m).parent for m in modules})


def pending_tasks(
    ready: ReadyEnv, plan: Plan, settings: Settings, layout: Layout
) -> list[dict[str, Any]]:
    planned, record = ready.planned, ready.record
    probe = store.probe_version()
    done = {} if settings.fresh else store.read_results(layout, planned.id)
    consumer = gate.consumer_of(planned.env, record.freeze)
    saved = saved_entries(plan, layout)
    found = inspections.ensure(
        layout, [(store.inspection_key(e), layout.artifacts(p) / e["path"]) for p, e in saved]
    )
    tasks = []
    for producer, entry in saved:
        inspection, fmt = found[store.inspection_key(entry)], entry["format"]
        for loader in plan.loaders_for(fmt):
            flavour = planned.env.flavour
            if gate.skip_reason(loader, fmt, flavour, inspection, consumer, plan.unsafe):
                continue
            key = store.cell_key(entry["sha256"], record.fingerprint, probe, loader, plan.unsafe)
            if not _reusable(done.get(key), layout, planned.id):
                task = _task(key, producer, entry, loader, layout.outputs(planned.id), layout, plan)
                decision = gate.decide(inspection, loader, fmt, consumer, plan.unsafe)
                task["must_resolve"] = [list(pair) for pair in decision.must_resolve]
                tasks.append(task)
    return tasks


def saved_entries(plan: Plan, layout: Layout) -> list[tuple[str, dict[str, Any]]]:
    """(producer, manifest entry) of every planned artifact that was saved."""
    manifests: dict[str, dict[tuple[str, str, str], dict[str, Any]]] = {}
    found = []
    for producer, model, policy, fmt in plan.artifacts():
        if producer not in manifests:
            manifests[producer] = store.by_key(store.read_manifest(layout, producer))
        entry = manifests[producer].get((model, policy, fmt))
        if entry is not None and entry.get("status") == "saved":
            found.append((producer, entry))
    return found


def _task(  # noqa: PLR0917 - one task from all it is made of
    key: str,
    producer: str,
    entry: dict[str, Any],
    loader: str,
    outputs: Path,
    layout: Layout,
    plan: Plan,
) -> dict[str, Any]:
    root = layout.artifacts(producer)
    stem = f"{producer.replace(':', '-')}__{entry['path']}__{loader}"
    own_policy = None if is_user_producer(producer) else entry["policy"]
    reference = entry.get("reference") if entry.get("reference_sha256") else None
    return {
        "id": key,
        "producer": producer,
        "model": entry["model"],
        "policy": own_policy,
        "format": entry["format"],
        "loader": loader,
        "artifact_sha256": entry["sha256"],
        "root": str(root),
        "path": str(root / entry["path"]),
        "files": entry["files"],
        "reference": str(root / reference) if reference else None,
        "reference_sha256": entry.get("reference_sha256"),
        "output": str(outputs / f"{stem}.npz"),
        "output_own": str(outputs / f"{stem}__own.npz"),
        "output_inference": str(outputs / f"{stem}__inference.npz"),
        "input_names": entry.get("input_names"),
        "output_names": entry.get("output_names"),
        "custom_objects_module": entry.get("custom_objects_module"),
        "safe_mode": not plan.unsafe,
        # Asked above and again by the probe before it loads anything.
        "gate": "open",
    }


def _reusable(record: dict[str, Any] | None, layout: Layout, env_id: str) -> bool:
    if record is None or not record.get("attempted", True):
        return False
    outputs = [record]
    for part in ("own_policy", "inference"):
        if isinstance(record.get(part), dict):
            outputs.append(record[part])
    for result in outputs:
        if result.get("status") == "predicted":
            output = layout.outputs(env_id) / str(result.get("output"))
            if not output.is_file():
                return False
    return True


class _ResultSink(Sink):
    """Appends one result line per finished or faulted cell."""

    _FIELDS: ClassVar[tuple[str, ...]] = (
        "status",
        "error_type",
        "error",
        "traceback",
        "prepare_seconds",
        "load_seconds",
        "predict_seconds",
        "nondeterministic",
        "output_sha256",
        "description",
        "rss_mb",
    )
    # Measurements a cell carries beside its headline, each with its output file.
    _PARTS: ClassVar[dict[str, str]] = {
        "own_policy": "output_own",
        "inference": "output_inference",
    }

    def __init__(self, env_id: str, layout: Layout, tasks: list[dict[str, Any]]) -> None:
        self.env_id = env_id
        self.layout = layout
        self.tasks = {task["id"]: task for task in tasks}

    def event(self, event: dict[str, Any]) -> None:
        if event["event"] != "done":
            return
        task = self.tasks[event["task"]]
        fields = self._fields(event, task["output"])
        for part, output in self._PARTS.items():
            if isinstance(event.get(part), dict):
                fields[part] = self._fields(event[part], task[output])
        self._append(task, fields)

    def fault(self, fault: Fault) -> None:
        # A cell that was never tried (restart budget spent) is reported but
        # not kept as a result: the next run tries it again.
        self._append(
            self.tasks[fault.task],
            {
                "status": fault.status,
                "error_type": fault.status,
                "error": fault.reason,
                "attempted": fault.attempted,
            },
        )

    def _fields(self, event: dict[str, Any], output: str) -> dict[str, Any]:
        fields = {k: event[k] for k in self._FIELDS if k in event}
        for text in ("error", "traceback"):
            if isinstance(fields.get(text), str):
                fields[text] = self.layout.portable(fields[text])
        fields["output"] = output.rsplit("/", 1)[-1]
        return fields

    def _append(self, task: dict[str, Any], fields: dict[str, Any]) -> None:
        record = {
            "key": task["id"],
            "producer": task["producer"],
            "consumer": self.env_id,
            "model": task["model"],
            "format": task["format"],
            "loader": task["loader"],
            "artifact_sha256": task["artifact_sha256"],
            **fields,
        }
        store.append_result(self.layout, self.env_id, record)
        progress.current().cell_done(self.env_id, str(record.get("status")))
