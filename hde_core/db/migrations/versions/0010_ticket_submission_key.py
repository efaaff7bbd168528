"""tickets: the console form's submission key

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-07 17:00:00

One submission of the new-ticket form makes one ticket (issue 16.2): the form carries an
idempotency key and the database refuses a second ticket with the same key, so a double
click, a refresh or a retry returns the ticket already made. Existing tickets have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("submission_key", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_tickets_submission_key"), ["submission_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_tickets_submission_key"), type_="unique")
        batch_op.drop_column("submission_key")
