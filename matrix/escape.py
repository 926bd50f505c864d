"""Escaping for text that comes from outside: messages, names, paths.

A Markdown table cell must stay one cell: tabulate writes text verbatim, so
`|` would add a column, a newline a row, and `<script>` or a backtick would
reach the renderer. Everything dynamic goes through `md_cell`.
"""

from __future__ import annotations

import html
import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_MD_PUNCTUATION = re.compile(r"([`*_\[\]|~#!])")
_XML_ILLEGAL = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def plain(text: object) -> str:
    """Text without ANSI escapes or control characters (tabs and newlines kept).

    Undecodable bytes (a non-UTF-8 file name arrives as lone surrogates) are
    spelled out as backslash escapes, so the text can always be written as UTF-8."""
    cleaned = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    cleaned = _ANSI.sub("", cleaned)
    cleaned = cleaned.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return _CONTROL.sub("", cleaned)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def md_cell(text: object, limit: int = 300) -> str:
    """One Markdown table cell, safe whatever `text` contains."""
    cleaned = shorten(" ".join(plain(text).split("\n")).strip(), limit)
    escaped = html.escape(cleaned.replace("\\", "\\\\"), quote=False)
    escaped = _MD_PUNCTUATION.sub(r"\\\1", escaped)
    # A zero-width space after "@" keeps error text from pinging GitHub users.
    return escaped.replace("@", "@\u200b")


def terminal(text: object) -> str:
    """Text safe to print on a terminal: ANSI escapes and control characters
    (from file names, exception messages) spelled out, never obeyed."""
    cleaned = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", lambda m: f"\\x{ord(m.group()):02x}", cleaned)


def xml_text(text: object) -> str:
    """Text that is legal inside any XML or HTML document."""
    cleaned = str(text).encode("utf-8", "backslashreplace").decode("utf-8")
    return _XML_ILLEGAL.sub("\ufffd", _ANSI.sub("", cleaned))
