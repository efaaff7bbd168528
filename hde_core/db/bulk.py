"""Fast multi-row inserts for the hot paths (audit events, bulk campaigns).

SQLAlchemy's ``executemany`` processes every value of every row through its type
machinery; for hundreds of thousands of rows that costs more than the database
itself. Here values are converted once per column kind and handed to the driver
directly: ``COPY … FROM STDIN`` on PostgreSQL, ``executemany`` on SQLite. The stored
values are exactly what the ORM would store (same text format for timestamps on
SQLite, the same JSON), so everything reads them back unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hde_core.db.types import UTCDateTime


def _sqlite_datetime(value: datetime | None) -> str | None:
    if value is None:
        return None
    # SQLAlchemy's SQLite DATETIME storage format, naive UTC (see UTCDateTime)
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _converters(table: Table, columns: Sequence[str], sqlite: bool) -> list[Callable[[Any], Any]]:
    out: list[Callable[[Any], Any]] = []
    for name in columns:
        column_type = table.c[name].type
        if isinstance(column_type, UTCDateTime):
            out.append(_sqlite_datetime if sqlite else (lambda v: v))
        elif isinstance(column_type, JSON) or isinstance(getattr(column_type, "impl", None), JSON):
            out.append(_json)
        elif isinstance(column_type, Boolean) and sqlite:
            out.append(lambda v: None if v is None else int(bool(v)))
        else:
            out.append(lambda v: v)
    return out


def _with_defaults(table: Table, rows: Sequence[dict[str, Any]]) -> Sequence[dict[str, Any]]:
    """Fill the columns the rows leave out with their Python-side defaults, as Core would."""
    given = set(rows[0])
    defaults = [
        (c.name, c.default)
        for c in table.columns
        if c.name not in given and c.default is not None and not c.primary_key
    ]
    if not defaults:
        return rows
    out = []
    for row in rows:
        row = dict(row)
        for name, default in defaults:
            arg = default.arg  # type: ignore[attr-defined]
            row[name] = arg(None) if callable(arg) else arg
        out.append(row)
    return out


def fast_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys) in the session's transaction; columns left
    out get their model defaults."""
    if not rows:
        return
    rows = _with_defaults(table, rows)
    columns = list(rows[0])
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    convert = _converters(table, columns, sqlite)
    dbapi = connection.connection.driver_connection
    assert dbapi is not None
    driver_integrity_error = connection.dialect.dbapi.IntegrityError  # type: ignore[union-attr]
    try:
        if sqlite:
            sql = (
                f"INSERT INTO {table.name} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})"
            )
            dbapi.executemany(  # type: ignore[attr-defined]
                sql,
                [tuple(f(row[c]) for f, c in zip(convert, columns, strict=True)) for row in rows],
            )
            return
        sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        with dbapi.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row(tuple(f(row[c]) for f, c in zip(convert, columns, strict=True)))
    except driver_integrity_error as exc:
        # callers handle a unique key that held the same way whichever path inserted
        raise IntegrityError(sql, None, exc) from exc
