"""Provider-reported delivery statuses: forward only, idempotent (SPEC §3).

A late ``delivered`` never overwrites ``read``; a repeated webhook changes
nothing; a status for a provider id we have not recorded yet is kept and
applied when the send is recorded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import Message, PendingStatus
from hde_core.domain.outcomes import ErrorClass
from hde_core.domain.statuses import MessageStatus, accepts_provider_status
from hde_core.services import audit
from hde_core.services.contacts import record_opt_out

S = MessageStatus

_EVENTS = {
    S.SENT: audit.Event.STATUS_SENT,
    S.DELIVERED: audit.Event.STATUS_DELIVERED,
    S.READ: audit.Event.STATUS_READ,
    S.FAILED: audit.Event.STATUS_FAILED,
}


def apply_status(
    session: Session,
    channel_id: int,
    provider_message_id: str,
    status: MessageStatus,
    at: datetime,
    details: dict[str, Any] | None = None,
    *,
    keep_if_unknown: bool = False,
) -> Message | None:
    """Move the message forward if ``status`` is news; return it if it changed.

    ``details`` may carry ``error_code``, ``error_text``, ``opt_out`` and
    ``window_closed``. With ``keep_if_unknown``, a status for an unknown provider
    id is stored in ``pending_statuses`` for later.
    """
    details = details or {}
    message = session.scalar(
        select(Message)
        .where(Message.channel_id == channel_id, Message.provider_message_id == provider_message_id)
        .with_for_update()
    )
    if message is None:
        if keep_if_unknown:
            session.add(
                PendingStatus(
                    channel_id=channel_id,
                    provider_message_id=provider_message_id,
                    status=status.value,
                    occurred_at=at,
                    payload={k: v for k, v in details.items() if v is not None},
                )
            )
        return None
    current = S(message.status)
    ids = {
        "ticket_id": message.ticket_id,
        "message_id": message.id,
        "campaign_id": message.campaign_id,
        "channel_id": channel_id,
    }
    if (
        status == S.FAILED
        and details.get("window_closed")
        and current in (S.SENT, S.SENDING, S.UNCERTAIN)
    ):
        # Outside the 24-hour window: hold the content until the client replies (R12).
        message.status = S.HELD.value
        message.error_class = ErrorClass.WINDOW_CLOSED.value
        message.error_code = details.get("error_code")
        message.error_text = details.get("error_text")
        message.updated_at = at
        audit.record(
            session,
            audit.Event.MESSAGE_HELD,
            "provider",
            at=at,
            code=message.error_code,
            text=message.error_text,
            **ids,
        )
        return message
    if not accepts_provider_status(current, status):
        return None
    message.status = status.value
    message.updated_at = at
    if status == S.SENT and message.sent_at is None:
        message.sent_at = at
    elif status == S.DELIVERED:
        message.delivered_at = message.delivered_at or at
    elif status == S.READ:
        message.read_at = message.read_at or at
        message.delivered_at = message.delivered_at or at  # "read" implies delivered
    elif status == S.FAILED:
        message.failed_at = at
        message.error_code = details.get("error_code")
        message.error_text = details.get("error_text")
        message.error_class = details.get("error_class") or ErrorClass.NOT_REACHABLE.value
    if status != S.FAILED:
        message.error_class = None if current == S.FAILED else message.error_class
    audit.record(
        session,
        _EVENTS[status],
        "provider",
        at=at,
        provider_message_id=provider_message_id,
        code=details.get("error_code"),
        text=details.get("error_text"),
        **ids,
    )
    if status == S.FAILED and details.get("opt_out") and message.identity_id is not None:
        record_opt_out(
            session,
            message.identity_id,
            at,
            str(details.get("error_text") or "opted out"),
            "provider",
            ids,
        )
    return message


#: Statuses nobody claimed after this long are dropped (Viber also reports "delivered" for
#: the client's own messages; those never match one of ours).
PENDING_STATUS_TTL = timedelta(days=7)


def purge_pending_statuses(app: App) -> int:
    """Periodic job: forget early statuses that never found their message."""
    cutoff = app.clock.now() - PENDING_STATUS_TTL
    with app.db.transaction() as session:
        result = session.execute(delete(PendingStatus).where(PendingStatus.created_at < cutoff))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
