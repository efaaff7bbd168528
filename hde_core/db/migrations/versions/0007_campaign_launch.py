"""campaigns: the launch's last sign of life

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 16:00:00

A campaign is ``launching`` while its messages are being written (issue 14.1); each chunk
written stamps ``launch_heartbeat_at``, so a launch whose process died (no stamp for a
while) is shown as interrupted. Campaigns that exist already were launched completely
(their launch ended before this version) and keep their status.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hde_core.db.types import UTCDateTime

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch_op:
        batch_op.add_column(sa.Column("launch_heartbeat_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch_op:
        batch_op.drop_column("launch_heartbeat_at")
