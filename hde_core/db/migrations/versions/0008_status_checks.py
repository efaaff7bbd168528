"""status checks: the status columns accept only the statuses the domain knows

Revision ID: 0008
Revises: 0011
Create Date: 2026-12-07 16:00:00

A CHECK constraint (the ``ck`` naming convention) on each status column: a message's
status, a campaign's status, a channel's connection status (with ``unreachable``, new
here: a server down for a moment, distinct from refused credentials), a user's role. A value
the code does not know is refused by the database itself, whichever path writes it.
The lists are frozen here as they were when this revision was written; the models
derive theirs from the domain types, and a test checks that the two agree.
SQLite cannot add a constraint to a table: its tables are rebuilt (batch mode).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKS: list[tuple[str, str, str]] = [
    (
        "messages",
        "ck_messages_status",
        "status IN ('cancelled', 'delivered', 'failed', 'held', 'queued', 'read', 'retrying',"
        " 'sending', 'sent', 'uncertain')",
    ),
    (
        "campaigns",
        "ck_campaigns_status",
        "status IN ('cancelled', 'done', 'launching', 'paused', 'running')",
    ),
    (
        "channels",
        "ck_channels_connection_status",
        "connection_status IN ('connected', 'error', 'unknown', 'unreachable')",
    ),
    ("users", "ck_users_role", "role IN ('admin', 'agent', 'team_lead', 'viewer')"),
]


def upgrade() -> None:
    for table, name, condition in CHECKS:
        with op.batch_alter_table(table) as batch:
            batch.create_check_constraint(op.f(name), condition)


def downgrade() -> None:
    for table, name, _ in reversed(CHECKS):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(name), type_="check")
