"""Messages: listing them by status (e.g. the ``uncertain`` ones to review); after a crash,
leases that ran out become ``uncertain``; a team lead may resend them.

A worker commits a message as ``sending`` with a lease before it calls the
provider. If the worker dies (``kill -9``, power cut) before recording the
answer, nobody knows whether the provider got the message, so it is **never**
resent by itself (SPEC §3): when the lease expires it becomes ``uncertain``.
The lease owner is kept, so a worker that was only slow still records its
answer. ``hde resend`` (team lead) puts chosen ``uncertain`` messages back in
the queue on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select, update

from hde_core.bootstrap import App
from hde_core.db.models import Campaign, Channel, Message
from hde_core.domain.campaigns import CampaignStatus
from hde_core.domain.roles import Permission
from hde_core.domain.statuses import MessageStatus
from hde_core.errors import UsageError
from hde_core.services import audit
from hde_core.services.authz import authorize
from hde_core.services.campaigns.report import by_key
from hde_core.services.channels import channel_by_name

S = MessageStatus


def expire_leases(app: App) -> int:
    """``sending`` messages whose lease ran out become ``uncertain``; returns how many."""
    now = app.clock.now()
    with app.db.transaction() as session:
        rows = session.execute(
            update(Message)
            .where(Message.status == S.SENDING.value, Message.lease_expires_at < now)
            .values(status=S.UNCERTAIN.value, updated_at=now)
            .returning(
                Message.id,
                Message.ticket_id,
                Message.campaign_id,
                Message.channel_id,
                Message.lease_owner,
            )
            .execution_options(synchronize_session=False)
        ).all()
        if rows:
            audit.insert_audit_rows(
                session,
                [
                    audit.event_row(
                        audit.Event.MESSAGE_UNCERTAIN,
                        "dispatcher",
                        now,
                        ticket_id=r.ticket_id,
                        message_id=r.id,
                        campaign_id=r.campaign_id,
                        channel_id=r.channel_id,
                        data={"worker": r.lease_owner, "reason": "lease_expired"},
                    )
                    for r in rows
                ],
            )
    return len(rows)


@dataclass
class ResendResult:
    resent: list[int] = field(default_factory=list)
    #: id → why it was not resent: ``not_found``, ``not_uncertain`` (its status), ``cancelled``.
    refused: dict[int, str] = field(default_factory=dict)


def resend(app: App, message_ids: Sequence[int], actor: str) -> ResendResult:
    """Put ``uncertain`` messages back in the queue, on purpose (team lead only)."""
    authorize(app, actor, Permission.RESEND_UNCERTAIN)
    now = app.clock.now()
    result = ResendResult()
    wanted = list(dict.fromkeys(message_ids))
    with app.db.transaction() as session:
        found = {
            m.id: m
            for m in session.scalars(
                select(Message).where(Message.id.in_(wanted)).with_for_update()
            )
        }
        cancelled_campaigns = set(
            session.scalars(
                select(Campaign.id).where(
                    Campaign.status == CampaignStatus.CANCELLED,
                    exists().where(Message.campaign_id == Campaign.id, Message.id.in_(wanted)),
                )
            )
        )
        for mid in wanted:
            message = found.get(mid)
            if message is None:
                result.refused[mid] = "not_found"
            elif message.status != S.UNCERTAIN.value:
                result.refused[mid] = message.status
            elif message.campaign_id in cancelled_campaigns:
                result.refused[mid] = "cancelled"
            else:
                result.resent.append(mid)
        if result.resent:
            session.execute(
                update(Message)
                .where(Message.id.in_(result.resent), Message.status == S.UNCERTAIN.value)
                .values(
                    status=S.QUEUED.value,
                    attempts=0,
                    next_attempt_at=None,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            for mid in result.resent:
                m = found[mid]
                audit.record(
                    session,
                    audit.Event.MESSAGE_RESENT,
                    actor,
                    at=now,
                    ticket_id=m.ticket_id,
                    message_id=m.id,
                    campaign_id=m.campaign_id,
                    channel_id=m.channel_id,
                )
    return result


@dataclass(frozen=True)
class MessageRow:
    id: int
    ticket_id: int
    campaign: str | None
    channel: str
    recipient: str
    kind: str
    status: str
    attempts: int
    provider_message_id: str | None
    error_code: str | None
    error_text: str | None
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "updated_at": self.updated_at.isoformat()}


def list_messages(
    app: App,
    statuses: Sequence[str] = (),
    *,
    campaign: str | None = None,
    channel: str | None = None,
    limit: int = 100,
) -> Iterator[MessageRow]:
    """Messages by status (newest change first), e.g. the ``uncertain`` ones to review."""
    bad = [s for s in statuses if s not in {m.value for m in MessageStatus}]
    if bad:
        raise UsageError(
            "campaigns.error.unknown_status",
            status=bad[0],
            statuses=", ".join(m.value for m in MessageStatus),
        )
    with app.db.reader() as session:
        names = dict(session.execute(select(Channel.id, Channel.name)).all())
        keys = dict(session.execute(select(Campaign.id, Campaign.key)).all())
        stmt = select(Message).order_by(Message.updated_at.desc(), Message.id.desc()).limit(limit)
        if statuses:
            stmt = stmt.where(Message.status.in_(list(statuses)))
        if campaign:
            stmt = stmt.where(Message.campaign_id == by_key(session, campaign).id)
        if channel:
            stmt = stmt.where(Message.channel_id == channel_by_name(session, channel).id)
        rows = list(session.scalars(stmt))
    for m in rows:
        yield MessageRow(
            id=m.id,
            ticket_id=m.ticket_id,
            campaign=keys.get(m.campaign_id) if m.campaign_id else None,
            channel=names.get(m.channel_id, str(m.channel_id)),
            recipient=m.recipient,
            kind=m.kind,
            status=m.status,
            attempts=m.attempts,
            provider_message_id=m.provider_message_id,
            error_code=m.error_code,
            error_text=m.error_text,
            updated_at=m.updated_at,
        )
