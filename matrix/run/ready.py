"""A ready env: a planned env whose virtualenv is built, and its state.

Every stage runs in a ready env and returns the env's state as the stage
leaves it; the runner writes it (`runner.Envs.record`), the only writer of
env states in a run.
"""

from __future__ import annotations

from dataclasses import dataclass

from matrix.envs.provision import VenvRecord
from matrix.results.records import EnvState
from matrix.selection.plan import PlannedEnv


@dataclass(frozen=True)
class ReadyEnv:
    planned: PlannedEnv
    record: VenvRecord
    state: EnvState

    @property
    def id(self) -> str:
        return self.planned.id
