"""The database schema (SQLAlchemy 2.x typed models).

Migrations in ``hde_core/db/migrations`` create exactly this; a test checks
that the two agree. Names follow the domain: channel, identity, window, hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from hde_core.clock import utcnow
from hde_core.db.types import BigId, JSONDoc, UTCDateTime
from hde_core.domain.campaigns import CampaignStatus
from hde_core.domain.channels import ConnectionStatus
from hde_core.domain.retry import MAX_ATTEMPTS
from hde_core.domain.roles import Role
from hde_core.domain.statuses import CLAIMABLE, MessageStatus
from hde_core.domain.tickets import TicketStatus

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def one_of(column: str, values: Iterable[str]) -> str:
    """``column IN ('a', 'b')`` as literal SQL, values sorted: the text of a CHECK constraint
    or of a partial index predicate, derived from a domain set (never a hand copy)."""
    return f"{column} IN ({', '.join(repr(str(v)) for v in sorted(values))})"


def _now_col() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(one_of("role", Role), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    login: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # admin | team_lead | agent | viewer
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The department whose client replies this agent shares (round-robin assignment).
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    created_at: Mapped[datetime] = _now_col()


class ConsoleSession(Base):
    """A signed-in console session (issue 16.1): the browser holds the token in an HttpOnly
    cookie; only its SHA-256 is kept here. ``revoked_at`` set: ended (``ended_reason``)."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: the absolute end (signed in + HDE_SESSION_MAX_HOURS); idle expiry is counted from last_seen_at
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_reason: Mapped[str | None] = mapped_column(String(32))
    #: one-time code (its SHA-256) that hands the session to the browser's cookie, and its end
    handoff_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    handoff_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    client: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    mailbox: Mapped[str] = mapped_column(String(320))
    #: SMTP URL (may hold a password): stored encrypted.
    smtp_url_enc: Mapped[str | None] = mapped_column(Text)
    #: IMAP URL of the mailbox (holds a password): stored encrypted; `hde mail-in` reads it.
    imap_url_enc: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now_col()
    updated_at: Mapped[datetime] = _now_col()


class MailCursor(Base):
    """How far a department's IMAP folder has been read: its UIDVALIDITY and the last UID
    recorded (a restart reads nothing twice and skips nothing)."""

    __tablename__ = "mail_cursors"
    __table_args__ = (UniqueConstraint("department_id", "folder"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(200))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = _now_col()


class Channel(Base):
    __tablename__ = "channels"
    __table_args__ = (
        CheckConstraint(one_of("connection_status", ConnectionStatus), name="connection_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    provider: Mapped[str] = mapped_column(String(20))
    api_base: Mapped[str | None] = mapped_column(String(500))
    #: JSON of the provider credentials, encrypted with HDE_SECRET_KEY; never shown again.
    credentials_enc: Mapped[str | None] = mapped_column(Text)
    webhook_secret_enc: Mapped[str | None] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    is_sandbox: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Email channels: the department used when a ticket names none.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    # R14: connection status, checked on save and periodically.
    connection_status: Mapped[str] = mapped_column(String(16), default="unknown")
    connection_error: Mapped[str | None] = mapped_column(Text)
    status_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Rate limit (SPEC §7): messages per second and burst, shared by all workers.
    rate_per_sec: Mapped[float] = mapped_column(Float, default=1.0)
    burst: Mapped[int] = mapped_column(Integer, default=1)
    max_attempts: Mapped[int] = mapped_column(Integer, default=MAX_ATTEMPTS)
    #: A provider's "too many requests" or an auth error pauses the channel until then.
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # R10: unofficial WhatsApp initiation, with the risk acknowledgement.
    initiation_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    risk_ack_by: Mapped[str | None] = mapped_column(String(64))
    risk_ack_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # R11/R12: WhatsApp Business template rules and window behaviour.
    rules_ack_by: Mapped[str | None] = mapped_column(String(64))
    rules_ack_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    default_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("wa_templates.id", use_alter=True, ondelete="SET NULL")
    )
    send_after_template: Mapped[bool] = mapped_column(Boolean, default=False)
    templates_synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _now_col()
    updated_at: Mapped[datetime] = _now_col()

    department: Mapped[Department | None] = relationship(lazy="joined")


class RateBucket(Base):
    """Token bucket per channel, refilled and spent atomically by every worker (SPEC §7)."""

    __tablename__ = "rate_buckets"

    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True
    )
    tokens: Mapped[float] = mapped_column(Float, default=0.0)
    refilled_at: Mapped[datetime] = _now_col()


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    created_at: Mapped[datetime] = _now_col()
    updated_at: Mapped[datetime] = _now_col()

    identities: Mapped[list[ContactIdentity]] = relationship(back_populates="contact")


#: Identities that opted out, as literal SQL (the partial index ``ix_identity_opted_out``).
OPTED_OUT_SQL = "opted_out_at IS NOT NULL"


class ContactIdentity(Base):
    """A contact's address on one channel, and what happened on it (R3, R12, R15)."""

    __tablename__ = "contact_identities"
    __table_args__ = (
        UniqueConstraint("channel_id", "address"),
        Index("ix_identity_channel_username", "channel_id", "username"),
        Index("ix_identity_phone", "phone"),
        Index("ix_identity_contact", "contact_id"),
        # The window monitor and the opt-out list (revision 0006).
        Index("ix_identity_last_inbound", "last_inbound_at"),
        Index(
            "ix_identity_opted_out",
            "opted_out_at",
            postgresql_where=text(OPTED_OUT_SQL),
            sqlite_where=text(OPTED_OUT_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    #: Normalised address the provider sends to: email, E.164 digits, Telegram chat id, Viber id.
    address: Mapped[str] = mapped_column(String(320))
    #: Telegram @username (lower case, no @), when known.
    username: Mapped[str | None] = mapped_column(String(64))
    #: The client's phone in E.164 when known (Viber/Telegram contacts shared it).
    phone: Mapped[str | None] = mapped_column(String(20))
    display_name: Mapped[str | None] = mapped_column(String(300))
    first_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    opt_out_reason: Mapped[str | None] = mapped_column(String(200))
    #: Per-recipient pacing (Telegram 1/s per chat, WhatsApp pair limit).
    next_send_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _now_col()

    contact: Mapped[Contact] = relationship(back_populates="identities")


class CustomField(Base):
    __tablename__ = "custom_fields"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _now_col()
    updated_at: Mapped[datetime] = _now_col()


class NotificationTemplate(Base):
    __tablename__ = "notification_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), unique=True)  # ticket_received | agent_initiated
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = _now_col()


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (CheckConstraint(one_of("status", CampaignStatus), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    #: Channel ids in fallback order (R9).
    channel_ids: Mapped[list[int]] = mapped_column(JSONDoc, default=list)
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    template_name: Mapped[str | None] = mapped_column(String(200))
    template_params: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="running")
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Stamped by each chunk a launch writes: a launching campaign silent for long was
    #: interrupted (domain.campaigns.shown_status).
    launch_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    source_name: Mapped[str | None] = mapped_column(String(500))
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    eligible_rows: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = _now_col()
    updated_at: Mapped[datetime] = _now_col()


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(one_of("status", TicketStatus), name="status"),
        Index("ix_ticket_created", "created_at"),
        Index("ix_ticket_campaign", "campaign_id"),
        Index("ix_ticket_contact", "contact_id"),
        # The tickets list: newest activity first, whole or by status / assignee (0014).
        Index("ix_ticket_last_activity", "last_activity_at"),
        Index("ix_ticket_status_activity", "status", "last_activity_at"),
        Index("ix_ticket_assignee_status", "assignee_id", "status"),
        # "the contact's latest open ticket on that channel" (0014).
        Index("ix_ticket_identity", "identity_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    #: waiting | replied | in_progress | closed (domain.tickets.TicketStatus).
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.WAITING.value)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("contact_identities.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: ``client`` (R7 on: recorded as if the client wrote it) or ``agent``.
    author: Mapped[str] = mapped_column(String(16), default="agent")
    created_by: Mapped[str] = mapped_column(String(64))
    send_email: Mapped[bool] = mapped_column(Boolean, default=True)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    #: The console form's idempotency key: one submission makes one ticket, whatever the
    #: clicks, refreshes or retries (the database refuses a second row with the same key).
    submission_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: The last message either way (ours queued, the client's received): list order.
    last_activity_at: Mapped[datetime] = _now_col()
    #: The client's first (not automatic) reply: the campaign counts the ticket as replied.
    first_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = _now_col()
    updated_at: Mapped[datetime] = _now_col()


#: The claimable statuses as literal SQL: the partial index ``ix_message_claim`` is used only
#: when a query repeats this exact predicate (bound parameters would hide it from the planner).
#: Derived from the domain set, it reads ``status IN ('queued', 'retrying')`` (revision 0005).
CLAIMABLE_SQL = one_of("status", CLAIMABLE)


class Message(Base):
    """The outbox: one row per message to hand to a provider, written with its ticket."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(one_of("status", MessageStatus), name="status"),
        Index("ix_message_due", "status", "next_attempt_at"),
        Index("ix_message_provider_id", "channel_id", "provider_message_id"),
        Index("ix_message_campaign_status", "campaign_id", "status"),
        Index("ix_message_identity_status", "identity_id", "status"),
        Index("ix_message_ticket", "ticket_id"),
        Index("ix_message_created", "created_at"),
        # The dispatcher's claim: due messages of one channel (and campaign) in id order,
        # read straight off this small index whatever the size of the table (revision 0005).
        Index(
            "ix_message_claim",
            "channel_id",
            "campaign_id",
            "id",
            postgresql_where=text(CLAIMABLE_SQL),
            sqlite_where=text(CLAIMABLE_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("contact_identities.id"))
    #: Normalised recipient address (denormalised from the identity for the dispatcher).
    recipient: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(16))  # email | text | template
    status: Mapped[str] = mapped_column(String(16), default="queued")
    #: What to send: subject/text/html/from for email, text for messengers, template name,
    #: language and parameters for templates.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    error_class: Mapped[str | None] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_text: Mapped[str | None] = mapped_column(Text)
    #: At most once per campaign and recipient (or per ticket for single tickets).
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    #: A content message held behind its template waits for this message to be handed over.
    after_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    #: Pricing category for template messages (marketing, utility, authentication).
    category: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = _now_col()
    updated_at: Mapped[datetime] = _now_col()
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PendingStatus(Base):
    """A delivery status that arrived before we recorded the provider id it refers to."""

    __tablename__ = "pending_statuses"
    #: One row per status of a provider id: a redelivered webhook, or two receivers racing
    #: with the same status, keep one (the insert does nothing on conflict). Its first two
    #: columns also serve the lookup by provider id.
    __table_args__ = (
        Index("uq_pending_status", "channel_id", "provider_message_id", "status", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    provider_message_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    created_at: Mapped[datetime] = _now_col()


class InboundMessage(Base):
    """A message a client wrote to us (deduplicated by the provider's id)."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel_id", "provider_message_id"),
        Index("ix_inbound_identity", "identity_id"),
        Index("ix_inbound_ticket", "ticket_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    identity_id: Mapped[int] = mapped_column(
        ForeignKey("contact_identities.id", ondelete="CASCADE")
    )
    provider_message_id: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    raw: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    #: The ticket the message belongs to (services.conversation.attach decides, 0014).
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    #: Out of office and the like: in the thread, never counted as the client's reply.
    auto_reply: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Email: the subject, the whole original when ``text`` is the stripped reply, and the
    #: attachments' names.
    subject: Mapped[str | None] = mapped_column(Text)
    original: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[str]] = mapped_column(JSONDoc, default=list)


class WaTemplate(Base):
    """A WhatsApp Business template synced from the provider (R11)."""

    __tablename__ = "wa_templates"
    __table_args__ = (UniqueConstraint("channel_id", "name", "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(20))
    category: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    parameter_format: Mapped[str] = mapped_column(String(16), default="POSITIONAL")
    components: Mapped[list[Any]] = mapped_column(JSONDoc, default=list)
    #: Body parameters in order: ["1", "2"] (positional) or ["customer_name", ...] (named).
    param_names: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    body_text: Mapped[str] = mapped_column(Text, default="")
    synced_at: Mapped[datetime] = _now_col()


class AuditEvent(Base):
    """Append-only trail (R8). Database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_ticket", "ticket_id"),
        Index("ix_audit_message", "message_id"),
        Index("ix_audit_campaign", "campaign_id"),
        Index("ix_audit_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = _now_col()
    actor: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(BigId)
    message_id: Mapped[int | None] = mapped_column(BigId)
    campaign_id: Mapped[int | None] = mapped_column(Integer)
    channel_id: Mapped[int | None] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)


class ListMapping(Base):
    """A saved column mapping per list shape, so the next list of that shape maps itself."""

    __tablename__ = "list_mappings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shape_key: Mapped[str] = mapped_column(String(64), unique=True)
    headers: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    mapping: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = _now_col()


class BulkDraft(Base):
    """A user's bulk wizard in progress (issue 16.1): the uploaded list (its bytes stay in
    ``data/uploads/<upload_id>/``), the mapping, channels, message and step, so Back, F5,
    another page or another browser find it again. One per user, until launched or
    discarded; a launch keeps ``launched_key`` only, so the page can show that run."""

    __tablename__ = "bulk_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    step: Mapped[int] = mapped_column(Integer, default=1)
    upload_id: Mapped[str | None] = mapped_column(String(32))
    upload_name: Mapped[str | None] = mapped_column(String(255))
    upload_size: Mapped[int | None] = mapped_column(Integer)
    #: Widget values: mapping, channels, subject, body, department, priority, template …
    state: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)
    launched_key: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = _now_col()


class Price(Base):
    """Template message price per category and country (R13); country ``*`` is the default."""

    __tablename__ = "prices"
    __table_args__ = (UniqueConstraint("category", "country"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    country: Mapped[str] = mapped_column(String(8), default="*")
    price: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    updated_at: Mapped[datetime] = _now_col()


class AppSetting(Base):
    __tablename__ = "app_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONDoc)
    updated_by: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = _now_col()


class WorkerHeartbeat(Base):
    """Running dispatchers, for the console's health view and lease recovery."""

    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = _now_col()
    heartbeat_at: Mapped[datetime] = _now_col()
