"""What compat.html embeds for its script: the document, packed, and the
little the script cannot read from it (labels, statuses, the layout's names).

The document is `jsonfile.dumps` (the columnar compat.json), gzip-compressed
and base64-encoded in a non-executed script element: a full preset's 17 MB
become 1.6 MB, which the browser inflates with `DecompressionStream`.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from typing import Any

from matrix.files import JsonObject
from matrix.paths import artifacts_folder
from matrix.report import jsonfile, view
from matrix.report.html_markdown import SHORT
from matrix.report.svg import LETTERS
from matrix.results.cells import KEY_FIELDS
from matrix.results.document import Document
from matrix.status import MEANINGS, Status

DATA_ID = "compat-data"
CONFIG_ID = "compat-config"
_SCRIPT_UNSAFE = re.compile(r"[<>&\u2028\u2029]")


def pack(text: str) -> str:
    """gzip (level 9, no timestamp: the same document gives the same bytes),
    then base64."""
    return base64.b64encode(gzip.compress(text.encode("utf-8"), 9, mtime=0)).decode("ascii")


def unpack(packed: str) -> str:
    return gzip.decompress(base64.b64decode(packed)).decode("utf-8")


def script_json(value: Any) -> str:
    """JSON that can sit inside a <script> element: no `</script>`, no `<!--`
    can end or change it, whatever the texts hold."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return _SCRIPT_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def config(document: Document) -> JsonObject:
    """What the explorer needs beside the document: how the columnar format
    is laid out (jsonfile's own constants), the env labels and orders, each
    status's words, and where each producer's artifacts lie (the `{artifact}`
    placeholder)."""
    producers = dict.fromkeys([*document.producers, *(c.producer for c in document.cells)])
    return {
        "format": {
            "columnar": list(jsonfile.COLUMNAR),
            "key": list(KEY_FIELDS),
            "dense": list(jsonfile.DENSE),
            "named": [c for c in jsonfile.NAMED if c not in jsonfile.DENSE],
            "text_fields": list(jsonfile.TEXT_FIELDS),
            "part_fields": list(jsonfile.PART_FIELDS),
            "cell_defaults": jsonfile.CELL_DEFAULTS,
            "part_defaults": jsonfile.PART_DEFAULTS,
            "folders": {p: artifacts_folder(p) for p in producers},
        },
        "labels": view.labels(document),
        "producers": list(producers),
        "consumers": document.consumers,
        # A square of the model view wears its worst status: the heat-map's order.
        "worst_first": [s.value for s in (*LETTERS, *(s for s in Status if s not in LETTERS))],
        "statuses": [
            {
                "value": s.value,
                "short": SHORT[s],
                "meaning": MEANINGS[s],
                "passing": s.passing,
                "read_failure": s.read_failure,
                "failing": s.failing,
            }
            for s in Status
        ],
    }
