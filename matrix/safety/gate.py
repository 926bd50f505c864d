"""The one safety gate: may this loader, in this env, load this inspected file?

Asked by every stage that loads a user's or a producer's file (reference
derivation, consume) and for every loader, with the same answer both times
the report needs it. A finding blocks a load when the load reads what the
finding sits in (its scope). Code in a Keras config is let through only to a
Keras whose safe_mode refuses it with no known way past it (the floors in
`matrix/axes.py`), so the cell shows Keras's own refusal. A class named with
a foreign module is let through to a Keras that would import that module
only on a condition the probe checks before loading: the custom objects
passed name the class, so Keras finds it without importing anything.
`--unsafe` opens the gate for everything, and every report says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matrix import axes
from matrix.safety.findings import Finding, Inspection, Kind, Scope
from matrix.selection.env import Env


@dataclass(frozen=True)
class Consumer:
    """What the gate needs to know of a consumer env."""

    flavour: str
    keras_version: str | None
    tf: tuple[int, int] = (99, 0)  # the TensorFlow minor (nightly sorts last)

    @property
    def label(self) -> str:
        return f"{self.flavour} {self.keras_version or '(version unknown)'}"


@dataclass(frozen=True)
class Decision:
    refused: str | None = None  # why the load may not go ahead
    # (name, module): classes Keras would import a module to find, unless the
    # custom objects passed to load_model name them; the probe checks first.
    must_resolve: tuple[tuple[str, str], ...] = ()


def consumer_of(env: Env, freeze: Sequence[str]) -> Consumer:
    """An env as the gate sees it: its flavour and the Keras version it got."""
    version = axes.keras_version(env.keras_line, env.tf, freeze)
    return Consumer(env.keras_line, version, env.tf_version or (99, 0))


def skip_reason(  # noqa: PLR0917 - a cell's loader, format, env and file
    loader: str,
    fmt: str,
    flavour: str,
    inspection: Inspection | None,
    consumer: Consumer,
    unsafe: bool,
) -> str | None:
    """Why a consumer does not run `loader` on an artifact, or None: the
    loader does not exist in the env's Keras, or the safety gate refuses."""
    return (
        missing_loader(loader, flavour) or decide(inspection, loader, fmt, consumer, unsafe).refused
    )


def missing_loader(loader: str, flavour: str) -> str | None:
    """Why an env of this Keras flavour has no such loader, or None."""
    rule = axes.LOADER_FLAVOURS.get(loader)
    return rule[1] if rule is not None and flavour not in rule[0] else None


def decide(
    inspection: Inspection | None, loader: str, fmt: str, consumer: Consumer, unsafe: bool
) -> Decision:
    if unsafe:
        return Decision()
    if inspection is None:
        return Decision("refused: the file was never inspected, so it counts as carrying code")
    reads = _reads(loader, fmt, consumer)
    resolve: list[tuple[str, str]] = []
    for finding in inspection.blocking:
        # What cannot be cleared (bombs, unreadable or mismatched files, a
        # refused source) reaches no loader, even one that would read nothing.
        if finding.scope is not Scope.EVERYTHING and finding.scope.value not in reads:
            continue
        if finding.kind is Kind.CODE and axes.enforces_safe_mode(
            consumer.flavour, consumer.keras_version, fmt
        ):
            continue
        if finding.kind is Kind.MODULE:
            if axes.imports_config_modules(consumer.flavour, consumer.keras_version):
                resolve.append((finding.name or finding.what, finding.module or "?"))
            continue
        return Decision(_why(finding, loader, fmt, consumer))
    return Decision(must_resolve=tuple(dict.fromkeys(resolve)))


def _reads(loader: str, fmt: str, consumer: Consumer) -> frozenset[str]:
    if axes.reads_nothing(loader, fmt, consumer.flavour, consumer.tf):
        return frozenset()
    return axes.LOADER_READS.get((loader, fmt), frozenset({"config", "graph", "weights"}))


_VERBS = {
    Kind.CODE: "would run it",
    Kind.OUTSIDE: "would reach outside the model",
}


def _why(finding: Finding, loader: str, fmt: str, consumer: Consumer) -> str:
    if finding.kind not in _VERBS:  # resource, unreadable, mismatch: no loader may try
        return f"refused: {finding.what} ({finding.where})"
    guard = ""
    if finding.kind is Kind.CODE:
        guard = f" with no safe_mode enforced for {fmt} in {consumer.label}"
    return (
        f"refused without --unsafe: {finding.what} ({finding.where}); the {loader} loader "
        f"{_VERBS[finding.kind]}{guard}"
    )
