"""A compact table of many short strings: an XLSX's shared strings.

A Python ``str`` costs about 50 bytes before its text; a sheet may hold millions of
distinct strings (20 million two-letter ones fit in 400 MB of XML). Blocks of
:data:`BLOCK` strings are joined into one ``str`` each with their offsets in an
``array``, so a string costs its text plus 8 bytes, and a lookup is one slice.
"""

from __future__ import annotations

from array import array

BLOCK = 1 << 16


class StringTable:
    def __init__(self) -> None:
        self._blocks: list[str] = []
        self._offsets: list[array[int]] = []
        self._pending: list[str] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, text: str) -> None:
        self._pending.append(text)
        self._count += 1
        if len(self._pending) == BLOCK:
            self._seal()

    def _seal(self) -> None:
        offsets = array("q", [0])
        total = 0
        for text in self._pending:
            total += len(text)
            offsets.append(total)
        self._blocks.append("".join(self._pending))
        self._offsets.append(offsets)
        self._pending = []

    def __getitem__(self, index: int) -> str:
        if index < 0 or index >= self._count:
            raise IndexError(index)
        block, at = divmod(index, BLOCK)
        if block == len(self._blocks):
            return self._pending[at]
        offsets = self._offsets[block]
        return self._blocks[block][offsets[at] : offsets[at + 1]]
