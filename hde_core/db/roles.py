"""A PostgreSQL role for the application that cannot lift the audit trail's protection.

The triggers that make ``audit_events`` append-only can be switched off by the owner of
the table (``ALTER TABLE … DISABLE TRIGGER``) or by a superuser (``SET
session_replication_role = replica``). The application therefore should not connect as
either: :func:`create_app_role` makes (or updates) a login role that owns nothing, may
read and write the tables the product needs, may only *add* to the audit trail, and may
not truncate, alter, or change the replication role. Run it as the owner (the role that
runs ``hde migrate``); it is idempotent, run it again after a migration.
"""

from __future__ import annotations

import re

from sqlalchemy import text

from hde_core.db.session import Database
from hde_core.errors import UsageError

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
APPEND_ONLY = ("audit_events",)
READ_ONLY = ("alembic_version",)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def app_role_statements(name: str, password: str, owner: str, database: str) -> list[str]:
    """The statements, in order (the role must already exist; see :func:`create_app_role`)."""
    role = f'"{name}"'
    stmts = [
        f"ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
        f"NOBYPASSRLS PASSWORD {_literal(password)}",
        f'GRANT CONNECT ON DATABASE "{database}" TO {role}',
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {role}",
        # Tables and sequences the owner creates later (migrations) get the same rights.
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA public '
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role}",
        f'ALTER DEFAULT PRIVILEGES FOR ROLE "{owner}" IN SCHEMA public '
        f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {role}",
    ]
    stmts += [f"REVOKE UPDATE, DELETE, TRUNCATE ON {t} FROM {role}" for t in APPEND_ONLY]
    stmts += [f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {t} FROM {role}" for t in READ_ONLY]
    return stmts


def create_app_role(db: Database, name: str, password: str) -> bool:
    """Create the role ``name`` (or bring an existing one to these rights); returns whether
    it was created. PostgreSQL only; run as the owner of the tables."""
    if not _NAME.match(name):
        raise UsageError("cli.db.role_name_invalid", name=name)
    if not password:
        raise UsageError("cli.db.role_password_missing")
    if db.engine.dialect.name != "postgresql":
        raise UsageError("cli.db.postgres_only")
    with db.engine.begin() as conn:
        owner, database = conn.execute(text("SELECT current_user, current_database()")).one()
        if name == owner:
            raise UsageError("cli.db.role_is_owner", name=name)
        exists = conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name})
        if not exists:
            conn.execute(text(f'CREATE ROLE "{name}"'))
        for stmt in app_role_statements(name, password, owner, database):
            conn.execute(text(stmt))
    return not exists
