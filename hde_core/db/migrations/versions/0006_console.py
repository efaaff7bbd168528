"""console: indexes for the window monitor and the opt-out list

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 12:00:00

The window monitor lists identities whose 24-hour window is open, closest to closing
first (``last_inbound_at`` range, ordered); the opt-out list reads the few identities
that opted out (partial index: the others are NULL and never looked up).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPTED_OUT_SQL = "opted_out_at IS NOT NULL"


def upgrade() -> None:
    op.create_index(
        "ix_identity_last_inbound", "contact_identities", ["last_inbound_at"], unique=False
    )
    op.create_index(
        "ix_identity_opted_out",
        "contact_identities",
        ["opted_out_at"],
        unique=False,
        postgresql_where=sa.text(OPTED_OUT_SQL),
        sqlite_where=sa.text(OPTED_OUT_SQL),
    )


def downgrade() -> None:
    op.drop_index("ix_identity_opted_out", table_name="contact_identities")
    op.drop_index("ix_identity_last_inbound", table_name="contact_identities")
