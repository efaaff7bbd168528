"""bulk_drafts: the bulk wizard kept per user

Revision ID: 0013
Revises: 0008
Create Date: 2026-12-07 19:00:00

Back, F5 or a visit to another page used to wipe the wizard (issue 16.1). Now it is a draft
in the database, one per user: the uploaded list's reference (its bytes stay on disk under
``data/uploads/<upload_id>/``, a 50 MB list never goes into a row), the mapping, channels,
message and step as JSON, and the key of the campaign its launch started.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hde_core.db.types import JSONDoc, UTCDateTime

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bulk_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("upload_id", sa.String(length=32), nullable=True),
        sa.Column("upload_name", sa.String(length=255), nullable=True),
        sa.Column("upload_size", sa.Integer(), nullable=True),
        sa.Column("state", JSONDoc, nullable=False),
        sa.Column("launched_key", sa.String(length=200), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_bulk_drafts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bulk_drafts")),
        sa.UniqueConstraint("user_id", name=op.f("uq_bulk_drafts_user_id")),
    )


def downgrade() -> None:
    op.drop_table("bulk_drafts")
