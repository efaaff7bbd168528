"""The audit trail (R8): append-only, one event per step, each naming its actor."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from hde_core.db.bulk import fast_insert
from hde_core.db.models import AuditEvent


class Event(StrEnum):
    TICKET_CREATED = "ticket_created"
    #: The ticket is a test send before launch, to the agent's own address (issue 16.3).
    TEST_SEND = "test_send"
    EMAIL_SKIPPED = "email_skipped"
    MESSAGE_QUEUED = "message_queued"
    MESSAGE_HELD = "message_held"
    MESSAGE_RELEASED = "message_released"
    MESSAGE_SENDING = "message_sending"
    MESSAGE_SENT = "message_sent"
    MESSAGE_RETRYING = "message_retrying"
    MESSAGE_FAILED = "message_failed"
    MESSAGE_UNCERTAIN = "message_uncertain"
    MESSAGE_RESENT = "message_resent"
    MESSAGE_CANCELLED = "message_cancelled"
    STATUS_DELIVERED = "status_delivered"
    STATUS_READ = "status_read"
    STATUS_SENT = "status_sent"
    STATUS_FAILED = "status_failed"
    INBOUND_RECEIVED = "inbound_received"
    OPTED_OUT = "opted_out"
    CHANNEL_DISCONNECTED = "channel_disconnected"
    CHANNEL_CHECKED = "channel_checked"
    CHANNEL_PAUSED = "channel_paused"
    SETTINGS_CHANGED = "settings_changed"
    PROVISIONED = "provisioned"
    USER_CREATED = "user_created"
    USER_SIGNED_IN = "user_signed_in"
    USER_SIGN_IN_FAILED = "user_sign_in_failed"
    USER_SIGNED_OUT = "user_signed_out"
    PASSWORD_CHANGED = "password_changed"
    #: A user's console sessions were ended (password changed or reset, user deactivated).
    SESSIONS_ENDED = "sessions_ended"
    USER_PASSWORD_RESET = "user_password_reset"
    CAMPAIGN_CREATED = "campaign_created"
    #: A launch of an existing campaign began (adds the rows it does not have yet).
    CAMPAIGN_RELAUNCHED = "campaign_relaunched"
    #: Every message of the launch is written: the campaign may run (and finish).
    CAMPAIGN_LAUNCHED = "campaign_launched"
    CAMPAIGN_PAUSED = "campaign_paused"
    CAMPAIGN_RESUMED = "campaign_resumed"
    CAMPAIGN_CANCELLED = "campaign_cancelled"
    TEMPLATES_SYNCED = "templates_synced"
    #: The client wrote into a ticket (services.conversation.attach).
    TICKET_REPLIED = "ticket_replied"
    #: An automatic answer (out of office) landed in a ticket: not counted as a reply.
    AUTO_REPLY_RECEIVED = "auto_reply_received"
    TICKET_ASSIGNED = "ticket_assigned"
    TICKET_STATUS_CHANGED = "ticket_status_changed"
    #: An agent's answer was queued (services.conversation.reply).
    AGENT_REPLIED = "agent_replied"


def record(
    session: Session,
    event: Event | str,
    actor: str,
    *,
    at: datetime | None = None,
    ticket_id: int | None = None,
    message_id: int | None = None,
    campaign_id: int | None = None,
    channel_id: int | None = None,
    **data: Any,
) -> AuditEvent:
    """Add one event to the trail, in the caller's transaction (so it commits or not with it)."""
    row = AuditEvent(
        event=str(event),
        actor=actor,
        ticket_id=ticket_id,
        message_id=message_id,
        campaign_id=campaign_id,
        channel_id=channel_id,
        data={k: v for k, v in data.items() if v is not None},
    )
    if at is not None:
        row.at = at
    session.add(row)
    return row


def insert_audit_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Append audit events (complete column dicts) with one multi-row insert: the path of
    the dispatcher, lease recovery and launches, which write one event per message."""
    fast_insert(session, cast(Table, AuditEvent.__table__), rows)


def event_row(
    event: Event | str,
    actor: str,
    at: datetime,
    *,
    ticket_id: int | None,
    message_id: int | None,
    campaign_id: int | None,
    channel_id: int | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    """One complete row for :func:`insert_audit_rows` (``None`` values leave ``data``)."""
    return {
        "event": str(event),
        "actor": actor,
        "at": at,
        "ticket_id": ticket_id,
        "message_id": message_id,
        "campaign_id": campaign_id,
        "channel_id": channel_id,
        "data": {k: v for k, v in data.items() if v is not None},
    }


def ticket_trail(session: Session, ticket_id: int) -> list[AuditEvent]:
    """Every event of a ticket and of its messages, oldest first."""
    stmt = select(AuditEvent).where(AuditEvent.ticket_id == ticket_id).order_by(AuditEvent.id)
    return list(session.scalars(stmt))


def trail_rows(app: Any, ticket_id: int, lang: str | None = None) -> list[dict[str, Any]]:
    """A ticket's trail for people: time, who, what and its details as a sentence, in their
    language (:mod:`hde_core.services.audit_words`)."""
    from hde_core.i18n import t
    from hde_core.services.audit_words import actor_words, describe

    with app.db.reader() as session:
        events = ticket_trail(session, ticket_id)
    return [
        {
            t("audit.col.at", lang=lang): f"{e.at.astimezone():%Y-%m-%d %H:%M:%S}",
            t("audit.col.actor", lang=lang): actor_words(e.actor, lang),
            t("audit.col.event", lang=lang): t(f"audit_event.{e.event}", lang=lang),
            t("audit.col.details", lang=lang): describe(e.event, e.data, lang),
        }
        for e in events
    ]
