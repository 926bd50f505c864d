"""Produce phase: one env saves the zoo in every format, once.

An artifact already in the env's manifest, made by the same probe version in
the same env (fingerprint) and whose bytes still match, is kept as is:
re-saving would change its bytes (`.keras` files carry a date) and force
every consumer to recompute it.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from matrix import files
from matrix.files import JsonObject
from matrix.launch import Fault, Sink, run_probe
from matrix.paths import Layout
from matrix.results import store
from matrix.results.records import ArtifactEntry, EnvState, Manifest, RecordError, Versions
from matrix.run import progress
from matrix.run.probe import launched, probe_command
from matrix.run.ready import ReadyEnv
from matrix.run.tasks import ProduceTask
from matrix.safety import inspections
from matrix.selection.plan import Plan, PlannedEnv
from matrix.settings import Settings


def produce(ready: ReadyEnv, plan: Plan, settings: Settings, layout: Layout) -> EnvState:
    """Save every planned (model, policy, format) of one env that is missing;
    the env's state as this leaves it."""
    planned, record, state = ready.planned, ready.record, ready.state
    probe = store.probe_version()
    manifest = store.read_manifest(layout, planned.id)
    if manifest.probe != probe or manifest.env_fingerprint != record.fingerprint:
        manifest = Manifest(planned.id, probe=probe, env_fingerprint=record.fingerprint)
    entries = dict(manifest.artifacts)
    tasks = missing_tasks(planned, plan, layout, entries)
    if tasks:
        progress.current().env_started("produce", planned.id, len(tasks))
        root = layout.artifacts(planned.id)
        sink = _ManifestSink(planned.id, layout, replace(manifest, artifacts=entries), tasks)
        command = probe_command(ready, layout, settings, "produce", writable=[root])
        # A crash costs its own task only (the task it hit is recorded and
        # the rest run on), so every restart makes progress: a converter that
        # aborts on each model (TF 2.16's TFLite converter on Keras 3 models,
        # "LLVM ERROR: Failed to infer result type(s)") must not leave the
        # models after the fifth unsaved in every format. One restart per
        # task at most: a few seconds each, bounded by the zoo's size.
        command = replace(command, max_restarts=max(command.max_restarts, len(tasks)))
        started = time.monotonic()
        outcome = run_probe(command, tasks, sink)
        artifacts = sum(len(task.formats) for task in tasks)
        state = launched(state, layout, "produce", outcome, artifacts, started)
        progress.current().env_finished(planned.id)
        manifest = sink.manifest
    else:
        if entries != manifest.artifacts:  # what this Keras cannot build, entered
            manifest = replace(manifest, artifacts=entries)
            store.write_manifest(layout, manifest)
        versions = Versions.from_dict(manifest.env) if manifest.env else None
        state = replace(state, status="ok", versions=versions)
    inspect_saved(layout, manifest)
    return state


def inspect_saved(layout: Layout, manifest: Manifest) -> None:
    """Inspect every saved artifact (stored by content, so only new ones run):
    the safety gate decides on what is in a file, whoever wrote it."""
    root = layout.artifacts(manifest.producer)
    inspections.ensure(
        layout,
        [
            (store.inspection_key(entry), root / entry.path)
            for entry in manifest.artifacts.values()
            if entry.saved
        ],
    )


def missing_tasks(
    planned: PlannedEnv, plan: Plan, layout: Layout, entries: dict[str, ArtifactEntry]
) -> list[ProduceTask]:
    """The (model, policy) builds still to do; their old entries are dropped
    from `entries`. What this env's Keras cannot build at all is entered as
    not applicable, with the release table's reason, and never asked for."""
    root = layout.artifacts(planned.id)
    release, flavour = planned.env.release, planned.env.flavour
    unwritable = {f: r for f, r in release.unwritable(flavour).items() if f in plan.formats}
    unbuildable = release.unbuildable(flavour)
    planned_formats: dict[tuple[str, str], list[str]] = {}
    for producer, model, policy, fmt in plan.artifacts():
        if producer == planned.id:
            planned_formats.setdefault((model, policy), []).append(fmt)
    tasks = []
    for (model, policy), formats in planned_formats.items():
        names = {fmt: artifact_name(planned, layout, model, policy, fmt) for fmt in formats}
        why = unbuildable.get(model) or unbuildable.get(policy)
        if why is not None:
            for fmt, name in names.items():
                entries[name] = ArtifactEntry(
                    model, policy, fmt, name, "not-applicable",
                    layout.reference_name(model, policy), reason=why,
                )  # fmt: skip
            continue
        if all(_kept(root, entries.get(name)) for name in names.values()):
            continue
        # Re-saving one format retrains the model and rewrites the shared
        # reference, so every format of this (model, policy) is redone.
        for name in [n for n, e in entries.items() if (e.model, e.policy) == (model, policy)]:
            del entries[name]
        tasks.append(
            ProduceTask(
                id=f"{model}-{policy}",
                model=model,
                policy=policy,
                reference=str(root / layout.reference_name(model, policy)),
                formats={fmt: str(root / name) for fmt, name in names.items()},
                cannot_write=unwritable,
                tflite_converter=release.tflite_converter(flavour),
                conversion=planned.env.conversion.how if planned.env.conversion else None,
            )
        )
    return tasks


def artifact_name(planned: PlannedEnv, layout: Layout, model: str, policy: str, fmt: str) -> str:
    """The file name a user of this env gives the artifact."""
    release, flavour = planned.env.release, planned.env.flavour
    suffix = release.weights_suffix(flavour) if fmt == "weights" else None
    return layout.artifact_name(model, policy, fmt, suffix)


def _kept(root: Path, entry: ArtifactEntry | None) -> bool:
    if entry is None:
        return False
    if not entry.saved:
        # A refusal or failure of this exact env and probe repeats; what was
        # never tried (the restart budget ran out first) is tried again.
        return entry.attempted
    return store.verify_entry(root, entry)


# What an `artifact` event may say about one saved format.
_ARTIFACT_FIELDS = (
    "status",
    "reason",
    "error_type",
    "error",
    "traceback",
    "seconds",
    "build_seconds",
    "note",
)


class _ManifestSink(Sink):
    """Turns produce events into manifest entries, saving after each task."""

    def __init__(
        self, env_id: str, layout: Layout, manifest: Manifest, tasks: list[ProduceTask]
    ) -> None:
        self.env_id = env_id
        self.layout = layout
        self.manifest = manifest
        self.entries = dict(manifest.artifacts)
        self.tasks = {task.id: task for task in tasks}
        self.root = layout.artifacts(env_id)
        # The name each (task, format) was saved under, from the task itself.
        self.names = {
            (task.id, fmt): Path(path).name for task in tasks for fmt, path in task.formats.items()
        }
        self.models: dict[str, JsonObject] = {}

    def hello(self, env: JsonObject) -> None:
        self.manifest = replace(self.manifest, env=env)

    def event(self, event: JsonObject) -> None:
        if event["event"] == "model":
            # What the model looked like in memory: names and the description
            # consumers' loaded models are compared with (config drift).
            self.models[event["task"]] = {
                k: event[k]
                for k in ("input_names", "output_names", "description")
                if event.get(k) is not None
            }
        elif event["event"] == "artifact":
            self._artifact(self.tasks[event["task"]], event)
        elif event["event"] == "done":
            self._write()
            task = self.tasks[event["task"]]
            failed = any(
                (found := self.entries.get(self.names[(task.id, fmt)])) is not None
                and found.status == "no-artifact"
                for fmt in task.formats
            )
            progress.current().cell_done(self.env_id, "no-artifact" if failed else "saved")

    def fault(self, fault: Fault) -> None:
        task = self.tasks[fault.task]
        for fmt in task.formats:
            if self.names[(task.id, fmt)] not in self.entries:
                self._store(
                    task,
                    fmt,
                    {
                        "status": "no-artifact",
                        "error_type": fault.status,
                        "error": fault.reason,
                        "reason": f"the producer's probe hit a {fault.status} while saving",
                        "attempted": fault.attempted,
                    },
                )
        self._write()

    def _write(self) -> None:
        self.manifest = replace(self.manifest, artifacts=dict(self.entries))
        store.write_manifest(self.layout, self.manifest)

    def _artifact(self, task: ProduceTask, event: JsonObject) -> None:
        fields = {k: event[k] for k in _ARTIFACT_FIELDS if k in event}
        for text in ("error", "traceback"):
            if isinstance(fields.get(text), str):
                fields[text] = self.layout.portable(fields[text])
        self._store(task, event["format"], fields)

    def _store(self, task: ProduceTask, fmt: str, fields: JsonObject) -> None:
        name = self.names[(task.id, fmt)]
        try:
            entry = ArtifactEntry.from_dict(
                {
                    "model": task.model,
                    "policy": task.policy,
                    "format": fmt,
                    "path": name,
                    "reference": self.layout.reference_name(task.model, task.policy),
                    **self.models.get(task.id, {}),
                    **fields,
                }
            )
        except RecordError as exc:
            entry = ArtifactEntry(
                task.model,
                task.policy,
                fmt,
                name,
                "no-artifact",
                self.layout.reference_name(task.model, task.policy),
                error_type="ProbeError",
                error=f"the probe's artifact event is malformed: {exc}",
            )
        if entry.saved and not (self.root / name).exists():
            entry = entry.with_(
                status="no-artifact",
                error_type="MissingArtifact",
                error=f"the probe reported {name} saved, but it is not there",
            )
        if entry.saved:
            try:
                entry = entry.with_(
                    files=files.hash_tree(self.root, self.root / name),
                    reference_sha256=files.sha256_file(self.root / entry.reference),
                )
                entry = entry.with_(sha256=store.artifact_digest(entry))
            except OSError as exc:
                entry = entry.with_(
                    status="no-artifact",
                    error_type="OSError",
                    error=f"the saved artifact cannot be read back: {exc}",
                )
        self.entries[name] = entry
