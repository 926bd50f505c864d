"""The outcome of a cell: exactly one status each, with its report symbol."""

from __future__ import annotations

import enum


class Status(str, enum.Enum):
    IDENTICAL = "identical"
    CLOSE = "close"
    DRIFT = "drift"
    NAN = "nan"
    LOAD_ERROR = "load-error"
    PREDICT_ERROR = "predict-error"
    CRASH = "crash"
    TIMEOUT = "timeout"
    NOT_APPLICABLE = "not-applicable"
    NO_ARTIFACT = "no-artifact"
    ENV_ERROR = "env-error"
    UNAVAILABLE = "unavailable"

    @property
    def passing(self) -> bool:
        return self in (Status.IDENTICAL, Status.CLOSE)

    @property
    def symbol(self) -> str:
        return SYMBOLS[self]


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
