"""Byte-level scans of whole string columns (numpy over Arrow buffers).

Regular expressions over a million cells cost tens of milliseconds each; the simple
questions the normalisers ask first ("only digits and separators?", "where is the '+'?",
"which digits?") are answered here in one pass over the UTF-8 bytes instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_SPACE, _NBSP_LEAD, _NBSP_TAIL, _PLUS = 0x20, 0xC2, 0xA0, 0x2B


def as_string_array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous ``string`` array (the scans need its buffers)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if column.type != pa.string():
        column = column.cast(pa.string())
    return column


def _np(mask: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def blank_mask(raw: pa.Array) -> np.ndarray:
    """Rows that are certainly blank for the reference's ``_blank`` (null, or only ASCII
    whitespace and NBSP). A rarer blank is not marked here: the reference decides it."""
    return _np(raw.is_null()) | _np(pc.match_substring_regex(raw, r"^[ \t\r\n\x{00A0}]*$"))


def utf8_bytes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets relative to the first value, the bytes of all values) of a string array."""
    _validity, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32, count=len(arr) + 1, offset=arr.offset * 4)
    data = (
        np.frombuffer(data_buf, dtype=np.uint8)[offsets[0] : offsets[-1]]
        if data_buf is not None and len(arr)
        else np.zeros(0, dtype=np.uint8)
    )
    return (offsets - offsets[0]).astype(np.int64), data


def _per_value(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """How many bytes of each value have ``mask`` set."""
    running = np.empty(len(mask) + 1, dtype=np.int32)  # int32: a column is under 2 GiB
    running[0] = 0
    np.cumsum(mask, dtype=np.int32, out=running[1:])
    return running[offsets[1:]] - running[offsets[:-1]]


def _range_sums(mask: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Set bytes of ``mask`` in each [start, end) (np.add.reduceat, with empty ranges fixed)."""
    if not len(starts):
        return np.zeros(0, dtype=np.int64)
    padded = np.zeros(len(mask) + 1, dtype=np.uint8)
    padded[:-1] = mask
    bounds = np.empty(2 * len(starts), dtype=np.int64)
    bounds[0::2] = starts
    bounds[1::2] = ends
    sums = np.add.reduceat(padded, bounds, dtype=np.int64)[0::2]
    sums[ends <= starts] = 0
    return sums


@dataclass(frozen=True)
class PhoneShapes:
    ok: np.ndarray  # only digits, separators, NBSP, and '+' only first after spaces
    plus: np.ndarray  # has that leading '+'
    digit_count: np.ndarray
    digits: pa.Array  # the ASCII digits of every value, in order


def scan_phone_shapes(raw: pa.Array) -> PhoneShapes:
    """Classify every value for the phone fast path and extract its digits (nulls → "")."""
    arr = pc.fill_null(raw, "") if raw.null_count else raw
    offsets, data = utf8_bytes(arr)
    n = len(arr)
    digit = (data >= 0x30) & (data <= 0x39)
    space = data == _SPACE
    is_plus = data == _PLUS
    allowed = digit | space | is_plus | (data == 0x28) | (data == 0x29) | (data == 0x2E)
    allowed |= data == 0x2D  # ( ) . -
    if len(data) > 1:
        pair = (data[:-1] == _NBSP_LEAD) & (data[1:] == _NBSP_TAIL)
        allowed[:-1] |= pair
        allowed[1:] |= pair
        space[:-1] |= pair
        space[1:] |= pair
    ok = _per_value(~allowed, offsets) == 0
    plus_count = _per_value(is_plus, offsets)
    ok &= plus_count <= 1
    plus = plus_count == 1
    positions = np.flatnonzero(is_plus)
    if len(positions):
        owner = np.searchsorted(offsets, positions, side="right") - 1
        first = positions == offsets[owner]  # the value starts with it
        later = np.flatnonzero(~first)
        if len(later):  # only spaces before it?
            first[later] = _range_sums(~space, offsets[owner[later]], positions[later]) == 0
        late = owner[~first]
        ok[late] = False
        plus[late] = False
    digit_count = _per_value(digit, offsets)
    new_offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(digit_count, out=new_offsets[1:])
    digits = pa.StringArray.from_buffers(
        n, pa.py_buffer(new_offsets), pa.py_buffer(np.ascontiguousarray(data[digit]))
    )
    return PhoneShapes(ok, plus & ok, digit_count, digits)


#: Every character ``str.isspace()`` is true for (Python 3.11), in RE2 syntax.
_PY_SPACE = r"[\t\n\x{0B}\x{0C}\r\x{1C}-\x{1F}\x{85}\p{Z}]"


def is_blank_mask(raw: pa.Array) -> np.ndarray:
    """Rows that are null or empty after ``str.strip()`` (required fields, messenger ids)."""
    candidates = _np(raw.is_null()) | _np(pc.match_substring_regex(raw, f"^{_PY_SPACE}*$"))
    sure = blank_mask(raw)
    for i in np.flatnonzero(candidates & ~sure):  # exotic spaces: ask Python itself
        sure[i] = not str(raw[i].as_py()).strip()
    return sure
