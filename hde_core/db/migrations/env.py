"""Alembic environment: runs against the connection handed over by hde_core.db.migrate."""

from __future__ import annotations

from alembic import context

from hde_core.db.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("use `hde migrate` (hde_core.db.migrate) to run migrations")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
