"""Record: each outcome is stored with a guarded transition (only from ``sending`` or
``uncertain``, only by the lease owner, only along :data:`~hde_core.domain.statuses.DISPATCH_TRANSITIONS`),
with its audit event, in one transaction per batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import Channel, ContactIdentity, Message
from hde_core.dispatch.claim import ACTOR, Claimed, add_audit
from hde_core.domain.outcomes import (
    Disconnected,
    ErrorClass,
    Fail,
    Hold,
    Retry,
    SendOutcome,
    Sent,
    outcome_status,
)
from hde_core.domain.retry import RetryPolicy
from hde_core.domain.statuses import MessageStatus, can_dispatch_move, recordable_from
from hde_core.services import audit
from hde_core.services.channels import disconnect_channel
from hde_core.services.contacts import record_opt_out
from hde_core.services.statuses import apply_pending_statuses

S = MessageStatus
#: How long messages wait before re-checking a channel whose credentials were refused.
DISCONNECTED_RECHECK = timedelta(minutes=1)
#: Pause when a provider says "too many requests" without saying for how long.
RATE_LIMIT_PAUSE_SECONDS = 2.0
#: A ``sent`` batch is recorded in statements of at most this many messages.
_RECORD_CHUNK = 500


def record_outcomes(
    app: App,
    results: Iterable[tuple[Claimed, SendOutcome]],
    policy: RetryPolicy | None = None,
) -> None:
    """Store each outcome with a guarded transition and its audit event, in one transaction."""
    now = app.clock.now()
    sent: list[tuple[Claimed, Sent]] = []
    others: list[tuple[Claimed, SendOutcome]] = []
    for claimed, outcome in results:
        if outcome_status(outcome) == S.SENT:
            sent.append((claimed, cast(Sent, outcome)))
        else:
            others.append((claimed, outcome))
    with app.db.transaction() as session:
        for start in range(0, len(sent), _RECORD_CHUNK):
            _record_sent(session, sent[start : start + _RECORD_CHUNK], now)
        for claimed, outcome in others:
            _record(session, claimed, outcome, now, policy)


def _record_sent(session: Session, batch: list[tuple[Claimed, Sent]], now: datetime) -> None:
    """``sending``/``uncertain`` → ``sent`` for a batch, each row guarded by its lease owner."""
    recorded: list[tuple[Claimed, Sent]] = []
    table = cast(Table, Message.__table__)
    # one statement executed for many rows (cached once, whatever the batch size)
    stmt = (
        update(table)
        .where(
            table.c.id == bindparam("b_id"),
            # no IN (…): an expanding parameter cannot be executed for many rows
            or_(*(table.c.status == s.value for s in recordable_from(S.SENT))),
            table.c.lease_owner == bindparam("b_owner"),
        )
        .values(
            status=S.SENT.value,
            provider_message_id=bindparam("b_pid"),
            sent_at=now,
            error_class=None,
            error_code=None,
            error_text=None,
            lease_owner=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    params = [
        {"b_id": c.message.id, "b_owner": c.worker_id, "b_pid": o.provider_message_id}
        for c, o in batch
    ]
    changed = session.connection().execute(stmt, params).rowcount
    if changed == len(batch):
        recorded = list(batch)
    else:  # some were no longer ours (cancelled, resent): record only what changed now
        rows = session.execute(
            select(Message.id, Message.provider_message_id).where(
                Message.id.in_([c.message.id for c, _ in batch]),
                Message.status == S.SENT.value,
                Message.updated_at == now,
            )
        ).all()
        mine = {(mid, pid) for mid, pid in rows}
        recorded = [(c, o) for c, o in batch if (c.message.id, o.provider_message_id) in mine]
    add_audit(
        session,
        audit.Event.MESSAGE_SENT,
        now,
        [
            (
                c,
                {
                    "provider_message_id": o.provider_message_id,
                    "mailbox": c.message.payload.get("from_addr"),
                    "kind": c.message.kind,
                },
            )
            for c, o in recorded
        ],
    )
    apply_pending_statuses(session, [(c.channel_id, o.provider_message_id) for c, o in recorded])


def _guarded(
    session: Session, claimed: Claimed, now: datetime, status: MessageStatus, **values: Any
) -> bool:
    """Move the message to ``status`` only if it is still ours (its lease) and the move is in
    :data:`~hde_core.domain.statuses.DISPATCH_TRANSITIONS` from where it is now."""
    result = session.execute(
        update(Message)
        .where(
            Message.id == claimed.message.id,
            Message.status.in_([s.value for s in recordable_from(status)]),
            Message.lease_owner == claimed.worker_id,
        )
        .values(
            status=status.value, updated_at=now, lease_owner=None, lease_expires_at=None, **values
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _ids(claimed: Claimed) -> dict[str, Any]:
    return {
        "ticket_id": claimed.ticket_id,
        "message_id": claimed.message.id,
        "campaign_id": claimed.campaign_id,
        "channel_id": claimed.channel_id,
    }


def _record(
    session: Session,
    claimed: Claimed,
    outcome: SendOutcome,
    now: datetime,
    policy: RetryPolicy | None,
) -> None:
    """Store one outcome: the status it leads to (the table) picks how."""
    status = outcome_status(outcome)
    if status == S.SENT:
        _record_sent(session, [(claimed, cast(Sent, outcome))], now)
    elif status == S.RETRYING:
        retry = cast(Retry, outcome)
        _retry(
            session, claimed, retry, now, policy or RetryPolicy(max_attempts=claimed.max_attempts)
        )
    elif status == S.HELD:
        _hold(session, claimed, cast(Hold, outcome), now)
    elif status == S.FAILED:
        _fail(session, claimed, now, cast(Fail, outcome))
    else:  # S.QUEUED: the channel refused its credentials
        _disconnected(session, claimed, cast(Disconnected, outcome), now)


def _hold(session: Session, claimed: Claimed, outcome: Hold, now: datetime) -> None:
    """Outside the messaging window: kept until the client writes (not an attempt)."""
    if _guarded(
        session,
        claimed,
        now,
        S.HELD,
        attempts=Message.attempts - 1,
        error_class=ErrorClass.WINDOW_CLOSED.value,
        error_code=outcome.code,
        error_text=outcome.text,
    ):
        audit.record(
            session,
            audit.Event.MESSAGE_HELD,
            ACTOR,
            at=now,
            code=outcome.code,
            text=outcome.text,
            **_ids(claimed),
        )


def _retry(
    session: Session, claimed: Claimed, outcome: Retry, now: datetime, policy: RetryPolicy
) -> None:
    """Try again later. A provider's "too many requests" pauses the channel (or the
    recipient) for the time it asks and is not counted as an attempt: the message did
    nothing wrong. Any other transient error counts, with capped backoff and jitter."""
    rate_limited = outcome.error_class == ErrorClass.RATE_LIMITED or outcome.after is not None
    if not rate_limited and policy.exhausted(claimed.attempts):
        _fail(
            session,
            claimed,
            now,
            Fail(outcome.error_class, outcome.code, outcome.text),
            exhausted=True,
        )
        return
    if rate_limited:
        delay = outcome.after if outcome.after is not None else RATE_LIMIT_PAUSE_SECONDS
        _pause(session, claimed, now, delay, outcome)
    else:
        delay = policy.delay(claimed.attempts)
    if _guarded(
        session,
        claimed,
        now,
        S.RETRYING,
        attempts=Message.attempts - 1 if rate_limited else Message.attempts,
        next_attempt_at=now + timedelta(seconds=delay),
        error_class=outcome.error_class.value,
        error_code=outcome.code,
        error_text=outcome.text,
    ):
        audit.record(
            session,
            audit.Event.MESSAGE_RETRYING,
            ACTOR,
            at=now,
            error_class=outcome.error_class.value,
            code=outcome.code,
            text=outcome.text,
            attempt=claimed.attempts,
            retry_in_seconds=round(delay, 1),
            **_ids(claimed),
        )


def _disconnected(session: Session, claimed: Claimed, outcome: Disconnected, now: datetime) -> None:
    """The channel stops; the message goes back to the queue untouched (not an attempt)."""
    if not _guarded(
        session,
        claimed,
        now,
        S.QUEUED,
        attempts=Message.attempts - 1,
        next_attempt_at=now + DISCONNECTED_RECHECK,
        error_class=ErrorClass.AUTH.value,
        error_code=outcome.code,
        error_text=outcome.text,
    ):
        return
    disconnect_channel(
        session, session.get(Channel, claimed.channel_id), outcome.code, outcome.text, now, ACTOR
    )


def _fail(
    session: Session,
    claimed: Claimed,
    now: datetime,
    outcome: Fail,
    exhausted: bool = False,
) -> None:
    if not _guarded(
        session,
        claimed,
        now,
        S.FAILED,
        failed_at=now,
        error_class=outcome.error_class.value,
        error_code=outcome.code,
        error_text=outcome.text,
    ):
        return
    ids = _ids(claimed)
    audit.record(
        session,
        audit.Event.MESSAGE_FAILED,
        ACTOR,
        at=now,
        error_class=outcome.error_class.value,
        code=outcome.code,
        text=outcome.text,
        attempts_exhausted=exhausted or None,
        **ids,
    )
    if outcome.opt_out and claimed.identity_id is not None:
        record_opt_out(
            session, claimed.identity_id, now, f"{outcome.code}: {outcome.text}", ACTOR, ids
        )
    _fail_waiting(session, claimed, now, outcome)


#: The error code of a content message whose template failed for good (R12).
TEMPLATE_FAILED = "template_failed"
#: Messages still waiting behind another one: queued behind it, or held for the window.
_WAITING = tuple(s.value for s in (S.QUEUED, S.HELD) if can_dispatch_move(s, S.FAILED))


def _fail_waiting(session: Session, claimed: Claimed, now: datetime, outcome: Fail) -> None:
    """The messages waiting behind a message that failed for good fail with it (R12).

    A content message sent "template then content" waits for its template to be handed
    over; once the template has failed, queued content would wait for ever and held
    content for a reply the client was never asked for. It ends ``failed`` too, with the
    template's error class and a text that says why. The pair shares its ticket, so the
    ticket's index finds it.
    """
    text = f"its template (message {claimed.message.id}) failed: {outcome.code} {outcome.text}"
    rows = session.execute(
        update(Message)
        .where(
            Message.ticket_id == claimed.ticket_id,
            Message.after_message_id == claimed.message.id,
            Message.status.in_(_WAITING),
        )
        .values(
            status=S.FAILED.value,
            failed_at=now,
            updated_at=now,
            next_attempt_at=None,
            error_class=outcome.error_class.value,
            error_code=TEMPLATE_FAILED,
            error_text=text,
        )
        .returning(Message.id, Message.campaign_id, Message.channel_id)
        .execution_options(synchronize_session=False)
    ).all()
    for message_id, campaign_id, channel_id in rows:
        audit.record(
            session,
            audit.Event.MESSAGE_FAILED,
            ACTOR,
            at=now,
            ticket_id=claimed.ticket_id,
            message_id=message_id,
            campaign_id=campaign_id,
            channel_id=channel_id,
            error_class=outcome.error_class.value,
            code=TEMPLATE_FAILED,
            text=text,
            template_message_id=claimed.message.id,
        )


def _pause(
    session: Session, claimed: Claimed, now: datetime, seconds: float, outcome: Retry
) -> None:
    """A provider asked us to wait: pause the channel (or just this recipient)."""
    until = now + timedelta(seconds=seconds)
    if outcome.channel_wide:
        paused = session.execute(
            update(Channel)
            .where(
                Channel.id == claimed.channel_id,
                or_(Channel.paused_until.is_(None), Channel.paused_until < until),
            )
            .values(paused_until=until)
            .returning(Channel.id)
            .execution_options(synchronize_session=False)
        ).first()
        if paused is not None:
            audit.record(
                session,
                audit.Event.CHANNEL_PAUSED,
                ACTOR,
                at=now,
                channel_id=claimed.channel_id,
                seconds=round(seconds, 3),
                code=outcome.code,
            )
    elif claimed.identity_id is not None:
        session.execute(
            update(ContactIdentity)
            .where(
                ContactIdentity.id == claimed.identity_id,
                or_(ContactIdentity.next_send_at.is_(None), ContactIdentity.next_send_at < until),
            )
            .values(next_send_at=until)
            .execution_options(synchronize_session=False)
        )
