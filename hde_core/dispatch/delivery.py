"""Delivery of outbox messages: claim → send → record. The single path every message takes.

1. **Claim** due messages in one statement and commit them as ``sending``
   (with a lease and one more attempt) *before* any network call.
2. **Send** each through its channel's adapter; every answer is a typed outcome.
3. **Record** the outcome with a guarded transition (only from ``sending`` or
   ``uncertain``, only by the lease owner), with its audit event, in one
   transaction.

``hde ticket`` delivers its message at once through :func:`deliver_now`; the
dispatcher (:mod:`hde_core.dispatch.worker`) runs the same three steps in a loop
with rate limits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from hde_core.bootstrap import App
from hde_core.channels.base import ChannelAdapter, ChannelConfig, OutgoingMessage, new_http_client
from hde_core.channels.registry import build_adapter
from hde_core.db.models import (
    Campaign,
    Channel,
    ContactIdentity,
    Department,
    Message,
    PendingStatus,
)
from hde_core.domain.channels import ConnectionStatus
from hde_core.domain.outcomes import (
    Disconnected,
    ErrorClass,
    Fail,
    Hold,
    Retry,
    SendOutcome,
    Sent,
)
from hde_core.domain.retry import RetryPolicy
from hde_core.domain.statuses import CLAIMABLE, HANDED_OVER, MessageStatus
from hde_core.errors import ConfigError
from hde_core.services import audit
from hde_core.services.channels import channel_config
from hde_core.services.contacts import record_opt_out
from hde_core.services.statuses import apply_status
from hde_core.services.templates import current_template_status

log = logging.getLogger(__name__)

S = MessageStatus
DEFAULT_LEASE = timedelta(minutes=2)
#: How long messages wait before re-checking a channel whose credentials were refused.
DISCONNECTED_RECHECK = timedelta(minutes=1)


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Claimed:
    message: OutgoingMessage
    channel_id: int
    ticket_id: int
    campaign_id: int | None
    identity_id: int | None
    attempts: int
    max_attempts: int
    worker_id: str


def due_filter(now: datetime) -> Any:
    """SQL condition: the message may be handed to its provider now."""
    before = aliased(Message)
    return and_(
        Message.status.in_([s.value for s in CLAIMABLE]),
        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
        # content sent "after the template" waits until the template is handed over
        or_(
            Message.after_message_id.is_(None),
            exists().where(
                before.id == Message.after_message_id,
                before.status.in_([s.value for s in HANDED_OVER]),
            ),
        ),
        exists().where(
            Channel.id == Message.channel_id,
            Channel.enabled.is_(True),
            Channel.connection_status != ConnectionStatus.ERROR.value,
            or_(Channel.paused_until.is_(None), Channel.paused_until <= now),
        ),
        or_(
            Message.campaign_id.is_(None),
            exists().where(
                Campaign.id == Message.campaign_id,
                Campaign.status == "running",
                or_(Campaign.scheduled_at.is_(None), Campaign.scheduled_at <= now),
            ),
        ),
        or_(
            Message.identity_id.is_(None),
            exists().where(
                ContactIdentity.id == Message.identity_id,
                or_(ContactIdentity.next_send_at.is_(None), ContactIdentity.next_send_at <= now),
            ),
        ),
    )


def claim(
    app: App,
    worker_id: str,
    *,
    ids: Sequence[int] | None = None,
    channel_id: int | None = None,
    limit: int = 50,
    lease: timedelta = DEFAULT_LEASE,
) -> list[Claimed]:
    """Claim up to ``limit`` due messages as ``sending`` and commit before any network call."""
    now = app.clock.now()
    with app.db.transaction() as session:
        pick = select(Message.id).where(due_filter(now)).order_by(Message.id).limit(limit)
        if ids is not None:
            pick = pick.where(Message.id.in_(list(ids)))
        if channel_id is not None:
            pick = pick.where(Message.channel_id == channel_id)
        if not app.db.is_sqlite:
            pick = pick.with_for_update(skip_locked=True, of=Message)
        rows = (
            session.execute(
                update(Message)
                .where(Message.id.in_(pick.scalar_subquery()))
                .values(
                    status=S.SENDING.value,
                    lease_owner=worker_id,
                    lease_expires_at=now + lease,
                    attempts=Message.attempts + 1,
                    updated_at=now,
                )
                .returning(Message.id)
                .execution_options(synchronize_session=False)
            )
            .scalars()
            .all()
        )
        if not rows:
            return []
        messages = list(
            session.scalars(select(Message).where(Message.id.in_(rows)).order_by(Message.id))
        )
        return _snapshot(app, session, messages, worker_id, now)


def _snapshot(
    app: App, session: Session, messages: list[Message], worker_id: str, now: datetime
) -> list[Claimed]:
    configs: dict[int, ChannelConfig] = {}
    channels: dict[int, Channel] = {}
    smtp_urls: dict[int, str | None] = {}
    out: list[Claimed] = []
    for m in messages:
        if m.channel_id not in configs:
            channel = session.get(Channel, m.channel_id)
            assert channel is not None
            channels[m.channel_id] = channel
            configs[m.channel_id] = channel_config(session, app.secrets, channel)
        transport: dict[str, Any] = {}
        department_id = m.payload.get("department_id")
        if m.kind == "email" and department_id:
            if department_id not in smtp_urls:
                dept = session.get(Department, department_id)
                smtp_urls[department_id] = (
                    app.secrets.decrypt(dept.smtp_url_enc) if dept and dept.smtp_url_enc else None
                )
            if smtp_urls[department_id]:
                transport["smtp_url"] = smtp_urls[department_id]
        if m.kind == "template":  # R11: only a template still APPROVED goes out
            transport["template_status"] = current_template_status(
                session,
                m.channel_id,
                m.payload.get("template_name", ""),
                m.payload.get("language", ""),
            )
        audit.record(
            session,
            audit.Event.MESSAGE_SENDING,
            "dispatcher",
            at=now,
            ticket_id=m.ticket_id,
            message_id=m.id,
            campaign_id=m.campaign_id,
            channel_id=m.channel_id,
            attempt=m.attempts,
            worker=worker_id,
        )
        out.append(
            Claimed(
                message=OutgoingMessage(
                    id=m.id,
                    kind=m.kind,
                    recipient=m.recipient,
                    payload=dict(m.payload),
                    idempotency_key=m.idempotency_key,
                    transport=transport,
                ),
                channel_id=m.channel_id,
                ticket_id=m.ticket_id,
                campaign_id=m.campaign_id,
                identity_id=m.identity_id,
                attempts=m.attempts,
                max_attempts=channels[m.channel_id].max_attempts,
                worker_id=worker_id,
            )
        )
    return out


async def send_one(adapter: ChannelAdapter, claimed: Claimed) -> SendOutcome:
    """Call the adapter; an adapter bug never loses the message (it becomes a capped retry)."""
    try:
        return await adapter.send(claimed.message)
    except ConfigError as exc:
        return Disconnected("config", exc.message("en"))
    except Exception as exc:  # noqa: BLE001 - the message must survive any adapter failure
        log.exception("adapter %s failed on message %s", type(adapter).__name__, claimed.message.id)
        return Retry(ErrorClass.TRANSIENT, "internal", f"{type(exc).__name__}: {exc}")


def record_outcomes(
    app: App,
    results: Iterable[tuple[Claimed, SendOutcome]],
    policy: RetryPolicy | None = None,
) -> None:
    """Store each outcome with a guarded transition and its audit event, in one transaction."""
    now = app.clock.now()
    with app.db.transaction() as session:
        for claimed, outcome in results:
            _record(session, app, claimed, outcome, now, policy)


def _guarded(session: Session, claimed: Claimed, now: datetime, **values: Any) -> bool:
    """Update the message only if it is still ours (sending, or marked uncertain meanwhile)."""
    result = session.execute(
        update(Message)
        .where(
            Message.id == claimed.message.id,
            Message.status.in_([S.SENDING.value, S.UNCERTAIN.value]),
            Message.lease_owner == claimed.worker_id,
        )
        .values(updated_at=now, lease_owner=None, lease_expires_at=None, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _record(
    session: Session,
    app: App,
    claimed: Claimed,
    outcome: SendOutcome,
    now: datetime,
    policy: RetryPolicy | None,
) -> None:
    ids = {
        "ticket_id": claimed.ticket_id,
        "message_id": claimed.message.id,
        "campaign_id": claimed.campaign_id,
        "channel_id": claimed.channel_id,
    }
    policy = policy or RetryPolicy(max_attempts=claimed.max_attempts)
    if isinstance(outcome, Sent):
        if _guarded(
            session,
            claimed,
            now,
            status=S.SENT.value,
            provider_message_id=outcome.provider_message_id,
            sent_at=now,
            error_class=None,
            error_code=None,
            error_text=None,
        ):
            audit.record(
                session,
                audit.Event.MESSAGE_SENT,
                "dispatcher",
                at=now,
                provider_message_id=outcome.provider_message_id,
                mailbox=claimed.message.payload.get("from_addr"),
                kind=claimed.message.kind,
                **ids,
            )
            _apply_pending_statuses(session, claimed.channel_id, outcome.provider_message_id)
        return
    if isinstance(outcome, Retry):
        if policy.exhausted(claimed.attempts):
            _fail(
                session,
                claimed,
                now,
                Fail(outcome.error_class, outcome.code, outcome.text),
                ids,
                exhausted=True,
            )
            return
        delay = policy.delay(claimed.attempts, outcome.after)
        if outcome.after is not None:
            _pause(session, claimed, now, outcome, ids)
        if _guarded(
            session,
            claimed,
            now,
            status=S.RETRYING.value,
            next_attempt_at=now + timedelta(seconds=delay),
            error_class=outcome.error_class.value,
            error_code=outcome.code,
            error_text=outcome.text,
        ):
            audit.record(
                session,
                audit.Event.MESSAGE_RETRYING,
                "dispatcher",
                at=now,
                error_class=outcome.error_class.value,
                code=outcome.code,
                text=outcome.text,
                attempt=claimed.attempts,
                retry_in_seconds=round(delay, 1),
                **ids,
            )
        return
    if isinstance(outcome, Hold):
        if _guarded(
            session,
            claimed,
            now,
            status=S.HELD.value,
            attempts=Message.attempts - 1,
            error_class=ErrorClass.WINDOW_CLOSED.value,
            error_code=outcome.code,
            error_text=outcome.text,
        ):
            audit.record(
                session,
                audit.Event.MESSAGE_HELD,
                "dispatcher",
                at=now,
                code=outcome.code,
                text=outcome.text,
                **ids,
            )
        return
    if isinstance(outcome, Fail):
        _fail(session, claimed, now, outcome, ids)
        return
    if isinstance(outcome, Disconnected):
        # The channel stops; the message goes back to the queue untouched (not an attempt).
        if _guarded(
            session,
            claimed,
            now,
            status=S.QUEUED.value,
            attempts=Message.attempts - 1,
            next_attempt_at=now + DISCONNECTED_RECHECK,
            error_class=ErrorClass.AUTH.value,
            error_code=outcome.code,
            error_text=outcome.text,
        ):
            channel = session.get(Channel, claimed.channel_id)
            if channel is not None and channel.connection_status != ConnectionStatus.ERROR.value:
                channel.connection_status = ConnectionStatus.ERROR.value
                channel.connection_error = outcome.text
                channel.status_checked_at = now
                audit.record(
                    session,
                    audit.Event.CHANNEL_DISCONNECTED,
                    "dispatcher",
                    at=now,
                    channel_id=claimed.channel_id,
                    code=outcome.code,
                    text=outcome.text,
                )
        return
    raise TypeError(f"unknown outcome {outcome!r}")


def _fail(
    session: Session,
    claimed: Claimed,
    now: datetime,
    outcome: Fail,
    ids: dict[str, Any],
    exhausted: bool = False,
) -> None:
    if not _guarded(
        session,
        claimed,
        now,
        status=S.FAILED.value,
        failed_at=now,
        error_class=outcome.error_class.value,
        error_code=outcome.code,
        error_text=outcome.text,
    ):
        return
    audit.record(
        session,
        audit.Event.MESSAGE_FAILED,
        "dispatcher",
        at=now,
        error_class=outcome.error_class.value,
        code=outcome.code,
        text=outcome.text,
        attempts_exhausted=exhausted or None,
        **ids,
    )
    if outcome.opt_out and claimed.identity_id is not None:
        record_opt_out(
            session, claimed.identity_id, now, f"{outcome.code}: {outcome.text}", "dispatcher", ids
        )


def _pause(
    session: Session, claimed: Claimed, now: datetime, outcome: Retry, ids: dict[str, Any]
) -> None:
    """A provider asked us to wait: pause the channel (or just this recipient)."""
    assert outcome.after is not None
    until = now + timedelta(seconds=outcome.after)
    if outcome.channel_wide:
        channel = session.get(Channel, claimed.channel_id)
        if channel is not None and (channel.paused_until is None or channel.paused_until < until):
            channel.paused_until = until
            audit.record(
                session,
                audit.Event.CHANNEL_PAUSED,
                "dispatcher",
                at=now,
                channel_id=claimed.channel_id,
                seconds=outcome.after,
                code=outcome.code,
            )
    elif claimed.identity_id is not None:
        identity = session.get(ContactIdentity, claimed.identity_id)
        if identity is not None and (
            identity.next_send_at is None or identity.next_send_at < until
        ):
            identity.next_send_at = until


def _apply_pending_statuses(session: Session, channel_id: int, provider_message_id: str) -> None:
    """Statuses that arrived before we knew the provider id are applied now."""
    pending = list(
        session.scalars(
            select(PendingStatus)
            .where(
                PendingStatus.channel_id == channel_id,
                PendingStatus.provider_message_id == provider_message_id,
            )
            .order_by(PendingStatus.occurred_at, PendingStatus.id)
        )
    )
    for row in pending:
        apply_status(
            session, channel_id, provider_message_id, S(row.status), row.occurred_at, row.payload
        )
        session.delete(row)


# -- deliver now (single tickets) -------------------------------------------------------


async def deliver_claimed(
    app: App, claimed: list[Claimed], http: httpx.AsyncClient | None = None
) -> list[tuple[Claimed, SendOutcome]]:
    """Send claimed messages concurrently, one adapter per channel."""
    own_client = http is None
    client = http or new_http_client()
    try:
        adapters: dict[int, ChannelAdapter] = {}
        configs: dict[int, ChannelConfig] = {}
        with app.db.reader() as session:
            for c in claimed:
                if c.channel_id not in configs:
                    channel = session.get(Channel, c.channel_id)
                    assert channel is not None
                    configs[c.channel_id] = channel_config(session, app.secrets, channel)
        for channel_id, config in configs.items():
            adapters[channel_id] = build_adapter(config, client)
        outcomes = await asyncio.gather(*(send_one(adapters[c.channel_id], c) for c in claimed))
        return list(zip(claimed, outcomes, strict=True))
    finally:
        if own_client:
            await client.aclose()


def deliver_now(app: App, message_ids: Sequence[int], rounds: int = 3) -> None:
    """Hand these messages to their providers at once (those that are due).

    Runs a few rounds so that a content message released by its template
    ("template then send") goes out in the same call.
    """
    worker_id = new_worker_id()
    for _ in range(rounds):
        claimed = claim(app, worker_id, ids=message_ids, limit=len(message_ids) or 1)
        if not claimed:
            return
        results = asyncio.run(deliver_claimed(app, claimed))
        record_outcomes(app, results)
