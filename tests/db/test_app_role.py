"""The application's own PostgreSQL role (issue 14.6): it works, and it cannot lift the
audit trail's protection — no UPDATE/DELETE/TRUNCATE of audit rows, no DISABLE TRIGGER,
no session_replication_role=replica. The owner can (that is why the app must not be it)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from hde_core.bootstrap import bootstrap
from hde_core.db.roles import create_app_role
from hde_core.db.session import Database
from hde_core.services.authz import SYSTEM
from hde_core.services.tickets import TicketRequest, create_ticket
from tests.conftest import TEST_SECRET, _pg_clone, _pg_drop, require_postgres
from tests.services.helpers import provision_email

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_db(pg_template: str) -> Iterator[str]:
    name, url = _pg_clone(pg_template)
    yield url
    _pg_drop(name)


@pytest.fixture
def app_role(pg_db: str) -> Iterator[tuple[str, str]]:
    """(role name, URL connecting as it)."""
    role = f"hde_app_{uuid.uuid4().hex[:8]}"
    db = Database(pg_db)
    try:
        assert create_app_role(db, role, "app-pass-1") is True
        assert create_app_role(db, role, "app-pass-1") is False  # idempotent
    finally:
        db.dispose()
    url = make_url(pg_db).set(username=role, password="app-pass-1")
    yield role, url.render_as_string(hide_password=False)
    admin = create_engine(require_postgres(), isolation_level="AUTOCOMMIT")
    owner = create_engine(pg_db, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(text(f'DROP OWNED BY "{role}"'))
    owner.dispose()
    _pg_drop(make_url(pg_db).database or "")
    with admin.connect() as conn:
        conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
    admin.dispose()


def _refused(url: str, sql: str) -> str:
    engine = create_engine(url)
    try:
        with engine.begin() as conn, pytest.raises(DBAPIError) as caught:
            conn.execute(text(sql))
        return str(caught.value.orig)
    finally:
        engine.dispose()


def test_the_app_role_runs_the_product_and_adds_to_the_audit(app_role, tmp_path, data_dir):
    from tests.conftest import make_settings

    _, url = app_role
    app = bootstrap(make_settings(url, data_dir))  # checks the schema as the app role
    try:
        provision_email(app, tmp_path, "smtp://127.0.0.1:9")
        result = create_ticket(
            app, TicketRequest("email", "a@example.com", "S", "B", fields={"order_id": "1"}), SYSTEM
        )
        assert result.ticket_id
        with app.db.reader() as s:
            assert s.scalar(text("SELECT count(*) FROM audit_events")) > 0
    finally:
        app.close()
    assert TEST_SECRET


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_events SET actor = 'someone else'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change",
        "DROP TRIGGER audit_events_no_change ON audit_events",
        "SET session_replication_role = replica",
        "UPDATE alembic_version SET version_num = 'x'",
    ],
)
def test_the_app_role_cannot_change_or_unprotect_the_audit(app_role, sql):
    _, url = app_role
    words = _refused(url, sql)
    assert "permission denied" in words or "must be owner" in words, words


def test_the_owner_could_lift_it_which_is_why_the_app_must_not_connect_as_the_owner(pg_db):
    engine = create_engine(pg_db)
    try:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change"))
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change"))
    finally:
        engine.dispose()


def test_hde_db_app_role_prints_how_to_connect(pg_db, tmp_path):
    import os

    from tests.entrypoints.test_cli import hde

    role = f"hde_app_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "HDE_DATABASE_URL": pg_db,
        "HDE_SECRET_KEY": TEST_SECRET,
        "HDE_DATA_DIR": str(tmp_path),
        "HDE_LANG": "en",
        "HDE_APP_ROLE_PASSWORD": "app-pass-2",
    }
    try:
        run = hde(env, "db", "app-role", role)
        assert run.returncode == 0, run.stderr
        assert f"Role {role} created" in run.stdout and f"{role}:PASSWORD@" in run.stdout
        words = _refused(
            make_url(pg_db).set(username=role).render_as_string(hide_password=False),
            "DELETE FROM audit_events",
        )
        assert "permission denied" in words
    finally:
        owner = create_engine(pg_db, isolation_level="AUTOCOMMIT")
        with owner.connect() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
        owner.dispose()
        _pg_drop(make_url(pg_db).database or "")
        admin = create_engine(require_postgres(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()
