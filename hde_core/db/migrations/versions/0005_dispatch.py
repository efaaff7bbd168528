"""dispatch: partial index for claiming due messages per channel and campaign

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-26 05:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLAIMABLE_SQL = "status IN ('queued', 'retrying')"


def upgrade() -> None:
    op.create_index(
        "ix_message_claim",
        "messages",
        ["channel_id", "campaign_id", "id"],
        unique=False,
        postgresql_where=sa.text(CLAIMABLE_SQL),
        sqlite_where=sa.text(CLAIMABLE_SQL),
    )


def downgrade() -> None:
    op.drop_index("ix_message_claim", table_name="messages")
