"""Consume phase: one env loads every producer's artifacts through every loader.

One probe process per env handles all of its cells. Cells whose key is
already stored are decided here, before any process starts; only the rest go
to the probe, and each finished cell is appended to the env's results file
the moment its event arrives.
"""

from __future__ import annotations

from typing import Any

from matrix import axes, store
from matrix.config import Settings
from matrix.launch import Fault, Sink, run_probe
from matrix.paths import Layout
from matrix.phase import probe_command, ready_env
from matrix.plan import Plan, PlannedEnv
from matrix.provision import VenvRecord


def consume(planned: PlannedEnv, plan: Plan, settings: Settings, layout: Layout) -> None:
    """Measure every cell of this consumer that has no stored result."""
    record = ready_env(planned, layout, settings, "consume")
    if record is None:
        return
    tasks = pending_tasks(planned, plan, settings, layout, record)
    if not tasks:
        return
    layout.outputs(planned.id).mkdir(parents=True, exist_ok=True)
    sink = _ResultSink(planned.id, layout, tasks)
    outcome = run_probe(probe_command(planned, layout, settings, "consume"), tasks, sink)
    if outcome.env_error is not None:
        store.write_env_state(
            layout, planned.id, {"status": "env-error", "reason": outcome.env_error}
        )
    elif outcome.hello is not None:
        store.write_env_state(layout, planned.id, {"versions": outcome.hello})


def loader_missing(loader: str, flavour: str) -> str | None:
    """Why `loader` does not exist in an env of this flavour, or None."""
    rule = axes.LOADER_FLAVOURS.get(loader)
    if rule is not None and flavour not in rule[0]:
        return rule[1]
    return None


def pending_tasks(
    planned: PlannedEnv,
    plan: Plan,
    settings: Settings,
    layout: Layout,
    record: VenvRecord,
) -> list[dict[str, Any]]:
    probe = store.probe_version()
    done = {} if settings.fresh else store.read_results(layout, planned.id)
    tasks = []
    for producer in plan.envs:
        root = layout.artifacts(producer.id)
        entries = store.read_manifest(layout, producer.id)["artifacts"]
        for model in plan.models:
            for policy in plan.policies:
                for fmt in plan.formats:
                    entry = entries.get(layout.artifact_name(model, policy, fmt))
                    if entry is None or entry.get("status") != "saved":
                        continue
                    for loader in plan.loaders_for(fmt):
                        if loader_missing(loader, planned.env.flavour):
                            continue
                        key = store.cell_key(entry["sha256"], record.fingerprint, probe, loader)
                        if _reusable(done.get(key), layout, planned.id):
                            continue
                        output = layout.outputs(planned.id) / (
                            f"{producer.id}__{entry['path']}__{loader}.npz"
                        )
                        tasks.append(
                            {
                                "id": key,
                                "producer": producer.id,
                                "model": model,
                                "policy": policy,
                                "format": fmt,
                                "loader": loader,
                                "artifact_sha256": entry["sha256"],
                                "root": str(root),
                                "path": str(root / entry["path"]),
                                "files": entry["files"],
                                "reference": str(root / entry["reference"]),
                                "reference_sha256": entry["reference_sha256"],
                                "output": str(output),
                            }
                        )
    return tasks


def _reusable(record: dict[str, Any] | None, layout: Layout, env_id: str) -> bool:
    if record is None or not record.get("attempted", True):
        return False
    if record.get("status") != "predicted":
        return True
    output = layout.outputs(env_id) / str(record.get("output"))
    return output.is_file()


class _ResultSink(Sink):
    """Appends one result line per finished or faulted cell."""

    _FIELDS = (
        "status",
        "error_type",
        "error",
        "traceback",
        "load_seconds",
        "predict_seconds",
        "nondeterministic",
        "output_sha256",
    )

    def __init__(self, env_id: str, layout: Layout, tasks: list[dict[str, Any]]) -> None:
        self.env_id = env_id
        self.layout = layout
        self.tasks = {task["id"]: task for task in tasks}

    def event(self, event: dict[str, Any]) -> None:
        if event["event"] != "done":
            return
        fields = {k: event[k] for k in self._FIELDS if k in event}
        self._append(self.tasks[event["task"]], fields)

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

    def _append(self, task: dict[str, Any], fields: dict[str, Any]) -> None:
        record = {
            "key": task["id"],
            "producer": task["producer"],
            "consumer": self.env_id,
            "model": task["model"],
            "policy": task["policy"],
            "format": task["format"],
            "loader": task["loader"],
            "artifact_sha256": task["artifact_sha256"],
            "output": task["output"].rsplit("/", 1)[-1],
            **fields,
        }
        store.append_result(self.layout, self.env_id, record)
