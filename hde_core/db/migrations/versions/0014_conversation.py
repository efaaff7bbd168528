"""conversation: ticket statuses, last activity, first reply; inbound messages find a ticket

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-07 19:00:00

Issue 17: a client's message belongs to a ticket (``inbound_messages.ticket_id``), and a
ticket says where the conversation stands — ``waiting`` (we wrote), ``replied`` (the client
answered), ``in_progress`` (an agent answered), ``closed`` — with a CHECK constraint like
the other status columns. Existing ``open`` tickets become ``replied`` when their client
wrote on the ticket's channel after it was made (``first_reply_at`` is that first message),
else ``waiting``. ``last_activity_at`` orders the tickets list (newest first) and starts as
the ticket's last update. Inbound messages keep what email brings (subject, the original
text, attachment names) and whether they were automatic. A user may belong to a
department: the agents a campaign's replies are shared among.
The status list is frozen here as it was when this revision was written.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hde_core.db.types import BigId, JSONDoc, UTCDateTime

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUS_CHECK = "status IN ('closed', 'in_progress', 'replied', 'waiting')"

#: The first message the ticket's client wrote on its channel after the ticket was made.
_FIRST_REPLY = (
    "(SELECT MIN(i.received_at) FROM inbound_messages i"
    " WHERE i.identity_id = tickets.identity_id AND i.channel_id = tickets.channel_id"
    " AND i.received_at >= tickets.created_at)"
)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("last_activity_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("first_reply_at", UTCDateTime(), nullable=True))
    op.execute(f"UPDATE tickets SET first_reply_at = {_FIRST_REPLY} WHERE status = 'open'")
    op.execute(
        "UPDATE tickets SET status = CASE WHEN first_reply_at IS NULL THEN 'waiting'"
        " ELSE 'replied' END WHERE status NOT IN ('closed', 'in_progress', 'replied', 'waiting')"
    )
    op.execute(
        "UPDATE tickets SET last_activity_at = CASE WHEN first_reply_at IS NOT NULL"
        " AND first_reply_at > updated_at THEN first_reply_at ELSE updated_at END"
    )
    with op.batch_alter_table("tickets") as batch:
        batch.alter_column("last_activity_at", existing_type=UTCDateTime(), nullable=False)
        batch.create_check_constraint(op.f("ck_tickets_status"), STATUS_CHECK)
        batch.create_index("ix_ticket_last_activity", ["last_activity_at"])
        batch.create_index("ix_ticket_status_activity", ["status", "last_activity_at"])
        batch.create_index("ix_ticket_assignee_status", ["assignee_id", "status"])
        batch.create_index("ix_ticket_identity", ["identity_id"])

    with op.batch_alter_table("inbound_messages") as batch:
        batch.add_column(sa.Column("ticket_id", BigId, nullable=True))
        batch.add_column(
            sa.Column("auto_reply", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("subject", sa.Text(), nullable=True))
        batch.add_column(sa.Column("original", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("attachments", JSONDoc, nullable=False, server_default=sa.text("'[]'"))
        )
        batch.create_foreign_key(
            op.f("fk_inbound_messages_ticket_id_tickets"),
            "tickets",
            ["ticket_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_inbound_ticket", ["ticket_id"])
    with op.batch_alter_table("inbound_messages") as batch:
        batch.alter_column("auto_reply", existing_type=sa.Boolean(), server_default=None)
        batch.alter_column("attachments", existing_type=JSONDoc, server_default=None)

    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("department_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_users_department_id_departments"), "departments", ["department_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint(op.f("fk_users_department_id_departments"), type_="foreignkey")
        batch.drop_column("department_id")
    with op.batch_alter_table("inbound_messages") as batch:
        batch.drop_index("ix_inbound_ticket")
        batch.drop_constraint(op.f("fk_inbound_messages_ticket_id_tickets"), type_="foreignkey")
        for column in ("attachments", "original", "subject", "auto_reply", "ticket_id"):
            batch.drop_column(column)
    with op.batch_alter_table("tickets") as batch:
        for index in (
            "ix_ticket_identity",
            "ix_ticket_assignee_status",
            "ix_ticket_status_activity",
            "ix_ticket_last_activity",
        ):
            batch.drop_index(index)
        batch.drop_constraint(op.f("ck_tickets_status"), type_="check")
        batch.drop_column("first_reply_at")
        batch.drop_column("last_activity_at")
    op.execute("UPDATE tickets SET status = 'open' WHERE status <> 'closed'")
