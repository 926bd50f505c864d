"""A small FlatBuffer writer for the tests: hostile .tflite files built by hand.

Tables are laid out forward (a vtable, then its table, then its children),
so every offset points ahead, as the format wants. Fields are given in index
order as (kind, value); None leaves a field out.
"""

from __future__ import annotations

import struct
from typing import Any

Field = tuple[str, Any] | None
_SCALAR = {"u8": "<B", "i32": "<i", "u32": "<I", "i64": "<q"}


class Builder:
    def __init__(self) -> None:
        self.buf = bytearray()

    def _pad(self) -> None:
        while len(self.buf) % 4:
            self.buf.append(0)

    def table(self, fields: list[Field]) -> int:
        self._pad()
        vtable = len(self.buf)
        self.buf += bytes(4 + 2 * len(fields))
        self._pad()
        table = len(self.buf)
        self.buf += struct.pack("<i", table - vtable)
        slots: dict[int, int] = {}
        for index, field in enumerate(fields):
            if field is None:
                continue
            slots[index] = len(self.buf) - table
            self.buf += bytes(8 if field[0] == "i64" else 4)
        struct.pack_into("<HH", self.buf, vtable, 4 + 2 * len(fields), len(self.buf) - table)
        for index, offset in slots.items():
            struct.pack_into("<H", self.buf, vtable + 4 + 2 * index, offset)
        for index, offset in slots.items():
            kind, value = fields[index]  # type: ignore[misc]
            where = table + offset
            if kind in _SCALAR:
                struct.pack_into(_SCALAR[kind], self.buf, where, value)
            else:
                child = self._child(kind, value)
                struct.pack_into("<I", self.buf, where, child - where)
        return table

    def _child(self, kind: str, value: Any) -> int:
        self._pad()
        start = len(self.buf)
        if kind == "string":
            raw = value.encode("utf-8")
            self.buf += struct.pack("<I", len(raw)) + raw + b"\0"
        elif kind == "ints":
            self.buf += struct.pack("<I", len(value)) + b"".join(
                struct.pack("<i", v) for v in value
            )
        elif kind == "bytes":
            self.buf += struct.pack("<I", len(value)) + bytes(value)
        elif kind == "tables":
            self.buf += struct.pack("<I", len(value)) + bytes(4 * len(value))
            for i, fields in enumerate(value):
                child = self.table(fields)
                slot = start + 4 + 4 * i
                struct.pack_into("<I", self.buf, slot, child - slot)
        elif kind == "table":
            return self.table(value)
        else:
            raise ValueError(kind)
        return start


def tflite(
    ops: list[tuple[int, str | None, int]],
    tensors: list[tuple[list[int], int]] = (),  # type: ignore[assignment]
    buffers: list[tuple[int, int]] = (),  # type: ignore[assignment]
) -> bytes:
    """A .tflite-shaped FlatBuffer: operator codes (builtin code, custom code,
    version), one subgraph of tensors (shape, type), buffers (offset, size)."""
    builder = Builder()
    builder.buf += bytes(4) + b"TFL3"
    codes = [
        [("u8", min(code, 127)), ("string", custom) if custom else None, ("i32", version),
         ("i32", code)]
        for code, custom, version in ops
    ]  # fmt: skip
    subgraph = [("tables", [[("ints", shape), ("u8", kind)] for shape, kind in tensors])]
    model = [
        ("u32", 3),
        ("tables", codes),
        ("tables", [subgraph]),
        ("string", "built by the tests"),
        ("tables", [[None, ("i64", offset), ("i64", size)] for offset, size in buffers]),
    ]
    root = builder.table(model)
    struct.pack_into("<I", builder.buf, 0, root)
    return bytes(builder.buf)
