"""The models and the migrations agree; the audit trail is append-only (R8) — on both databases."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from hde_core.db.migrate import ensure_current, script_heads
from hde_core.db.models import Base
from hde_core.errors import SchemaOutdated
from hde_core.services import audit


def test_models_match_migrations(app):
    with app.db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
        )
    assert diff == []


def test_audit_cannot_be_updated_or_deleted(app):
    with app.db.transaction() as s:
        audit.record(s, audit.Event.TICKET_CREATED, "alice", ticket_id=1)
    for statement in ("UPDATE audit_events SET actor = 'mallory'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), app.db.transaction() as s:
            s.execute(text(statement))
    with app.db.reader() as s:
        assert s.execute(text("SELECT actor FROM audit_events")).scalars().all() == ["alice"]


def test_outdated_schema_is_refused(app):
    ensure_current(app.db)  # fresh: fine
    with app.db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    with pytest.raises(SchemaOutdated):
        ensure_current(app.db)
    assert script_heads()
