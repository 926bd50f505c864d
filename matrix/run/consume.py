"""Consume phase: one env loads every producer's artifacts through every loader.

One probe process per env handles all of its cells: the ledger's pending
cells of this consumer (what is already stored, refused by the safety gate
or without a loader never reaches a probe). Each finished cell is appended
to the env's results file the moment its event arrives.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from matrix.files import JsonObject
from matrix.launch import Fault, LaunchResult, Sink, run_probe
from matrix.paths import Layout
from matrix.results import store
from matrix.results.ledger import Ledger, PlannedCell
from matrix.results.records import EnvState, Measurement, RecordError, Result, is_user_producer
from matrix.run import progress
from matrix.run.probe import launched, probe_command
from matrix.run.ready import ReadyEnv
from matrix.run.tasks import ConsumeTask
from matrix.selection.plan import Plan
from matrix.settings import Settings

# Cells one probe process measures before a fresh one takes over. A process
# that loads thousands of models keeps some of each (graphs, caches): a fresh
# one every few hundred cells bounds its memory for about 4 s of start-up.
CELLS_PER_PROBE = 400


def consume(
    ready: ReadyEnv, cells: Ledger, plan: Plan, settings: Settings, layout: Layout
) -> EnvState:
    """Measure every pending cell of this consumer; the env's state as this leaves it."""
    planned = ready.planned
    tasks = [consume_task(cell, layout, plan) for cell in cells.pending(planned.id)]
    if not tasks:
        return ready.state
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
    state = launched(ready.state, layout, "consume", combined(outcomes), len(tasks), started)
    progress.current().env_finished(planned.id)
    return state


def combined(outcomes: list[LaunchResult]) -> LaunchResult:
    """Several probe processes of one env and phase, as one record."""
    return LaunchResult(
        hello=next((o.hello for o in outcomes if o.hello is not None), None),
        env_error=next((o.env_error for o in outcomes if o.env_error is not None), None),
        restarts=sum(o.restarts for o in outcomes),
        faults=[f for o in outcomes for f in o.faults],
        startups=[s for o in outcomes for s in o.startups],
    )


def _module_folders(tasks: list[ConsumeTask]) -> list[Path]:
    """Where the user's custom-objects modules live: the sandbox lets the probe read them."""
    modules = {t.custom_objects_module for t in tasks if t.custom_objects_module}
    return sorted({Path(m).parent for m in modules})


def consume_task(cell: PlannedCell, layout: Layout, plan: Plan) -> ConsumeTask:
    """What the probe is asked for one pending cell."""
    key, entry = cell.key, cell.entry
    assert entry is not None and entry.sha256 is not None and cell.digest is not None
    root = layout.artifacts(key.producer)
    outputs = layout.outputs(key.consumer)
    stem = f"{key.producer.replace(':', '-')}__{entry.path}__{key.loader}"
    reference = entry.reference if entry.reference_sha256 else None
    return ConsumeTask(
        id=cell.digest,
        producer=key.producer,
        model=entry.model,
        policy=None if is_user_producer(key.producer) else entry.policy,
        format=entry.format,
        loader=key.loader,
        artifact_sha256=entry.sha256,
        root=str(root),
        path=str(root / entry.path),
        files=entry.files,
        reference=str(root / reference) if reference else None,
        reference_sha256=entry.reference_sha256,
        output=str(outputs / f"{stem}.npz"),
        output_own=str(outputs / f"{stem}__own.npz"),
        output_inference=str(outputs / f"{stem}__inference.npz"),
        # %s: one_at_a_time | padded (probes/consume.py batch_check)
        output_batch=str(outputs / f"{stem}__batch-%s.npz"),
        input_names=entry.input_names,
        output_names=entry.output_names,
        custom_objects_module=entry.custom_objects_module,
        safe_mode=not plan.unsafe,
        must_resolve=cell.must_resolve,
    )


# What a probe's `done` event may say about one measurement.
_MEASURED = (
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
    "batch",
)


class _ResultSink(Sink):
    """Appends one result line per finished or faulted cell."""

    def __init__(self, env_id: str, layout: Layout, tasks: list[ConsumeTask]) -> None:
        self.env_id = env_id
        self.layout = layout
        self.tasks = {task.id: task for task in tasks}

    def event(self, event: JsonObject) -> None:
        if event["event"] != "done":
            return
        task = self.tasks[event["task"]]
        try:
            measured = self._measurement(event, task.output)
            parts = {
                name: self._measurement(event[name], output)
                for name, output in (
                    ("own_policy", task.output_own),
                    ("inference", task.output_inference),
                )
                if isinstance(event.get(name), dict)
            }
        except RecordError as exc:
            measured = Measurement(
                status="crash",
                error_type="ProbeError",
                error=f"the probe's result event is malformed: {exc}",
            )
            parts = {}
        self._append(task, measured, parts.get("own_policy"), parts.get("inference"))

    def fault(self, fault: Fault) -> None:
        # A cell that was never tried (restart budget spent) is reported but
        # not kept as a result: the next run tries it again.
        self._append(
            self.tasks[fault.task],
            Measurement(status=fault.status, error_type=fault.status, error=fault.reason),
            attempted=fault.attempted,
        )

    def _measurement(self, event: JsonObject, output: str) -> Measurement:
        fields = {k: event[k] for k in _MEASURED if k in event}
        for text in ("error", "traceback"):
            if isinstance(fields.get(text), str):
                fields[text] = self.layout.portable(fields[text])
        fields["output"] = output.rsplit("/", 1)[-1]
        return Measurement.from_dict(fields)

    def _append(
        self,
        task: ConsumeTask,
        measured: Measurement,
        own_policy: Measurement | None = None,
        inference: Measurement | None = None,
        attempted: bool = True,
    ) -> None:
        result = Result(
            key=task.id,
            producer=task.producer,
            consumer=self.env_id,
            model=task.model,
            format=task.format,
            loader=task.loader,
            artifact_sha256=task.artifact_sha256,
            measured=measured,
            own_policy=own_policy,
            inference=inference,
            attempted=attempted,
        )
        store.append_result(self.layout, self.env_id, result)
        progress.current().cell_done(self.env_id, measured.status)
