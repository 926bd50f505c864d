"""The heat-map (compat.svg) in compat.html, where compat.md shows it as an image.

A small picture goes inline, so its squares' titles show on hover; only
after a check that it holds nothing but the shapes and texts `svg.py` draws,
since inline SVG may run scripts. A large one (a full preset's is 2 MB of
markup) is embedded gzip-compressed and shown as an image the page's script
inflates: an SVG image never runs scripts. Without scripts, that image reads
compat.svg beside the page.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import cached_property

from matrix.paths import REPORT_SVG
from matrix.report.html_data import pack

INLINE_LIMIT = 512_000  # characters of SVG shown inline; above, an image
PACKED_ID = "compat-svg"
_NS = "{http://www.w3.org/2000/svg}"
# What svg.py draws, and other shapes as harmless: no script, link, style,
# foreign content or event handler can pass.
_TAGS = frozenset(
    {"svg", "g", "rect", "text", "tspan", "title", "desc", "line", "path", "polyline",
     "polygon", "circle", "ellipse"}
)  # fmt: skip
_ATTRIBUTES = frozenset(
    {"width", "height", "viewBox", "x", "y", "dx", "dy", "x1", "y1", "x2", "y2", "cx", "cy",
     "r", "rx", "ry", "d", "points", "fill", "fill-opacity", "stroke", "stroke-width",
     "stroke-dasharray", "opacity", "transform", "text-anchor", "dominant-baseline",
     "font-family", "font-size", "font-weight", "font-style"}
)  # fmt: skip


@dataclass(frozen=True)
class Picture:
    """The heat-map's markup for the report, and its packed SVG (if any)."""

    svg: str
    inline_limit: int = field(default_factory=lambda: INLINE_LIMIT)

    @cached_property
    def inline(self) -> bool:
        return len(self.svg) <= self.inline_limit and only_drawing(self.svg)

    def markup(self, alt: str) -> str:
        label = html.escape(alt)
        if self.inline:
            body = self.svg.split("<svg", 1)[1]
            return f'<span class="heat-map" role="img" aria-label="{label}"><svg{body}</span>'
        # The script fills the image in; only without scripts is compat.svg read.
        return (
            f'<img class="heat-map" alt="{label}" data-packed="{PACKED_ID}"{self._size()}>'
            f'<noscript><img class="heat-map" src="{REPORT_SVG}" alt="{label}"></noscript>'
        )

    def _size(self) -> str:
        """The picture's width and height, so the page does not move when it shows."""
        head = re.search(r"<svg\b[^>]*>", self.svg)
        found = dict(re.findall(r'\b(width|height)="(\d+)"', head.group() if head else ""))
        return "".join(f' {key}="{found[key]}"' for key in ("width", "height") if key in found)

    def packed(self) -> str | None:
        """The gzip of the SVG, base64-encoded, when it is shown as an image."""
        return None if self.inline else pack(self.svg)


def only_drawing(svg: str) -> bool:
    """Whether the SVG holds only the elements and attributes svg.py writes:
    no script, no event handler, no link, no foreign content."""
    try:
        root = ET.fromstring(svg)
    except ET.ParseError:
        return False
    for element in root.iter():
        tag = element.tag.removeprefix(_NS)
        if tag not in _TAGS or not set(element.attrib) <= _ATTRIBUTES:
            return False
        # A paint or a value may not point anywhere (`url(...)`, `javascript:`).
        if any("url(" in v.lower() or ":" in v for v in element.attrib.values()):
            return False
    return True
