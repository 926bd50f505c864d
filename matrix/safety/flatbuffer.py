"""A strict reader of FlatBuffers, for .tflite files nobody here wrote.

A TFLite model is one FlatBuffer: tables reached through offsets, each
table's fields found through its vtable. Nothing here trusts an offset: every
table, vtable, vector and string is checked to lie inside the buffer before
it is read, element counts are bounded, and anything malformed raises
`FlatBufferError` (which the inspector reports as "cannot be parsed", and
the gate refuses) instead of being skipped or followed out of bounds.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_U8, _U16, _I32, _U32, _I64 = (struct.Struct(f) for f in ("<B", "<H", "<i", "<I", "<q"))


class FlatBufferError(ValueError):
    """The bytes are not a well-formed FlatBuffer."""


@dataclass(frozen=True)
class Buffer:
    data: bytes | memoryview
    max_elements: int = 10_000_000  # in one vector: far above any model, far below harm

    def _read(self, fmt: struct.Struct, at: int) -> int:
        if at < 0 or at + fmt.size > len(self.data):
            msg = f"a {fmt.size}-byte read at {at} lies outside the {len(self.data)}-byte file"
            raise FlatBufferError(msg)
        value: int = fmt.unpack_from(self.data, at)[0]
        return value

    def root(self) -> Table:
        return self.table(self._read(_U32, 0))

    def identifier(self) -> bytes:
        """The 4-byte file identifier after the root offset ("TFL3")."""
        if len(self.data) < 8:
            return b""
        return bytes(self.data[4:8])

    def table(self, at: int) -> Table:
        vtable = at - self._read(_I32, at)
        size = self._read(_U16, vtable)
        inline = self._read(_U16, vtable + 2)
        if size < 4 or size % 2 or vtable + size > len(self.data):
            msg = f"the table at {at} has a malformed vtable at {vtable} (size {size})"
            raise FlatBufferError(msg)
        if at + inline > len(self.data):
            msg = f"the table at {at} claims {inline} bytes past the end of the file"
            raise FlatBufferError(msg)
        return Table(self, at, vtable, (size - 4) // 2)


@dataclass(frozen=True)
class Table:
    buffer: Buffer
    at: int
    vtable: int
    fields: int

    def _field(self, index: int) -> int | None:
        """Where field `index` is stored, or None when the table leaves it out."""
        if index >= self.fields:
            return None
        offset = self.buffer._read(_U16, self.vtable + 4 + 2 * index)
        return self.at + offset if offset else None

    def scalar(self, index: int, kind: str, default: int = 0) -> int:
        fmt = {"u8": _U8, "u16": _U16, "i32": _I32, "u32": _U32, "i64": _I64}[kind]
        where = self._field(index)
        return default if where is None else self.buffer._read(fmt, where)

    def _target(self, index: int) -> int | None:
        where = self._field(index)
        return None if where is None else where + self.buffer._read(_U32, where)

    def table(self, index: int) -> Table | None:
        target = self._target(index)
        return None if target is None else self.buffer.table(target)

    def _vector(self, index: int, element: int) -> tuple[int, int]:
        """(first element's position, length) of a vector field; (0, 0) if absent."""
        target = self._target(index)
        if target is None:
            return 0, 0
        length = self.buffer._read(_U32, target)
        if length > self.buffer.max_elements:
            msg = f"a vector of {length} elements at {target} is over the limit"
            raise FlatBufferError(msg)
        if target + 4 + length * element > len(self.buffer.data):
            msg = f"a vector of {length} elements at {target} runs past the end of the file"
            raise FlatBufferError(msg)
        return target + 4, length

    def string(self, index: int) -> str | None:
        start, length = self._vector(index, 1)
        if not start and self._field(index) is None:
            return None
        raw = bytes(self.buffer.data[start : start + length])
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            msg = f"a string at {start} is not UTF-8"
            raise FlatBufferError(msg) from exc

    def bytes_length(self, index: int) -> int:
        """The length of a [ubyte] vector (checked to fit), without reading it."""
        return self._vector(index, 1)[1]

    def ints(self, index: int) -> list[int]:
        start, length = self._vector(index, 4)
        return [self.buffer._read(_I32, start + 4 * i) for i in range(length)]

    def tables(self, index: int) -> list[Table]:
        start, length = self._vector(index, 4)
        found = []
        for i in range(length):
            slot = start + 4 * i
            found.append(self.buffer.table(slot + self.buffer._read(_U32, slot)))
        return found
