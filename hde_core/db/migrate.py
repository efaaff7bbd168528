"""Schema migrations (Alembic), driven from code so ``hde migrate`` needs no alembic.ini."""

from __future__ import annotations

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


def upgrade(db: Database) -> tuple[set[str], set[str]]:
    """Bring the database to the newest schema; returns (heads before, heads after)."""
    before = current_heads(db)
    cfg = alembic_config(db)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "heads")
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
