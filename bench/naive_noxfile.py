"""The naive way, for the benchmark: what a user scripts without tf-compat-matrix.

nox with its default settings (virtualenv + pip, a fresh venv per session),
one produce session per env, and one session per (producer env, consumer
env) pair that installs the consumer's TensorFlow, imports it, loads that
producer's artifacts and predicts. It runs the same probes on the same cells
as the tool, so only the orchestration differs. `bench/run.py` writes the
plan this file reads (NAIVE_PLAN) and the task files it points to.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nox

PLAN = json.loads(Path(os.environ["NAIVE_PLAN"]).read_text(encoding="utf-8"))
PROBES = PLAN["probes"]


def _run_probe(session: nox.Session, env: dict[str, Any], script: str, tasks: str) -> None:
    session.install(*env["requirements"])
    events = tasks + ".events"
    environment: dict[str, str] = env["environment"]
    session.run(
        "bash",
        "-c",
        f'python "{PROBES}/{script}" --tasks "{tasks}" --events-fd 3 3>"{events}"',
        env=environment,
        external=True,
    )


@nox.session
@nox.parametrize(
    "python,env_id",
    [(e["python"], e["id"]) for e in PLAN["envs"]],
    ids=[e["id"] for e in PLAN["envs"]],
)
def produce(session: nox.Session, env_id: str) -> None:
    env = next(e for e in PLAN["envs"] if e["id"] == env_id)
    _run_probe(session, env, "produce.py", env["produce_tasks"])


@nox.session
@nox.parametrize(
    "python,pair",
    [(c["python"], f"{p['id']}__{c['id']}") for p in PLAN["envs"] for c in PLAN["envs"]],
    ids=[f"{p['id']}__{c['id']}" for p in PLAN["envs"] for c in PLAN["envs"]],
)
def consume(session: nox.Session, pair: str) -> None:
    consumer = pair.split("__")[1]
    env = next(e for e in PLAN["envs"] if e["id"] == consumer)
    _run_probe(session, env, "consume.py", str(Path(PLAN["tasks"]) / f"consume-{pair}.json"))
