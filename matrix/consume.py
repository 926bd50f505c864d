"""Consume phase: one env loads every producer's artifacts through every loader.

One probe process per env handles all of its cells. Cells whose key is
already stored are decided here, before any process starts; only the rest go
to the probe, and each finished cell is appended to the env's results file
the moment its event arrives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matrix import axes, store
from matrix.config import Settings
from matrix.env import Env
from matrix.launch import Fault, Sink, run_probe
from matrix.paths import Layout
from matrix.phase import probe_command, ready_env, record_launch
from matrix.plan import Plan, PlannedEnv
from matrix.provision import VenvRecord
from matrix.usermodels import is_user_producer


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
    record_launch(layout, planned.id, "consume", outcome)


def skip_reason(loader: str, fmt: str, carries_code: bool, env: Env, unsafe: bool) -> str | None:
    """Why this consumer does not run `loader` on this artifact, or None.

    Either the loader does not exist in the env's Keras, or the model carries
    Python code (Lambda) and this load path would run it without a safe_mode
    gate: that needs the user's explicit --unsafe.
    """
    rule = axes.LOADER_FLAVOURS.get(loader)
    if rule is not None and env.flavour not in rule[0]:
        return rule[1]
    if (
        carries_code
        and not unsafe
        and loader not in axes.GRAPH_LOADERS
        and fmt != "weights"
        and not axes.keras_enforces_safe_mode(env.release, env.flavour, fmt)
    ):
        return (
            f"refused without --unsafe: the model holds Python code (Lambda) and the "
            f"{loader} loader has no safe_mode for {fmt} in {env.flavour} "
            f"TF {env.tf}"
        )
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
    manifests: dict[str, dict[str, Any]] = {}
    tasks = []
    for producer, model, policy, fmt in plan.artifacts():
        if producer not in manifests:
            manifests[producer] = store.read_manifest(layout, producer)["artifacts"]
        entry = manifests[producer].get(layout.artifact_name(model, policy, fmt))
        if entry is None or entry.get("status") != "saved":
            continue
        for loader in plan.loaders_for(fmt):
            if skip_reason(
                loader, fmt, plan.carries_code(producer, model), planned.env, plan.unsafe
            ):
                continue
            key = store.cell_key(entry["sha256"], record.fingerprint, probe, loader, plan.unsafe)
            if not _reusable(done.get(key), layout, planned.id):
                tasks.append(
                    _task(key, producer, entry, loader, layout.outputs(planned.id), layout, plan)
                )
    return tasks


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
        "input_names": entry.get("input_names"),
        "output_names": entry.get("output_names"),
        "custom_objects_module": entry.get("custom_objects_module"),
        "safe_mode": not plan.unsafe,
    }


def _reusable(record: dict[str, Any] | None, layout: Layout, env_id: str) -> bool:
    if record is None or not record.get("attempted", True):
        return False
    outputs = [record]
    if isinstance(record.get("own_policy"), dict):
        outputs.append(record["own_policy"])
    for result in outputs:
        if result.get("status") == "predicted":
            output = layout.outputs(env_id) / str(result.get("output"))
            if not output.is_file():
                return False
    return True


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
        "description",
    )

    def __init__(self, env_id: str, layout: Layout, tasks: list[dict[str, Any]]) -> None:
        self.env_id = env_id
        self.layout = layout
        self.tasks = {task["id"]: task for task in tasks}

    def event(self, event: dict[str, Any]) -> None:
        if event["event"] != "done":
            return
        task = self.tasks[event["task"]]
        fields = self._fields(event, task["output"])
        own = event.get("own_policy")
        if isinstance(own, dict):
            fields["own_policy"] = self._fields(own, task["output_own"])
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
