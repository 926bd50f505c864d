"""The progress lines' time left: whole units, never "10 min 60 s"."""

from __future__ import annotations

import pytest

from matrix.run.progress import _duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "?"),
        (12.4, "12 s"),
        (59.6, "1 min 00 s"),
        (659.6, "11 min 00 s"),
        (3599.7, "1 h 00 min"),
        (5025.0, "1 h 23 min"),
    ],
)
def test_time_left_is_rounded_before_it_is_split(seconds: float | None, text: str) -> None:
    assert _duration(seconds) == text
