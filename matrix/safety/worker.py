"""The inspection worker: a child process that reads model files for the host.

Usage: worker.py --tasks TASKS.json --events-fd N  (the probes' protocol)

HDF5 and zip parsing of a hostile file may crash, hang or allocate without
bound; here that costs only this process, under an address-space cap and
the probes' sandbox (writes only to its scratch folder, no network), and
the host turns a crash or timeout into a finding. It runs with the host's
own interpreter and never imports TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from pathlib import Path

# The folder holding the `matrix` package, for `import matrix` when this file
# runs as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

SCHEMA_VERSION = 1
MEMORY_LIMIT = 4 * 2**30  # address space beyond what the imports mapped


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="worker.py")
    parser.add_argument("--tasks", required=True)
    parser.add_argument("--events-fd", type=int, required=True)
    args = parser.parse_args(argv)
    sandbox = _confine()
    from matrix.safety.findings import Inspection, unreadable
    from matrix.safety.scan import inspect_path

    _cap_memory()
    tasks = json.loads(Path(args.tasks).read_text(encoding="utf-8"))["tasks"]
    with os.fdopen(args.events_fd, "w", encoding="utf-8") as events:

        def emit(**fields: object) -> None:
            events.write(json.dumps(fields, sort_keys=True) + "\n")
            events.flush()

        emit(event="hello", schema_version=SCHEMA_VERSION, env={"sandbox": sandbox})
        for task in tasks:
            emit(event="start", task=task["id"])
            path = Path(task["path"])
            try:
                inspection = inspect_path(path, Path(task["scratch"]))
            except Exception as exc:  # noqa: BLE001 - whatever a hostile file raises
                failure = unreadable(f"{type(exc).__name__}: {str(exc)[:300]}", path.name)
                inspection = Inspection(None, (failure,))
            emit(event="done", task=task["id"], inspection=inspection.to_dict())
        emit(event="bye")
    return 0


def _confine() -> dict[str, str]:
    """The probes' sandbox (plain stdlib), applied before anything is read."""
    from matrix.paths import PROBES_DIR

    sys.path.insert(0, str(PROBES_DIR))
    import _sandbox  # type: ignore[import-not-found]

    result: dict[str, str] = _sandbox.confine()
    return result


def _cap_memory() -> None:
    with Path("/proc/self/status").open(encoding="ascii") as status:
        fields = dict(line.split(":", 1) for line in status if ":" in line)
    mapped = int(fields["VmSize"].split()[0]) * 1024
    limit = mapped + MEMORY_LIMIT
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
