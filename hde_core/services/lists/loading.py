"""Loading a contact list (SPEC §5): read the file, suggest or recall its column mapping,
and remember a confirmed mapping for the list's shape."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.clock import utcnow
from hde_core.db.models import ListMapping
from hde_core.errors import UsageError
from hde_core.lists.columns import ROLES, shape_key, suggest_mapping, usable_mapping
from hde_core.lists.limits import ListLimits, some_names
from hde_core.lists.reading import RawList, read_list
from hde_core.lists.text import as_string_array


@dataclass
class LoadedList:
    """A list as read, with its column mapping (role → column)."""

    name: str
    format: str  # "csv" | "xlsx"
    encoding: str | None  # None for XLSX
    delimiter: str | None  # None for XLSX
    headers: list[str]
    table: pa.Table
    mapping: dict[str, str]
    shape_key: str
    #: Where the mapping came from: "saved" (this shape's), "suggested", plus "given" overrides.
    mapping_source: str = "suggested"
    sheet: str | None = None
    #: Rows holding bytes that are not text (True), each refused as ``unreadable_row``.
    unreadable: np.ndarray | None = None

    @property
    def row_count(self) -> int:
        return self.table.num_rows

    def column(self, name: str) -> list[str]:
        """All values of one column, in row order."""
        return [str(v) for v in self.table.column(name).to_pylist()]

    def column_array(self, name: str) -> pa.Array:
        return as_string_array(self.table.column(name))

    def row(self, index: int) -> dict[str, str]:
        """Row ``index`` (0-based) as column → original value."""
        return {h: str(self.table.column(h)[index].as_py()) for h in self.headers}

    def iter_rows(self) -> Iterator[dict[str, str]]:
        """Every row as column → original value, in order."""
        for batch in self.table.to_batches(max_chunksize=10_000):
            columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            for values in zip(*columns, strict=True):
                yield dict(zip(self.headers, values, strict=True))

    @property
    def custom_columns(self) -> list[str]:
        """Columns not mapped to a role: custom fields and template parameters."""
        mapped = set(self.mapping.values())
        return [h for h in self.headers if h not in mapped]


def load_list(
    app: App,
    source: Path | bytes,
    *,
    filename: str | None = None,
    sheet: str | None = None,
    mapping: Mapping[str, str] | None = None,
) -> LoadedList:
    """Read a list and map its columns. Raises :class:`InputError` (nothing read) for a file
    that is not a contact list, :class:`UsageError` for a mapping naming no such column."""
    raw = read_list(
        source, filename=filename, sheet=sheet, limits=ListLimits.from_settings(app.settings)
    )
    name = filename or (source.name if isinstance(source, Path) else "list")
    key = shape_key(raw.headers)
    with app.db.reader() as session:
        saved = session.scalar(select(ListMapping).where(ListMapping.shape_key == key))
        saved_mapping = usable_mapping(saved.mapping, raw.headers, saved.headers) if saved else {}
    if saved_mapping:
        base, source_name = saved_mapping, "saved"
    else:
        base, source_name = suggest_mapping(raw.headers), "suggested"
    result = dict(base)
    if mapping:
        for role, column in check_mapping(mapping, raw, name).items():
            if column:
                result[role] = column
            else:
                result.pop(role, None)
        source_name += "+given"
    return LoadedList(
        name=name,
        format=raw.format,
        encoding=raw.encoding,
        delimiter=raw.delimiter,
        headers=raw.headers,
        table=raw.table,
        mapping={role: result[role] for role in ROLES if role in result},
        shape_key=key,
        mapping_source=source_name,
        sheet=raw.sheet,
        unreadable=raw.unreadable,
    )


def check_mapping(
    mapping: Mapping[str, str | None], raw: RawList | LoadedList, name: str
) -> dict[str, str]:
    """Refuse an unknown role or a column the list does not have (an empty column unmaps)."""
    out: dict[str, str] = {}
    for role, column in mapping.items():
        if role not in ROLES:
            raise UsageError("lists.error.unknown_role", role=role, roles=", ".join(ROLES))
        if column and column not in raw.headers:
            raise UsageError(
                "lists.error.unknown_column",
                role=role,
                column=column,
                name=name,
                headers=some_names(raw.headers),
            )
        out[role] = column or ""
    return out


def save_mapping(app: App, loaded: LoadedList, mapping: Mapping[str, str], actor: str) -> None:
    """Remember ``mapping`` for lists of this shape (the next one maps itself)."""
    clean = {r: c for r, c in check_mapping(mapping, loaded, loaded.name).items() if c}
    with app.db.transaction() as session:
        row = session.scalar(select(ListMapping).where(ListMapping.shape_key == loaded.shape_key))
        if row is None:
            row = ListMapping(shape_key=loaded.shape_key)
            session.add(row)
        row.headers = list(loaded.headers)
        row.mapping = {role: clean[role] for role in ROLES if role in clean}
        row.updated_by = actor[:64]
        row.updated_at = utcnow()
