"""pending_statuses: one row per status of a provider id

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 17:15:00

An early status was kept once by looking before inserting; two webhook receivers racing
with the same status both looked, found nothing and stored two rows. A unique index on
(channel_id, provider_message_id, status) now decides, and the insert does nothing on a
conflict. Rows stored twice already are merged first (the earliest is kept). The index
replaces the lookup index on (channel_id, provider_message_id), its first two columns.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "DELETE FROM pending_statuses WHERE id NOT IN ("
            " SELECT MIN(id) FROM pending_statuses"
            " GROUP BY channel_id, provider_message_id, status)"
        )
    )
    op.drop_index("ix_pending_status_provider_id", table_name="pending_statuses")
    op.create_index(
        "uq_pending_status",
        "pending_statuses",
        ["channel_id", "provider_message_id", "status"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_pending_status", table_name="pending_statuses")
    op.create_index(
        "ix_pending_status_provider_id",
        "pending_statuses",
        ["channel_id", "provider_message_id"],
    )
