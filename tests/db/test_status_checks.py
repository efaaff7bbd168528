"""Status columns accept only what the domain knows (CHECK constraints, revision 0008), the
migrated database holds exactly the models' checks, and the claim index keeps its predicate
(derived from the domain's claimable set) — on both databases."""

import re

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from hde_core.db.models import CLAIMABLE_SQL, Base, Campaign, User, one_of
from hde_core.domain.statuses import CLAIMABLE, MessageStatus
from tests.dispatch.helpers import enqueue, provision_telegram


def _norm(sql: str) -> str:
    """One spelling for both databases (PostgreSQL answers ``(status)::text = ANY (…)``)."""
    sql = sql.lower()
    sql = re.sub(r"::[a-z ]+(\[\])?", "", sql)
    return " ".join(sorted(re.findall(r"'([a-z_]+)'", sql)))


def test_the_database_holds_the_models_checks(app):
    insp = inspect(app.db.engine)
    for table in Base.metadata.sorted_tables:
        wanted = {
            c.name: _norm(str(c.sqltext))
            for c in table.constraints
            if c.__class__.__name__ == "CheckConstraint"
        }
        found = {c["name"]: _norm(c["sqltext"]) for c in insp.get_check_constraints(table.name)}
        assert found == wanted, table.name


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE messages SET status = 'bogus'",
        "UPDATE channels SET connection_status = 'sort of'",
        "UPDATE users SET role = 'superuser'",
        "UPDATE campaigns SET status = 'scheduled'",  # shown, never stored
    ],
)
def test_an_unknown_status_is_refused(app, tmp_path, statement):
    channel = provision_telegram(app, tmp_path, "http://127.0.0.1:9")
    with app.db.transaction() as s:
        s.add(Campaign(key="k", channel_ids=[channel]))
        s.add(User(login="u", password_hash="x", role="agent"))
    enqueue(app, channel, [1])
    with pytest.raises(IntegrityError), app.db.transaction() as s:
        s.execute(text(statement))
    with app.db.transaction() as s:  # a known value passes the same check
        s.execute(text(statement.split(" = ")[0] + " = " + _KNOWN[statement.split()[1]]))


_KNOWN = {
    "messages": "'cancelled'",
    "channels": "'error'",
    "users": "'viewer'",
    "campaigns": "'paused'",
}


def test_claimable_sql_is_derived_from_the_domain_set():
    assert CLAIMABLE_SQL == one_of("status", CLAIMABLE) == "status IN ('queued', 'retrying')"
    assert one_of("status", MessageStatus).count("'") == 2 * len(MessageStatus)


def test_the_claim_index_keeps_its_predicate(app):
    if app.db.dialect == "sqlite":  # rebuilt by the batch migration: the predicate survives
        with app.db.reader() as s:
            sql = s.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'ix_message_claim'")
            ).scalar_one()
    else:
        with app.db.reader() as s:
            sql = s.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_message_claim'")
            ).scalar_one()
    assert "where" in sql.lower() and _norm(sql.lower().split("where", 1)[1]) == "queued retrying"
