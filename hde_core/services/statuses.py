"""Provider-reported delivery statuses: forward only, idempotent (SPEC §3).

A late ``delivered`` never overwrites ``read``; a repeated webhook changes
nothing; a status for a provider id we have not recorded yet is kept and
applied when the send is recorded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.channels.errors import Classified, ErrorRule, outcome_for
from hde_core.db.models import Channel, Message, PendingStatus
from hde_core.domain.outcomes import Disconnected, ErrorClass, Hold, Retry, SendOutcome
from hde_core.domain.retry import RetryPolicy
from hde_core.domain.statuses import MessageStatus, accepts_provider_status
from hde_core.services import audit
from hde_core.services.channels import disconnect_channel
from hde_core.services.contacts import record_opt_out

S = MessageStatus

#: When a channel whose account was refused is tried again (the dispatcher's own pause).
DISCONNECTED_RECHECK = timedelta(minutes=1)

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

    ``details`` may carry ``error_code``, ``error_text`` and, for a failure, what the
    provider's error table says about that code (``error_class``, ``opt_out``,
    ``window_closed``, ``retry_after`` — :func:`hde_core.channels.errors.status_fields`).
    A failure is then acted on through the same mapping as a refused send
    (:func:`hde_core.channels.errors.outcome_for`): permanent → failed (opt-out on a
    stop signal), outside the window → held, transient → retried later (until the
    channel's attempts run out), the account refused → back in the queue and the
    channel stopped. With ``keep_if_unknown``, a status for an unknown provider id is
    stored once in ``pending_statuses`` for later.
    """
    details = details or {}
    message = session.scalar(
        select(Message)
        .where(Message.channel_id == channel_id, Message.provider_message_id == provider_message_id)
        .with_for_update()
    )
    if message is None:
        if keep_if_unknown:
            _keep_pending(session, channel_id, provider_message_id, status, at, details)
        return None
    current = S(message.status)
    ids = {
        "ticket_id": message.ticket_id,
        "message_id": message.id,
        "campaign_id": message.campaign_id,
        "channel_id": channel_id,
    }
    if status == S.FAILED and current in (S.SENT, S.SENDING, S.UNCERTAIN):
        outcome = failure_outcome(details)
        if isinstance(outcome, Hold):
            return _hold(session, message, outcome, at, ids)
        if isinstance(outcome, Retry | Disconnected):
            channel = session.get(Channel, channel_id)
            limit = channel.max_attempts if channel is not None else 8
            if isinstance(outcome, Disconnected) or message.attempts < limit:
                return _again(session, message, channel, outcome, at, ids)
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


def failure_outcome(details: dict[str, Any]) -> SendOutcome:
    """A reported failure as the outcome a refused send with the same code would have."""
    raw_class = details.get("error_class")
    if details.get("window_closed"):
        raw_class = ErrorClass.WINDOW_CLOSED
    try:
        error_class = ErrorClass(raw_class) if raw_class else ErrorClass.NOT_REACHABLE
    except ValueError:
        error_class = ErrorClass.NOT_REACHABLE
    pause = details.get("retry_after")
    rule = ErrorRule(error_class, stop=bool(details.get("opt_out")))
    found = Classified(
        rule,
        str(details.get("error_code") or ""),
        str(details.get("error_text") or ""),
        float(pause) if isinstance(pause, int | float) else None,
    )
    return outcome_for(found)


def _hold(
    session: Session, message: Message, outcome: Hold, at: datetime, ids: dict[str, Any]
) -> Message:
    """Outside the 24-hour window: hold the content until the client replies (R12)."""
    message.status = S.HELD.value
    message.error_class = ErrorClass.WINDOW_CLOSED.value
    message.error_code = outcome.code or None
    message.error_text = outcome.text or None
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


def _again(
    session: Session,
    message: Message,
    channel: Channel | None,
    outcome: Retry | Disconnected,
    at: datetime,
    ids: dict[str, Any],
) -> Message:
    """The provider could not deliver for now: the message is sent again later.

    A transient failure waits the table's pause (or the retry policy's backoff); the
    account being refused stops the channel and puts the message back in the queue.
    """
    if isinstance(outcome, Disconnected):
        error_class = ErrorClass.AUTH
        message.status = S.QUEUED.value
        message.next_attempt_at = at + DISCONNECTED_RECHECK
        disconnect_channel(session, channel, outcome.code, outcome.text, at, "provider")
        delay = DISCONNECTED_RECHECK.total_seconds()
    else:
        error_class = outcome.error_class
        delay = (
            outcome.after if outcome.after is not None else RetryPolicy().delay(message.attempts)
        )
        message.status = S.RETRYING.value
        message.next_attempt_at = at + timedelta(seconds=delay)
    message.error_class = error_class.value
    message.error_code = outcome.code or None
    message.error_text = outcome.text or None
    message.updated_at = at
    audit.record(
        session,
        audit.Event.MESSAGE_RETRYING,
        "provider",
        at=at,
        error_class=error_class.value,
        code=message.error_code,
        text=message.error_text,
        attempt=message.attempts,
        retry_in_seconds=round(delay, 1),
        **ids,
    )
    return message


def _keep_pending(
    session: Session,
    channel_id: int,
    provider_message_id: str,
    status: MessageStatus,
    at: datetime,
    details: dict[str, Any],
) -> None:
    """Keep an early status once: a redelivered webhook, or two receivers racing with the
    same status, store one row — the unique key decides and the later insert does nothing
    (on PostgreSQL it waits for the first one's transaction, then does nothing)."""
    values = {
        "channel_id": channel_id,
        "provider_message_id": provider_message_id,
        "status": status.value,
        "occurred_at": at,
        "payload": {k: _plain(v) for k, v in details.items() if v is not None},
    }
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(pg_insert(PendingStatus).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite_insert(PendingStatus).values(values).on_conflict_do_nothing())
    else:  # pragma: no cover - only the two supported databases
        session.execute(insert(PendingStatus).values(values))


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, ErrorClass) else value


#: Statuses nobody claimed after this long are dropped (Viber also reports "delivered" for
#: the client's own messages; those never match one of ours).
PENDING_STATUS_TTL = timedelta(days=7)


def purge_pending_statuses(app: App) -> int:
    """Periodic job: forget early statuses that never found their message."""
    cutoff = app.clock.now() - PENDING_STATUS_TTL
    with app.db.transaction() as session:
        result = session.execute(delete(PendingStatus).where(PendingStatus.created_at < cutoff))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


def apply_pending_statuses(session: Session, sent: list[tuple[int, str]]) -> None:
    """Statuses that arrived before we knew the provider id are applied now."""
    if not sent:
        return
    wanted = set(sent)
    pending = [
        row
        for row in session.scalars(
            select(PendingStatus)
            .where(PendingStatus.provider_message_id.in_([pid for _, pid in sent]))
            .order_by(PendingStatus.occurred_at, PendingStatus.id)
        )
        if (row.channel_id, row.provider_message_id) in wanted
    ]
    for row in pending:
        apply_status(
            session,
            row.channel_id,
            row.provider_message_id,
            S(row.status),
            row.occurred_at,
            row.payload,
        )
        session.delete(row)
