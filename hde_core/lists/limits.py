"""How big a list may be, checked while it is read (SPEC §5, §10: files built to exhaust
memory or time are refused in one line, before they can).

The upload limit counts the file as sent; a compressed XLSX of 1.5 KB can declare a sheet
of 16,384 × 1,048,576 cells, and a 5 MB one can hold 8 million rows. So rows, columns and
cells are counted as they are read, an XLSX's unpacked size is checked against what the
archive declares *and* against the bytes actually inflated, and the first limit crossed
refuses the file with what to do. Every limit is a setting (``HDE_LIST_MAX_*``).

Defaults: 1,048,576 rows (what one Excel sheet holds), 1,000 columns (exports carry a few
dozen), 20 million cells (a million rows of 20 columns: the reading stays within about
half a gigabyte), 1,024 MB unpacked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hde_core.errors import InputError
from hde_core.i18n import Phrase

#: Names an error lists at most; the rest are counted ("… and 29,995 more").
NAMED = 5


@dataclass(frozen=True)
class ListLimits:
    upload_mb: int = 200
    max_rows: int = 1_048_576
    max_columns: int = 1_000
    max_cells: int = 20_000_000
    max_unpacked_mb: int = 1024

    @property
    def max_unpacked_bytes(self) -> int:
        return self.max_unpacked_mb * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: object) -> ListLimits:
        return cls(
            upload_mb=getattr(settings, "upload_limit_mb", cls.upload_mb),
            max_rows=getattr(settings, "list_max_rows", cls.max_rows),
            max_columns=getattr(settings, "list_max_columns", cls.max_columns),
            max_cells=getattr(settings, "list_max_cells", cls.max_cells),
            max_unpacked_mb=getattr(settings, "list_max_unpacked_mb", cls.max_unpacked_mb),
        )

    def check_columns(self, count: int, name: str) -> None:
        if count > self.max_columns:
            raise InputError(
                "lists.error.too_many_columns",
                name=name,
                count=f"{count:,}",
                limit=f"{self.max_columns:,}",
            )

    def check_rows(self, count: int, name: str) -> None:
        if count > self.max_rows:
            raise InputError("lists.error.too_many_rows", name=name, limit=f"{self.max_rows:,}")

    def check_cells(self, rows: int, columns: int, name: str) -> None:
        if rows * columns > self.max_cells:
            raise InputError(
                "lists.error.too_many_cells",
                name=name,
                rows=f"{rows:,}",
                columns=f"{columns:,}",
                limit=f"{self.max_cells:,}",
            )

    def unpacked_too_large(self, name: str) -> InputError:
        return InputError(
            "lists.error.unpacked_too_large", name=name, limit=f"{self.max_unpacked_mb:,}"
        )


def some_names(names: Sequence[str], shown: int = NAMED) -> str | Phrase:
    """``a, b, c`` — or the first ``shown`` and how many more, for an error that must stay
    one readable line whatever the list holds."""
    if len(names) <= shown:
        return ", ".join(names)
    return Phrase(
        "lists.error.names_more", names=", ".join(names[:shown]), count=f"{len(names) - shown:,}"
    )


def unique_names(names: Sequence[str], *, casefold: bool = True) -> list[str]:
    """Repeats numbered ``x``, ``x (2)``, ``x (3)`` … in one pass (30,000 repeats of one
    name take milliseconds, not minutes): the next number per name is remembered."""
    out: list[str] = []
    seen: set[str] = set()
    following: dict[str, int] = {}
    fold = str.casefold if casefold else str
    for base in names:
        key = fold(base)
        candidate = base
        if key in seen:
            k = following.get(key, 2)
            candidate = f"{base} ({k})"
            while fold(candidate) in seen:  # a real column already named "x (2)"
                k += 1
                candidate = f"{base} ({k})"
            following[key] = k + 1
        seen.add(fold(candidate))
        out.append(candidate)
    return out
