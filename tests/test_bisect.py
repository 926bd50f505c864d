"""bisect: failure groups between two measured releases, and the binary
search over the patch releases between them (measurements faked here;
tests/test_bisect_real.py measures real envs)."""

from __future__ import annotations

import math

from matrix import bisect
from matrix.results.cells import Cell
from matrix.results.document import Document
from matrix.results.records import EnvState
from matrix.selection.env import Env

K3_3, K3_12, K3_15 = (f"keras{m}-tensorflow-py3.11-cpu" for m in ("3.3", "3.12", "3.15"))


def _document(cells: list[tuple[str, str, str, str | None]]) -> Document:
    """Cells (producer, consumer, status, known cause) of one model and format."""
    envs = tuple(
        EnvState(Env.parse(e), status="ok", freeze=(f"keras=={v}",))
        for e, v in ((K3_3, "3.3.3"), (K3_12, "3.12.4"), (K3_15, "3.15.1"))
    )
    made = tuple(
        Cell(producer=p, consumer=c, model="mlp", policy="float32", format="keras",
             loader="keras", status=s, known=k)
        for p, c, s, k in cells
    )  # fmt: skip
    return Document({}, envs, (), (), made, (), {}, {}, {})


def test_a_group_is_a_failure_between_two_neighbouring_releases() -> None:
    document = _document([
        (K3_3, K3_3, "identical", None),
        (K3_12, K3_3, "load-error", "keras3-functional-unnested-io"),
        (K3_15, K3_3, "load-error", "keras3-functional-unnested-io"),
        (K3_12, K3_12, "identical", None),
        (K3_15, K3_12, "load-error", "keras3-quantization-config"),
        (K3_15, K3_15, "identical", None),
        (K3_3, K3_15, "identical", None),
    ])  # fmt: skip
    found = {g.id: g for g in bisect.groups(document)}
    unnested = f"keras3-functional-unnested-io:producer:{K3_3}..{K3_12}:{K3_3}"
    assert unnested in found and found[unnested].regression
    quantized = f"keras3-quantization-config:producer:{K3_12}..{K3_15}:{K3_12}"
    assert quantized in found
    # Read by 3.15 and not by 3.12: the consumer side, a fix when going newer.
    fixed = f"keras3-quantization-config:consumer:{K3_15}..{K3_12}:{K3_15}"
    assert fixed in found and not found[fixed].regression
    # 3.15 -> 3.3 fails and 3.12 -> 3.3 fails too: no change between them.
    assert not any(
        g.id.startswith(f"keras3-functional-unnested-io:producer:{K3_12}") for g in found.values()
    )
    assert bisect.installed(document, K3_12, "keras") == "3.12.4"


VERSIONS = ["3.12.3", "3.12.4", "3.13.0rc0", "3.13.0", "3.13.1", "3.13.2", "3.14.0", "3.14.1",
            "3.15.0", "3.15.1", "3.16.0.dev2026"]  # fmt: skip


CELLS = (("mlp", "float32", "keras", "keras"),)


def _group() -> bisect.Group:
    return bisect.Group(
        "keras3-quantization-config", "producer", "keras", Env.parse(K3_12), Env.parse(K3_15),
        K3_12, CELLS,
    )  # fmt: skip


def test_the_search_finds_the_first_patch_in_log2_steps() -> None:
    assert bisect.candidates(VERSIONS, "3.12.4", "3.15.1") == [
        "3.13.0", "3.13.1", "3.13.2", "3.14.0", "3.14.1", "3.15.0"]  # fmt: skip
    for first in ("3.13.0", "3.14.1", "3.15.0", "3.15.1"):
        seen: list[str] = []

        def measure(
            group: bisect.Group, env: Env, first: str = first, seen: list[str] = seen
        ) -> str:
            assert env.exact is not None and env.id.endswith(f"-v{env.exact}")
            seen.append(env.exact)
            return "bad" if tuple(map(int, env.exact.split("."))) >= tuple(
                map(int, first.split("."))) else "good"  # fmt: skip

        found = bisect.bisect(_group(), VERSIONS, "3.12.4", "3.15.1", measure=measure, budget=9)
        assert found.first == first, (first, found.to_dict())
        assert len(seen) <= math.ceil(math.log2(len(found.candidates) + 1))
    assert found.words == "fails when saved with keras 3.15.1 or newer (3.15.0 works)"


def test_a_candidate_that_does_not_install_is_skipped() -> None:
    def measure(group: bisect.Group, env: Env) -> str:
        if env.exact == "3.14.0":
            return "the env did not install: no wheel"
        return "bad" if env.exact in ("3.14.1", "3.15.0") else "good"

    found = bisect.bisect(_group(), VERSIONS, "3.12.4", "3.15.1", measure=measure, budget=9)
    assert found.first == "3.14.1" and found.last == "3.13.2"
    assert found.problems == ["keras 3.14.0: the env did not install: no wheel"]
    short = bisect.bisect(_group(), VERSIONS, "3.12.4", "3.15.1", measure=measure, budget=1)
    assert short.first is None and "budget of 1" in short.words


def test_a_fix_is_searched_the_other_way() -> None:
    group = bisect.Group(
        "keras3-quantization-config", "consumer", "keras", Env.parse(K3_15), Env.parse(K3_12),
        K3_15, CELLS,
    )  # fmt: skip

    def measure(group: bisect.Group, env: Env) -> str:
        return "bad" if env.exact in ("3.12.3", "3.12.4") else "good"

    found = bisect.bisect(group, VERSIONS, "3.15.1", "3.12.4", measure=measure, budget=9)
    assert found.first == "3.13.0" and found.last == "3.12.4"
    assert found.words == "works when loaded with keras 3.13.0 or newer (3.12.4 fails)"
