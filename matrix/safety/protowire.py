"""A strict reader of the protobuf wire format, for files nobody here wrote.

SavedModels are protobuf messages (`saved_model.pb`, `keras_metadata.pb`).
The host never imports TensorFlow, so it reads them field by field: every
tag, length and varint is checked against what is left of the buffer, and
anything malformed raises `ProtoError` instead of being skipped. Callers
treat that error as "cannot be parsed", which the safety gate refuses.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT, FIXED64, LENGTH, START_GROUP, END_GROUP, FIXED32 = range(6)
_MAX_VARINT_BYTES = 10


class ProtoError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def fields(data: bytes | memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Yield (field number, wire type, value) for each field of one message:
    an int for varints and fixed-width fields, a memoryview for
    length-delimited ones (sub-messages, strings, packed arrays)."""
    view = memoryview(data)
    position = 0
    end = len(view)
    while position < end:
        key, position = _varint(view, position)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtoError(f"field number 0 at byte {position}")
        if wire == VARINT:
            value, position = _varint(view, position)
            yield number, wire, value
        elif wire == LENGTH:
            size, position = _varint(view, position)
            if size > end - position:
                msg = f"field {number} claims {size} bytes; {end - position} are left"
                raise ProtoError(msg)
            yield number, wire, view[position : position + size]
            position += size
        elif wire in (FIXED64, FIXED32):
            width = 8 if wire == FIXED64 else 4
            if width > end - position:
                raise ProtoError(f"field {number} is cut short")
            yield number, wire, int.from_bytes(view[position : position + width], "little")
            position += width
        else:
            # Groups are not used by any TensorFlow message; wire types 6-7 do not exist.
            raise ProtoError(f"unsupported wire type {wire} for field {number}")


def _varint(view: memoryview, position: int) -> tuple[int, int]:
    result = 0
    for shift in range(_MAX_VARINT_BYTES):
        if position >= len(view):
            raise ProtoError("a varint runs past the end of the message")
        byte = view[position]
        position += 1
        result |= (byte & 0x7F) << (7 * shift)
        if not byte & 0x80:
            return result, position
    raise ProtoError("a varint is longer than 10 bytes")


def messages(data: bytes | memoryview, number: int) -> Iterator[memoryview]:
    """The length-delimited values of field `number` (repeated sub-messages)."""
    for found, wire, value in fields(data):
        if found == number:
            if wire != LENGTH or not isinstance(value, memoryview):
                raise ProtoError(f"field {number} should be length-delimited")
            yield value


def message(data: bytes | memoryview, number: int) -> memoryview | None:
    """The last value of a singular sub-message field (protobuf merge order)."""
    last = None
    for value in messages(data, number):
        last = value
    return last


def text(data: bytes | memoryview, number: int) -> str:
    """A singular string field ("" when absent); invalid UTF-8 is an error."""
    value = message(data, number)
    if value is None:
        return ""
    try:
        return bytes(value).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtoError(f"field {number} is not valid UTF-8") from exc


def texts(data: bytes | memoryview, number: int) -> list[str]:
    """A repeated string field."""
    found = []
    for value in messages(data, number):
        try:
            found.append(bytes(value).decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ProtoError(f"field {number} is not valid UTF-8") from exc
    return found


def entries(data: bytes | memoryview, number: int) -> Iterator[tuple[str, memoryview]]:
    """A `map<string, Message>` field as (key, value bytes) pairs."""
    for entry in messages(data, number):
        value = message(entry, 2)
        yield text(entry, 1), value if value is not None else memoryview(b"")
