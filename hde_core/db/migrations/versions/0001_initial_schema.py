"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 04:06:24.401058
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hde_core.db.types import BigId, JSONDoc, UTCDateTime

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "app_settings",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("value", JSONDoc, nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_app_settings")),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", BigId, nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", BigId, nullable=True),
        sa.Column("message_id", BigId, nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("channel_id", sa.Integer(), nullable=True),
        sa.Column("data", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_at", ["at"], unique=False)
        batch_op.create_index("ix_audit_campaign", ["campaign_id"], unique=False)
        batch_op.create_index("ix_audit_message", ["message_id"], unique=False)
        batch_op.create_index("ix_audit_ticket", ["ticket_id"], unique=False)

    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("channel_ids", JSONDoc, nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("template_name", sa.String(length=200), nullable=True),
        sa.Column("template_params", JSONDoc, nullable=False),
        sa.Column("options", JSONDoc, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("scheduled_at", UTCDateTime(), nullable=True),
        sa.Column("source_name", sa.String(length=500), nullable=True),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("eligible_rows", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("key", name=op.f("uq_campaigns_key")),
    )
    op.create_table(
        "contacts",
        sa.Column("id", BigId, nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("attributes", JSONDoc, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    op.create_table(
        "custom_fields",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_fields")),
        sa.UniqueConstraint("key", name=op.f("uq_custom_fields_key")),
    )
    op.create_table(
        "departments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("mailbox", sa.String(length=320), nullable=False),
        sa.Column("smtp_url_enc", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_departments")),
        sa.UniqueConstraint("name", name=op.f("uq_departments_name")),
    )
    op.create_table(
        "list_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shape_key", sa.String(length=64), nullable=False),
        sa.Column("headers", JSONDoc, nullable=False),
        sa.Column("mapping", JSONDoc, nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_mappings")),
        sa.UniqueConstraint("shape_key", name=op.f("uq_list_mappings_shape_key")),
    )
    op.create_table(
        "notification_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_templates")),
        sa.UniqueConstraint("kind", name=op.f("uq_notification_templates_kind")),
    )
    op.create_table(
        "prices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("country", sa.String(length=8), nullable=False),
        sa.Column("price", sa.Numeric(precision=12, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prices")),
        sa.UniqueConstraint("category", "country", name=op.f("uq_prices_category_country")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("login", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("login", name=op.f("uq_users_login")),
    )
    op.create_table(
        "worker_heartbeats",
        sa.Column("worker_id", sa.String(length=100), nullable=False),
        sa.Column("hostname", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_worker_heartbeats")),
    )
    op.create_table(
        "channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("api_base", sa.String(length=500), nullable=True),
        sa.Column("credentials_enc", sa.Text(), nullable=True),
        sa.Column("webhook_secret_enc", sa.Text(), nullable=True),
        sa.Column("settings", JSONDoc, nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("is_sandbox", sa.Boolean(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("connection_status", sa.String(length=16), nullable=False),
        sa.Column("connection_error", sa.Text(), nullable=True),
        sa.Column("status_checked_at", UTCDateTime(), nullable=True),
        sa.Column("rate_per_sec", sa.Float(), nullable=False),
        sa.Column("burst", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("paused_until", UTCDateTime(), nullable=True),
        sa.Column("initiation_enabled", sa.Boolean(), nullable=False),
        sa.Column("risk_ack_by", sa.String(length=64), nullable=True),
        sa.Column("risk_ack_at", UTCDateTime(), nullable=True),
        sa.Column("rules_ack_by", sa.String(length=64), nullable=True),
        sa.Column("rules_ack_at", UTCDateTime(), nullable=True),
        sa.Column("default_template_id", sa.Integer(), nullable=True),
        sa.Column("send_after_template", sa.Boolean(), nullable=False),
        sa.Column("templates_synced_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_channels_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
        sa.UniqueConstraint("name", name=op.f("uq_channels_name")),
    )
    op.create_table(
        "contact_identities",
        sa.Column("id", BigId, nullable=False),
        sa.Column("contact_id", BigId, nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("display_name", sa.String(length=300), nullable=True),
        sa.Column("first_inbound_at", UTCDateTime(), nullable=True),
        sa.Column("last_inbound_at", UTCDateTime(), nullable=True),
        sa.Column("opted_out_at", UTCDateTime(), nullable=True),
        sa.Column("opt_out_reason", sa.String(length=200), nullable=True),
        sa.Column("next_send_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_contact_identities_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_identities_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_identities")),
        sa.UniqueConstraint(
            "channel_id", "address", name=op.f("uq_contact_identities_channel_id_address")
        ),
    )
    with op.batch_alter_table("contact_identities", schema=None) as batch_op:
        batch_op.create_index(
            "ix_identity_channel_username", ["channel_id", "username"], unique=False
        )
        batch_op.create_index("ix_identity_contact", ["contact_id"], unique=False)
        batch_op.create_index("ix_identity_phone", ["phone"], unique=False)

    op.create_table(
        "pending_statuses",
        sa.Column("id", BigId, nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("payload", JSONDoc, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_pending_statuses_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_statuses")),
    )
    with op.batch_alter_table("pending_statuses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pending_status_provider_id", ["channel_id", "provider_message_id"], unique=False
        )

    op.create_table(
        "rate_buckets",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_rate_buckets_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_rate_buckets")),
    )
    op.create_table(
        "wa_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=True),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("language", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("parameter_format", sa.String(length=16), nullable=False),
        sa.Column("components", JSONDoc, nullable=False),
        sa.Column("param_names", JSONDoc, nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("synced_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_wa_templates_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wa_templates")),
        sa.UniqueConstraint(
            "channel_id", "name", "language", name=op.f("uq_wa_templates_channel_id_name_language")
        ),
    )
    op.create_table(
        "inbound_messages",
        sa.Column("id", BigId, nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("identity_id", BigId, nullable=False),
        sa.Column("provider_message_id", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("raw", JSONDoc, nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_inbound_messages_channel_id_channels"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["contact_identities.id"],
            name=op.f("fk_inbound_messages_identity_id_contact_identities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_messages")),
        sa.UniqueConstraint(
            "channel_id",
            "provider_message_id",
            name=op.f("uq_inbound_messages_channel_id_provider_message_id"),
        ),
    )
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_identity", ["identity_id"], unique=False)

    op.create_table(
        "tickets",
        sa.Column("id", BigId, nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", BigId, nullable=True),
        sa.Column("identity_id", BigId, nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("send_email", sa.Boolean(), nullable=False),
        sa.Column("fields", JSONDoc, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["users.id"], name=op.f("fk_tickets_assignee_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_tickets_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_tickets_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_tickets_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["department_id"], ["departments.id"], name=op.f("fk_tickets_department_id_departments")
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["contact_identities.id"],
            name=op.f("fk_tickets_identity_id_contact_identities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index("ix_ticket_campaign", ["campaign_id"], unique=False)
        batch_op.create_index("ix_ticket_contact", ["contact_id"], unique=False)
        batch_op.create_index("ix_ticket_created", ["created_at"], unique=False)

    op.create_table(
        "messages",
        sa.Column("id", BigId, nullable=False),
        sa.Column("ticket_id", BigId, nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("identity_id", BigId, nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payload", JSONDoc, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
        sa.Column("provider_message_id", sa.String(length=200), nullable=True),
        sa.Column("error_class", sa.String(length=32), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_text", sa.Text(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("after_message_id", BigId, nullable=True),
        sa.Column("category", sa.String(length=32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=True),
        sa.Column("read_at", UTCDateTime(), nullable=True),
        sa.Column("failed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["after_message_id"],
            ["messages.id"],
            name=op.f("fk_messages_after_message_id_messages"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_messages_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_messages_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["identity_id"],
            ["contact_identities.id"],
            name=op.f("fk_messages_identity_id_contact_identities"),
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_messages_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_messages_idempotency_key")),
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_index("ix_message_campaign_status", ["campaign_id", "status"], unique=False)
        batch_op.create_index("ix_message_created", ["created_at"], unique=False)
        batch_op.create_index("ix_message_due", ["status", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_message_identity_status", ["identity_id", "status"], unique=False)
        batch_op.create_index(
            "ix_message_provider_id", ["channel_id", "provider_message_id"], unique=False
        )
        batch_op.create_index("ix_message_ticket", ["ticket_id"], unique=False)

    # channels <-> wa_templates reference each other: add this key once both exist.
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_channels_default_template_id_wa_templates"),
            "wa_templates",
            ["default_template_id"],
            ["id"],
            ondelete="SET NULL",
        )
    _make_audit_append_only()


def _make_audit_append_only() -> None:
    """The audit trail is append-only (R8): the database itself refuses UPDATE and DELETE."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'audit_events is append-only'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_change ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.drop_constraint(
            op.f("fk_channels_default_template_id_wa_templates"), type_="foreignkey"
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_message_ticket")
        batch_op.drop_index("ix_message_provider_id")
        batch_op.drop_index("ix_message_identity_status")
        batch_op.drop_index("ix_message_due")
        batch_op.drop_index("ix_message_created")
        batch_op.drop_index("ix_message_campaign_status")

    op.drop_table("messages")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_ticket_created")
        batch_op.drop_index("ix_ticket_contact")
        batch_op.drop_index("ix_ticket_campaign")

    op.drop_table("tickets")
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_identity")

    op.drop_table("inbound_messages")
    op.drop_table("wa_templates")
    op.drop_table("rate_buckets")
    with op.batch_alter_table("pending_statuses", schema=None) as batch_op:
        batch_op.drop_index("ix_pending_status_provider_id")

    op.drop_table("pending_statuses")
    with op.batch_alter_table("contact_identities", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_phone")
        batch_op.drop_index("ix_identity_contact")
        batch_op.drop_index("ix_identity_channel_username")

    op.drop_table("contact_identities")
    op.drop_table("channels")
    op.drop_table("worker_heartbeats")
    op.drop_table("users")
    op.drop_table("prices")
    op.drop_table("notification_templates")
    op.drop_table("list_mappings")
    op.drop_table("departments")
    op.drop_table("custom_fields")
    op.drop_table("contacts")
    op.drop_table("campaigns")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_ticket")
        batch_op.drop_index("ix_audit_message")
        batch_op.drop_index("ix_audit_campaign")
        batch_op.drop_index("ix_audit_at")

    op.drop_table("audit_events")
    op.drop_table("app_settings")
