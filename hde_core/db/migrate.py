"""Schema migrations (Alembic), driven from code so ``hde migrate`` needs no alembic.ini."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from hde_core.db.session import Database
from hde_core.errors import SchemaOutdated

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", db.url.replace("%", "%%"))
    return cfg


@contextmanager
def _migrating(db: Database) -> Iterator[Config]:
    """One transaction for Alembic. On SQLite, foreign keys are off while it runs.

    SQLite cannot alter a constraint, so batch mode rebuilds a table: copy, drop, rename.
    With foreign keys on, dropping the old table would delete every row that points at it
    with ON DELETE CASCADE (a channel's identities, pending statuses, messages…) or refuse
    the drop. SQLite ignores the pragma inside a transaction, so it is set on the raw
    connection before the first BEGIN; the rows are checked before the commit.
    """
    cfg = alembic_config(db)
    with db.engine.connect() as conn:
        raw = conn.connection.dbapi_connection if conn.dialect.name == "sqlite" else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                cfg.attributes["connection"] = conn
                yield cfg
                if raw is not None:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(
                            f"the migration left {len(broken)} rows pointing at rows that"
                            f" do not exist (first: {tuple(broken[0])}); nothing was changed"
                        )
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def migrate(
    db: Database, revision: str = "heads", move: Callable[[Config, str], None] = command.upgrade
) -> None:
    """Move the schema to ``revision`` (``command.upgrade`` or ``command.downgrade``)."""
    with _migrating(db) as cfg:
        move(cfg, revision)


def upgrade(db: Database) -> tuple[set[str], set[str]]:
    """Bring the database to the newest schema; returns (heads before, heads after)."""
    before = current_heads(db)
    migrate(db)
    return before, current_heads(db)


def script_heads() -> set[str]:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return set(ScriptDirectory.from_config(cfg).get_heads())


def current_heads(db: Database) -> set[str]:
    with db.engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def ensure_current(db: Database) -> None:
    """Refuse to work on an outdated schema (SPEC §4)."""
    if current_heads(db) != script_heads():
        raise SchemaOutdated()
