"""How often a prediction is right: every zoo artifact predicted without its own model.

Each zoo artifact of the index is predicted at every env that measured it,
from the other models alone (leave one model out: the file's own cells
never vouch for it), and the prediction is held against what was measured
through its default loader. Counted: cells predicted (works or breaks),
cells left unknown, agreements, and the worst mistake, a "works" where the
measurement failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from matrix.check.index import Index
from matrix.check.predict import PASSING, UNDECIDED, direct_loader, predict, writer_of


@dataclass(frozen=True)
class Agreement:
    predicted: int
    unknown: int
    agreed: int
    false_works: int  # predicted works, measured a failure
    false_breaks: int  # predicted breaks, measured working

    @property
    def share(self) -> float:
        return self.agreed / self.predicted if self.predicted else 0.0

    def line(self) -> str:
        return (
            f"{self.agreed:,} of {self.predicted:,} predicted cells agree with the measurement "
            f"({100 * self.share:.1f}%); {self.false_works} 'works' that failed, "
            f"{self.false_breaks} 'breaks' that worked; {self.unknown:,} left unknown"
        )


def agreement(index: Index) -> Agreement:
    predicted = unknown = agreed = false_works = false_breaks = 0
    designed = made_to_fail(index)
    for (producer, model, policy, fmt), outcomes in index.outcomes.items():
        env = index.envs.get(producer)
        if env is None or producer.startswith("gold:") or model not in index.models:
            continue
        if model in designed:
            continue  # it fails by design: `check` flags its unregistered class instead
        traits = {
            "keras_version": env.keras if env.line != "keras2" else env.tf,
            "layers": index.models[model],
            "policies": [policy],
            "backend": env.backend,
        }
        loader = direct_loader(fmt, writer_of(traits))
        measured = {
            consumer: by[loader][0]
            for consumer, by in outcomes.items()
            if loader in by and by[loader][0] not in UNDECIDED
        }
        if not measured:
            continue
        for found in predict(index, traits, fmt, sorted(measured), without=model):
            status = measured[found.target]
            if found.verdict == "unknown":
                unknown += 1
                continue
            predicted += 1
            works = status in PASSING
            if (found.verdict == "works") == works:
                agreed += 1
            elif found.verdict == "works":
                false_works += 1
            else:
                false_breaks += 1
    return Agreement(predicted, unknown, agreed, false_works, false_breaks)


def made_to_fail(index: Index) -> set[str]:
    """Zoo models some cell of which a by-design cause explains."""
    by_design = {k for k, c in index.causes.items() if c.get("kind") == "by-design"}
    return {
        key[1]
        for key, outcomes in index.outcomes.items()
        if any(o[2] in by_design for by in outcomes.values() for o in by.values())
    }
