"""The outcome of a cell: exactly one status each, with its report symbol."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any


class NamedEnum(str, enum.Enum):
    """An enum whose values are its members' names as words: LOAD_ERROR is "load-error"."""

    @staticmethod
    def _generate_next_value_(name: str, start: int, count: int, last_values: list[Any]) -> str:
        return name.lower().replace("_", "-")


class Status(NamedEnum):
    """In legend order."""

    # The consumer loaded the model and predicted within tolerance.
    IDENTICAL, CLOSE = enum.auto(), enum.auto()
    # A load ran in the consumer and did not read or reproduce the model.
    DRIFT, NAN, LOAD_ERROR, PREDICT_ERROR = enum.auto(), enum.auto(), enum.auto(), enum.auto()
    CRASH, TIMEOUT = enum.auto(), enum.auto()
    # Decided before any load: nothing to load, or nowhere to load it.
    NOT_APPLICABLE, NO_ARTIFACT = enum.auto(), enum.auto()
    ENV_ERROR, UNAVAILABLE = enum.auto(), enum.auto()

    @property
    def passing(self) -> bool:
        return self in (Status.IDENTICAL, Status.CLOSE)

    @property
    def measured(self) -> bool:
        """A load ran in the consumer and this is its outcome (not decided
        before any load: not-applicable, no-artifact, a broken or missing env)."""
        return self not in (
            Status.NOT_APPLICABLE,
            Status.NO_ARTIFACT,
            Status.ENV_ERROR,
            Status.UNAVAILABLE,
        )

    @property
    def read_failure(self) -> bool:
        """The consumer could not read the artifact, or not reproduce its outputs."""
        return self.measured and not self.passing

    @property
    def failing(self) -> bool:
        """A failure a cause can explain: a read failure, or a failed save."""
        return self.read_failure or self is Status.NO_ARTIFACT

    @property
    def junit(self) -> str:
        """How JUnit counts it: failure (wrong numbers), error, skipped or passed."""
        if self in (Status.DRIFT, Status.NAN):
            return "failure"
        if self in (Status.NOT_APPLICABLE, Status.UNAVAILABLE):
            return "skipped"
        return "passed" if self.passing else "error"

    @property
    def symbol(self) -> str:
        return SYMBOLS[self]

    @classmethod
    def values(cls, test: Callable[[Status], bool]) -> frozenset[str]:
        """The status words of every status that passes `test`."""
        return frozenset(s.value for s in cls if test(s))


# Emoji plus the status word in the legend keep tables readable and greppable.
SYMBOLS: dict[Status, str] = {
    Status.IDENTICAL: "✅",
    Status.CLOSE: "🟢",
    Status.DRIFT: "🟠",
    Status.NAN: "🔴",
    Status.LOAD_ERROR: "❌",
    Status.PREDICT_ERROR: "💢",
    Status.CRASH: "💥",
    Status.TIMEOUT: "⏱️",
    Status.NOT_APPLICABLE: "➖",
    Status.NO_ARTIFACT: "🚫",
    Status.ENV_ERROR: "⛔",
    Status.UNAVAILABLE: "💤",
}

MEANINGS: dict[Status, str] = {
    Status.IDENTICAL: "outputs bitwise equal to the producer's reference",
    Status.CLOSE: "finite and within the tolerance of the artifact's policy",
    Status.DRIFT: "finite but beyond tolerance (max abs / rel / ULP in details)",
    Status.NAN: "NaN/Inf pattern differs from the reference",
    Status.LOAD_ERROR: "loading raised",
    Status.PREDICT_ERROR: "loaded, but predicting raised",
    Status.CRASH: "the process died (signal, abort, OOM) on this cell",
    Status.TIMEOUT: "the cell passed its time limit",
    Status.NOT_APPLICABLE: "the producer cannot write this format, or the loader "
    "does not exist in that env",
    Status.NO_ARTIFACT: "the producer tried and failed to save it",
    Status.ENV_ERROR: "the env could not be built or TensorFlow could not be imported there",
    Status.UNAVAILABLE: "the env needs hardware or an interpreter this machine lacks",
}


# What `--fail-on` counts by default: every way a consumer fails to read.
READ_FAILURES = Status.values(lambda s: s.read_failure)
