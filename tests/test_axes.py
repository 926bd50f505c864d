"""The release table and its rules: capabilities, safe_mode floors, versions."""

from __future__ import annotations

import pytest

from matrix import axes


def test_every_release_has_pythons_and_a_flavour() -> None:
    for release in axes.RELEASES.values():
        assert release.pythons and release.default_flavour in release.flavours


def test_keras3_is_the_default_from_2_16() -> None:
    assert axes.RELEASES["2.15"].flavours == ("keras2",)
    assert axes.RELEASES["2.16"].flavours == ("keras3", "tf-keras")


def test_writers_as_data() -> None:
    assert "keras" in axes.RELEASES["2.11"].unwritable("keras2")
    assert axes.RELEASES["2.12"].unwritable("keras2") == {}
    assert axes.RELEASES["2.11"].weights_suffix("keras2") == "-weights.h5"
    assert axes.RELEASES["2.12"].weights_suffix("keras2") == ".weights.h5"
    assert axes.RELEASES["2.21"].weights_suffix("tf-keras") == ".weights.h5"


def test_what_an_old_env_cannot_build_is_data() -> None:
    """Not-applicable with the reason, never a failing cell: TF 2.1-2.3's
    TextVectorization takes no vocabulary argument (the zoo passes one), and
    standalone Keras builds no layer that changes the shape without
    compute_output_shape (the zoo's nested Block)."""
    for minor in ("2.1", "2.2", "2.3"):
        assert "vocabulary argument" in axes.RELEASES[minor].unbuildable("keras2")["text"]
    assert "text" not in axes.RELEASES["2.4"].unbuildable("keras2")
    old = axes.RELEASES["1.15"]
    assert "compute_output_shape" in old.unbuildable(axes.STANDALONE_KERAS)["subclassed"]
    assert "subclassed" not in old.unbuildable("keras2")
    assert "mixed_float16" in old.unbuildable("keras2")


@pytest.mark.parametrize(
    ("version", "expected"),
    [("3.13.2", (3, 13, 2)), ("2.15", (2, 15)), ("3.16.0rc1", (3, 16, 0)), ("3.1.dev5", (3, 1))],
)
def test_version_tuple(version: str, expected: tuple[int, ...]) -> None:
    assert axes.version_tuple(version) == expected


@pytest.mark.parametrize(
    ("flavour", "version", "fmt", "expected"),
    [
        ("keras3", "3.15.1", "keras", True),
        ("keras3", "3.15.0", "h5", True),
        ("keras3", "3.14.1", "keras", False),  # CVE-2026-12481 and -12484
        ("keras3", "3.12.4", "keras", False),  # fixed in source, still in the advisory range
        ("keras3", "3.8.0", "keras", False),  # CVE-2025-1550
        ("keras3", "3.15.1", "savedmodel", False),
        ("keras2", "2.15", "keras", False),  # imports config modules, never fixed
        ("tf-keras", "2.21.0", "keras", False),
        ("keras3", None, "keras", False),
    ],
)
def test_safe_mode_floors(flavour: str, version: str | None, fmt: str, expected: bool) -> None:
    assert axes.enforces_safe_mode(flavour, version, fmt) is expected


def test_module_imports_follow_the_advisories() -> None:
    assert axes.imports_config_modules("keras3", "3.8.0")
    assert not axes.imports_config_modules("keras3", "3.9.0")
    assert axes.imports_config_modules("tf-keras", "2.21.0")
    assert axes.imports_config_modules("keras2", "2.15")


def test_every_advisory_cites_a_link() -> None:
    for advisory in axes.ADVISORIES:
        assert advisory.link.startswith("https://") and advisory.flavour in axes.FLAVOURS


def test_keras_version_of_an_env() -> None:
    freeze = ["keras==3.15.1", "tf_keras==2.18.0", "tensorflow==2.18.1"]
    assert axes.keras_version("keras3", "2.18", freeze) == "3.15.1"
    assert axes.keras_version("tf-keras", "2.18", freeze) == "2.18.0"
    assert axes.keras_version("keras2", "2.15", freeze) == "2.15"
    assert axes.keras_version("keras3", "2.18", []) is None
    assert axes.keras_version("standalone-keras", "1.15", ["keras==2.3.1"]) == "2.3.1"


def test_reads_nothing() -> None:
    assert axes.reads_nothing("keras", "savedmodel", "keras3", (2, 21))
    assert axes.reads_nothing("keras", "keras", "keras2", (2, 11))
    assert not axes.reads_nothing("keras", "keras", "keras2", (2, 12))


def test_every_format_has_native_loaders_it_can_use() -> None:
    for fmt, loaders in axes.NATIVE_LOADERS.items():
        assert set(loaders) <= set(axes.FORMAT_LOADERS[fmt])
