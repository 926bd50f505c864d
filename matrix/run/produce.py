"""Produce phase: one env saves the zoo in every format, once.

An artifact already in the env's manifest, made by the same probe version in
the same env (fingerprint) and whose bytes still match, is kept as is:
re-saving would change its bytes (`.keras` files carry a date) and force
every consumer to recompute it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from matrix import files
from matrix.envs.provision import ReadyEnv
from matrix.paths import Layout
from matrix.results import store
from matrix.run import progress
from matrix.run.launch import Fault, Sink, run_probe
from matrix.run.probe import probe_command, record_launch
from matrix.safety import inspections
from matrix.selection.config import Settings
from matrix.selection.plan import Plan, PlannedEnv


def produce(ready: ReadyEnv, plan: Plan, settings: Settings, layout: Layout) -> None:
    """Save every planned (model, policy, format) of one env that is missing."""
    planned, record = ready.planned, ready.record
    probe = store.probe_version()
    manifest = store.read_manifest(layout, planned.id)
    if manifest.get("probe") != probe or manifest.get("env_fingerprint") != record.fingerprint:
        manifest = {
            "schema_version": store.SCHEMA_VERSION,
            "producer": planned.id,
            "probe": probe,
            "env_fingerprint": record.fingerprint,
            "artifacts": {},
        }
    tasks = _missing_tasks(planned, plan, layout, manifest)
    if tasks:
        progress.current().env_started("produce", planned.id, len(tasks))
        root = layout.artifacts(planned.id)
        sink = _ManifestSink(planned.id, layout, manifest, tasks)
        command = probe_command(ready, layout, settings, "produce", writable=[root])
        started = time.monotonic()
        outcome = run_probe(command, tasks, sink)
        artifacts = sum(len(task["formats"]) for task in tasks)
        record_launch(layout, planned.id, "produce", outcome, artifacts, started)
        progress.current().env_finished(planned.id)
    else:
        store.write_env_state(
            layout, planned.id, {"status": "ok", "versions": manifest.get("env", {})}
        )
    inspect_saved(layout, planned.id, manifest)


def inspect_saved(layout: Layout, producer: str, manifest: dict[str, Any]) -> None:
    """Inspect every saved artifact (stored by content, so only new ones run):
    the safety gate decides on what is in a file, whoever wrote it."""
    root = layout.artifacts(producer)
    inspections.ensure(
        layout,
        [
            (store.inspection_key(entry), root / entry["path"])
            for entry in manifest["artifacts"].values()
            if entry.get("status") == "saved"
        ],
    )


def _missing_tasks(
    planned: PlannedEnv, plan: Plan, layout: Layout, manifest: dict[str, Any]
) -> list[dict[str, Any]]:
    root = layout.artifacts(planned.id)
    entries = manifest["artifacts"]
    release, flavour = planned.env.release, planned.env.flavour
    unwritable = {f: r for f, r in release.unwritable(flavour).items() if f in plan.formats}
    tasks = []
    for model in plan.models:
        for policy in plan.policies:
            names = {
                fmt: artifact_name(planned, layout, model, policy, fmt) for fmt in plan.formats
            }
            if all(_kept(root, entries.get(name)) for name in names.values()):
                continue
            # Re-saving one format retrains the model and rewrites the shared
            # reference, so every format of this (model, policy) is redone.
            for name in [
                n for n, e in entries.items() if e["model"] == model and e["policy"] == policy
            ]:
                del entries[name]
            tasks.append(
                {
                    "id": f"{model}-{policy}",
                    "model": model,
                    "policy": policy,
                    "reference": str(root / layout.reference_name(model, policy)),
                    "formats": {fmt: str(root / name) for fmt, name in names.items()},
                    "cannot_write": unwritable,
                }
            )
    return tasks


def artifact_name(planned: PlannedEnv, layout: Layout, model: str, policy: str, fmt: str) -> str:
    """The file name a user of this env gives the artifact."""
    release, flavour = planned.env.release, planned.env.flavour
    suffix = release.weights_suffix(flavour) if fmt == "weights" else None
    return layout.artifact_name(model, policy, fmt, suffix)


def _kept(root: Path, entry: dict[str, Any] | None) -> bool:
    if entry is None:
        return False
    if entry["status"] != "saved":
        return True  # a refusal or failure of this exact env and probe repeats
    return store.verify_entry(root, entry)


class _ManifestSink(Sink):
    """Turns produce events into manifest entries, saving after each task."""

    def __init__(
        self, env_id: str, layout: Layout, manifest: dict[str, Any], tasks: list[dict[str, Any]]
    ) -> None:
        self.env_id = env_id
        self.layout = layout
        self.manifest = manifest
        self.tasks = {task["id"]: task for task in tasks}
        self.root = layout.artifacts(env_id)
        # The name each (task, format) was saved under, from the task itself.
        self.names = {
            (task["id"], fmt): Path(path).name
            for task in tasks
            for fmt, path in task["formats"].items()
        }
        self.models: dict[str, dict[str, Any]] = {}

    def hello(self, env: dict[str, Any]) -> None:
        self.manifest["env"] = env

    def event(self, event: dict[str, Any]) -> None:
        if event["event"] == "model":
            # What the model looked like in memory: names and the description
            # consumers' loaded models are compared with (config drift).
            self.models[event["task"]] = {
                k: event.get(k) for k in ("input_names", "output_names", "description")
            }
        elif event["event"] == "artifact":
            self._artifact(self.tasks[event["task"]], event)
        elif event["event"] == "done":
            store.write_manifest(self.layout, self.env_id, self.manifest)
            task = self.tasks[event["task"]]
            failed = any(
                self.manifest["artifacts"].get(self.names[(task["id"], fmt)], {}).get("status")
                == "no-artifact"
                for fmt in task["formats"]
            )
            progress.current().cell_done(self.env_id, "no-artifact" if failed else "saved")

    def fault(self, fault: Fault) -> None:
        task = self.tasks[fault.task]
        for fmt in task["formats"]:
            if self.names[(task["id"], fmt)] not in self.manifest["artifacts"]:
                self._store(
                    task,
                    fmt,
                    {
                        "status": "no-artifact",
                        "error_type": fault.status,
                        "error": fault.reason,
                        "reason": f"the producer's probe hit a {fault.status} while saving",
                    },
                )
        store.write_manifest(self.layout, self.env_id, self.manifest)

    def _artifact(self, task: dict[str, Any], event: dict[str, Any]) -> None:
        fields: dict[str, Any] = {
            k: event[k]
            for k in (
                "status",
                "reason",
                "error_type",
                "error",
                "traceback",
                "seconds",
                "build_seconds",
                "note",
            )
            if k in event
        }
        for text in ("error", "traceback"):
            if isinstance(fields.get(text), str):
                fields[text] = self.layout.portable(fields[text])
        self._store(task, event["format"], fields)

    def _store(self, task: dict[str, Any], fmt: str, fields: dict[str, Any]) -> None:
        name = self.names[(task["id"], fmt)]
        entry: dict[str, Any] = {
            "model": task["model"],
            "policy": task["policy"],
            "format": fmt,
            "path": name,
            "reference": self.layout.reference_name(task["model"], task["policy"]),
            **self.models.get(task["id"], {}),
            **fields,
        }
        if entry["status"] == "saved" and not (self.root / name).exists():
            entry.update(
                status="no-artifact",
                error_type="MissingArtifact",
                error=f"the probe reported {name} saved, but it is not there",
            )
        if entry["status"] == "saved":
            try:
                entry["files"] = files.hash_tree(self.root, self.root / name)
                entry["reference_sha256"] = files.sha256_file(self.root / entry["reference"])
                entry["sha256"] = store.artifact_digest(entry)
            except OSError as exc:
                entry.update(
                    status="no-artifact",
                    error_type="OSError",
                    error=f"the saved artifact cannot be read back: {exc}",
                )
        self.manifest["artifacts"][name] = entry
