"""Fast multi-row inserts for the hot paths (audit events, bulk campaigns).

SQLAlchemy's ``executemany`` processes every value of every row through its type
machinery; for hundreds of thousands of rows that costs more than the database
itself. Here each column's own bind processor (SQLAlchemy's, for the dialect) is looked
up once per insert and the values go to the driver directly: ``COPY … FROM STDIN`` on
PostgreSQL whatever the number of rows (for a worker's batch of a hundred it costs a
third of the CPU of ``executemany`` or a multi-row INSERT; for a handful, the same),
``executemany`` on SQLite. The stored values are exactly what the ORM would store, so
everything reads them back unchanged.

Also the rest of the bulk-write mechanics: ids reserved ahead of a multi-row insert
(:func:`reserve_ids`, :func:`insert_with_ids`), a lookup by many string values that stays
an index probe on PostgreSQL (:func:`where_in`), and chunks written by two threads at
once with their ids still in list order (:func:`overlapped`, :class:`InOrder`).
"""

from __future__ import annotations

import functools
import operator
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, Dialect, Select, String, Table, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import QueryableAttribute, Session

from hde_core.db.types import UTCDateTime


def _converter(column_type: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """How a value of that column goes to the driver: SQLAlchemy's own bind processing
    for the dialect (the type's ``process_bind_param``, then the dialect's conversion), so
    the stored values are the ORM's; None when the value goes as it is."""
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    if process is not None and isinstance(column_type, UTCDateTime):
        # rows of one insert share a handful of timestamps: convert each one once
        return functools.lru_cache(maxsize=16)(process)
    return process


def _values(
    table: Table, rows: Sequence[dict[str, Any]], dialect: Dialect
) -> tuple[list[str], list[list[Any]]]:
    """The column names, and the rows as value lists in that order converted for the
    driver; columns the rows leave out get their Python-side defaults, as Core would."""
    given = list(rows[0])
    defaults = [
        (c.name, c.default.arg)  # type: ignore[attr-defined]
        for c in table.columns
        if c.name not in given and c.default is not None and not c.primary_key
    ]
    columns = given + [name for name, _ in defaults]
    get = operator.itemgetter(*given)
    out = [list(get(row)) for row in rows] if len(given) > 1 else [[get(row)] for row in rows]
    for _name, arg in defaults:
        if callable(arg):
            for values in out:
                values.append(arg(None))
        else:
            for values in out:
                values.append(arg)
    for index, name in enumerate(columns):
        convert = _converter(table.c[name].type, dialect)
        if convert is not None:
            for values in out:
                values[index] = convert(values[index])
    return columns, out


#: PostgreSQL types whose binary form takes the values SQLAlchemy's bind processors give
#: (int, bool, str, datetime, Jsonb) as they are.
_BINARY_SAFE = frozenset(
    {
        "bigint",
        "integer",
        "smallint",
        "boolean",
        "text",
        "varchar",
        "jsonb",
        "timestamp with time zone",
    }
)


@functools.lru_cache(maxsize=64)
def _binary_types(table: Table, columns: tuple[str, ...], dialect: Dialect) -> list[str] | None:
    """The PostgreSQL type of each column for a binary COPY (a third less CPU than text
    for the same rows), or None when one of them is not a plain one: then text."""
    names = [table.c[c].type.compile(dialect).split("(")[0].strip().lower() for c in columns]
    return names if all(n in _BINARY_SAFE for n in names) else None


def fast_insert(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys) in the session's transaction; columns left
    out get their model defaults."""
    if not rows:
        return
    connection = session.connection()
    sqlite = connection.dialect.name == "sqlite"
    columns, values = _values(table, rows, connection.dialect)
    dbapi = connection.connection.driver_connection
    assert dbapi is not None
    driver_integrity_error = connection.dialect.dbapi.IntegrityError  # type: ignore[union-attr]
    try:
        if sqlite:
            sql = (
                f"INSERT INTO {table.name} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' * len(columns))})"
            )
            dbapi.executemany(sql, values)  # type: ignore[attr-defined]
            return
        types = _binary_types(table, tuple(columns), connection.dialect)
        sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        if types is not None:
            sql += " (FORMAT BINARY)"
        with dbapi.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[attr-defined]
            if types is not None:
                copy.set_types(types)
            for row in values:
                copy.write_row(row)
    except driver_integrity_error as exc:
        # callers handle a unique key that held the same way whichever path inserted
        raise IntegrityError(sql, None, exc) from exc


_T = TypeVar("_T")
_R = TypeVar("_R")
_Q = TypeVar("_Q", bound=Select)  # type: ignore[type-arg]


def reserve_ids(session: Session, model: type[Any], n: int) -> list[int]:
    """``n`` new ids of that table, ascending, for multi-row inserts without RETURNING.

    PostgreSQL: from the table's own sequence. SQLite: this transaction is the only
    writer (``BEGIN IMMEDIATE``), so the ids after the largest one are ours.
    """
    if n <= 0:
        return []
    table = cast(Table, model.__table__)
    if session.get_bind().dialect.name == "postgresql":
        return list(
            session.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
                ),
                {"t": table.name, "n": n},
            ).scalars()
        )
    start = int(session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar() or 0)
    return list(range(start + 1, start + n + 1))


def insert_with_ids(
    session: Session,
    model: type[Any],
    rows: list[dict[str, Any]],
    ids: list[int] | None = None,
) -> list[int]:
    """Insert rows (:func:`fast_insert`) with the given (else newly reserved) ids."""
    if not rows:
        return []
    if ids is None:
        ids = reserve_ids(session, model, len(rows))
    for row, new_id in zip(rows, ids, strict=True):
        row["id"] = new_id
    fast_insert(session, cast(Table, model.__table__), rows)
    return ids


def where_in(
    session: Session,
    query: _Q,
    column: QueryableAttribute[str] | ColumnElement[str],
    values: Iterable[str],
) -> _Q:
    """``query`` restricted to rows whose ``column`` is one of ``values``.

    On PostgreSQL the values are one array joined through ``unnest``: the planner then
    probes the column's index once per value, even when its statistics still describe
    the table before this launch filled it, and even under a generic plan (a long ``IN``
    list of parameters is compared row by row there: minutes on 100k rows).
    """
    if session.get_bind().dialect.name != "postgresql":
        return query.where(column.in_(list(values)))
    wanted = (
        func.unnest(bindparam("wanted_values", list(values), type_=ARRAY(String)))
        .table_valued("value", name="wanted")
        .render_derived()
    )
    return query.join(wanted, column == wanted.c.value)


class InOrder:
    """Chunk ``i`` reserves its ids only after chunk ``i - 1`` did (or gave up), so ids —
    and the dispatcher's oldest-first order — follow the list even when two chunks are
    written at once."""

    def __init__(self) -> None:
        self._next = 0
        self._done: set[int] = set()
        self._changed = threading.Condition()

    @contextmanager
    def turn(self, index: int) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: self._next >= index)
        try:
            yield
        finally:
            self.release(index)

    def release(self, index: int) -> None:
        with self._changed:
            self._done.add(index)
            while self._next in self._done:
                self._next += 1
            self._changed.notify_all()


def overlapped(fn: Callable[[_T], _R], items: Sequence[_T], writers: int) -> Iterator[_R]:
    """``fn`` over ``items``, results in order, with up to ``writers`` calls at once.

    PostgreSQL checks keys and fills indexes in its own process while the next chunk is
    being prepared here, so two writers keep both cores busy. On a failure nothing new is
    started; the calls already running finish (each is its own transaction) and the
    first failure is raised.
    """
    if writers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(writers, thread_name_prefix="hde-send") as pool:
        running: deque[Future[_R]] = deque()
        try:
            for item in items:
                running.append(pool.submit(fn, item))
                if len(running) >= writers:
                    yield running.popleft().result()
            while running:
                yield running.popleft().result()
        finally:
            for future in running:
                future.cancel()
