"""Upgrading keeps every row. On SQLite, migration 0008 rebuilds tables to add CHECK
constraints; with foreign keys on, dropping the old `channels` table deleted every row
pointing at it (identities, pending statuses, messages) through ON DELETE CASCADE."""

from alembic import command
from sqlalchemy import func, select, text

from hde_core.db.migrate import current_heads, migrate, script_heads, upgrade
from hde_core.db.models import Base
from hde_core.domain.statuses import MessageStatus as S
from hde_core.services.statuses import apply_status
from hde_core.services.tickets import TicketRequest, create_ticket
from tests.services.helpers import provision_email
from tests.services.test_webhooks_record import tg  # noqa: F401


def row_counts(app) -> dict[str, int]:
    with app.db.reader() as s:
        return {
            name: s.scalar(select(func.count()).select_from(table))
            for name, table in Base.metadata.tables.items()
        }


def test_rebuilding_tables_keeps_every_row(app, tg, tmp_path, smtp_sink, clock):  # noqa: F811
    provision_email(app, tmp_path, smtp_sink.url)
    create_ticket(
        app,
        TicketRequest(
            channel="email",
            to="client@example.com",
            subject="Заказ",
            body="Готов.",
            department="IT",
            fields={"order_id": "A-1"},
        ),
        "agent",
    )
    with app.db.transaction() as s:
        apply_status(s, tg, "early-1", S.DELIVERED, clock.now(), keep_if_unknown=True)
    before = row_counts(app)
    assert before["messages"] == 1 and before["pending_statuses"] == 1 and before["channels"] >= 2

    migrate(app.db, "0011", command.downgrade)  # back before 0008: its tables rebuilt again
    migrate(app.db, "0011", command.downgrade)  # (already there: nothing moves)
    with app.db.engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0011"
    upgrade(app.db)

    assert current_heads(app.db) == script_heads()
    assert row_counts(app) == before
