"""mail in: a department's IMAP mailbox, and how far it has been read

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-07 19:00:00

``departments.imap_url_enc``: the IMAP URL of the department's mailbox (it holds a
password, so it is stored encrypted like the SMTP URL); ``hde mail-in`` polls it.
``mail_cursors``: per department mailbox and folder, the folder's UIDVALIDITY and the
last UID recorded, so a restart reads nothing twice and skips nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hde_core.db.types import UTCDateTime

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("departments") as batch:
        batch.add_column(sa.Column("imap_url_enc", sa.Text(), nullable=True))
    op.create_table(
        "mail_cursors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_mail_cursors_department_id_departments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_cursors")),
        sa.UniqueConstraint(
            "department_id", "folder", name=op.f("uq_mail_cursors_department_id_folder")
        ),
    )


def downgrade() -> None:
    op.drop_table("mail_cursors")
    with op.batch_alter_table("departments") as batch:
        batch.drop_column("imap_url_enc")
