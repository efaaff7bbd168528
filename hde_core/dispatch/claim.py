"""Claim: the first step of every message's single path (claim → send → record).

Due messages of one channel are claimed in one transaction: lock the channel's
token bucket (:mod:`hde_core.dispatch.ratelimit`), pick at most as many due
messages as it has tokens (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: the
transaction is the single writer), commit them as ``sending`` with a lease and
one more attempt — *before* any network call.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, exists, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from hde_core.bootstrap import App
from hde_core.channels.base import OutgoingMessage
from hde_core.db.models import (
    CLAIMABLE_SQL,
    Campaign,
    Channel,
    ContactIdentity,
    Department,
    Message,
)
from hde_core.dispatch.channels import ChannelLimits, sendable_channel, sendable_channels
from hde_core.dispatch.ratelimit import lock_bucket, seconds_until, whole_tokens
from hde_core.domain.campaigns import SENDABLE
from hde_core.domain.channels import ConnectionStatus
from hde_core.domain.statuses import CLAIMABLE, HANDED_OVER, MessageStatus
from hde_core.services import audit
from hde_core.services.templates import current_template_status

log = logging.getLogger(__name__)

S = MessageStatus
DEFAULT_LEASE = timedelta(minutes=2)
ACTOR = "dispatcher"
#: Written exactly like the predicate of the partial index ``ix_message_claim`` so the
#: planner reads claims straight off it (a bound parameter would hide the match).
_CLAIMABLE = text("messages." + CLAIMABLE_SQL)

#: A launching campaign's messages already written may go out; it cannot finish yet.
SENDABLE_CAMPAIGNS = sorted(s.value for s in SENDABLE)


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


@dataclass
class ClaimResult:
    """What one claim took, and when it is worth asking that channel again."""

    claimed: list[Claimed] = field(default_factory=list)
    #: Seconds until the channel's bucket has a token again (None: no token was missing).
    wait: float | None = None
    #: True when the channel had nothing due (so polling it again soon is pointless).
    idle: bool = False
    #: Another worker was claiming on this channel at the same moment.
    busy: bool = False
    #: The channel's limits as this claim read them (the worker paces its sends by them).
    rate: float = 0.0
    burst: int = 1


def due_filter(now: datetime) -> Any:
    """SQL condition: the message may be handed to its provider now (rate limits aside)."""
    return and_(
        Message.status.in_([s.value for s in CLAIMABLE]),
        _due_now(now),
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
                Campaign.status.in_(SENDABLE_CAMPAIGNS),
                or_(Campaign.scheduled_at.is_(None), Campaign.scheduled_at <= now),
            ),
        ),
    )


#: The message a content message waits for (its template). Made once: an alias costs more
#: to build than the rest of a claim's statements.
_BEFORE = aliased(Message, name="before_message")


def _due_now(now: datetime) -> Any:
    """The per-message part of "due": its time has come, its template went first, and
    its recipient is not being paced."""
    before = _BEFORE
    return and_(
        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
        # content sent "after the template" waits until the template is handed over
        or_(
            Message.after_message_id.is_(None),
            exists().where(
                before.id == Message.after_message_id,
                before.status.in_([s.value for s in HANDED_OVER]),
            ),
        ),
        or_(
            Message.identity_id.is_(None),
            ~exists().where(
                ContactIdentity.id == Message.identity_id,
                ContactIdentity.next_send_at > now,
            ),
        ),
    )


def _campaign_sources(session: Session, channel_id: int, now: datetime) -> list[int]:
    """Running campaigns with claimable messages on this channel (an index probe each)."""
    has_work = (
        select(Message.id)
        .where(
            Message.channel_id == channel_id,
            Message.campaign_id == Campaign.id,
            _CLAIMABLE,
        )
        .exists()
    )
    return list(
        session.scalars(
            select(Campaign.id)
            .where(
                Campaign.status.in_(SENDABLE_CAMPAIGNS),
                or_(Campaign.scheduled_at.is_(None), Campaign.scheduled_at <= now),
                has_work,
            )
            .order_by(Campaign.id)
        )
    )


_ALL = object()


def _pick(
    session: Session,
    channel_id: int,
    campaign: Any,
    now: datetime,
    limit: int,
    ids: Sequence[int] | None,
) -> list[tuple[int, int | None]]:
    """Due message ids of one source, oldest first, locked (skipping rows others hold)."""
    stmt = select(Message.id, Message.identity_id).where(
        Message.channel_id == channel_id, _CLAIMABLE, _due_now(now)
    )
    if campaign is None:
        stmt = stmt.where(Message.campaign_id.is_(None))
    elif campaign is not _ALL:
        stmt = stmt.where(Message.campaign_id == campaign)
    if ids is not None:
        stmt = stmt.where(
            Message.id.in_(list(ids)),
            or_(
                Message.campaign_id.is_(None),
                exists().where(
                    Campaign.id == Message.campaign_id,
                    Campaign.status.in_(SENDABLE_CAMPAIGNS),
                    or_(Campaign.scheduled_at.is_(None), Campaign.scheduled_at <= now),
                ),
            ),
        )
    # the order of ix_message_claim itself, so the planner reads the index in order and
    # stops after ``limit`` rows (PostgreSQL does not treat ``IS NULL`` as an equality here)
    stmt = stmt.order_by(Message.channel_id, Message.campaign_id, Message.id).limit(limit)
    if session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update(skip_locked=True, of=Message)
    return [(row[0], row[1]) for row in session.execute(stmt)]


def claim_channel(
    app: App,
    worker_id: str,
    channel_id: int,
    *,
    limit: int = 50,
    lease: timedelta = DEFAULT_LEASE,
    ids: Sequence[int] | None = None,
    borrow: bool = False,
    skip_busy: bool = True,
    rotate: int = 0,
    lookahead: float = 0.0,
) -> ClaimResult:
    """Claim up to ``limit`` due messages of one channel, within its shared rate limit.

    ``borrow`` (single tickets sent at once) takes what is due even when the bucket is
    empty; the debt delays the dispatcher's next claims on that channel instead.

    ``lookahead`` (the dispatcher) also takes the tokens of the next that many seconds:
    the worker's :class:`~hde_core.dispatch.pacing.Pacer` sends them at the channel's pace,
    so sends in flight overlap whatever the provider's answer time. When no token is there
    yet, the claim waits until half a lookahead of them has accrued, so a worker claims in
    batches (a few claims a second) instead of one message per claim.
    """
    now = app.clock.now()
    with app.db.transaction() as session:
        limits = sendable_channel(session, channel_id, now)
        if limits is None:
            return ClaimResult(idle=True)
        allowance = lock_bucket(
            session, channel_id, limits.rate, limits.burst, now, skip_locked=skip_busy
        )
        if allowance is None:
            return ClaimResult(busy=True)
        if borrow:
            want = limit
        else:
            want = min(limit, whole_tokens(allowance.ahead(lookahead)))
            chunk = min(limit, max(1, int(limits.rate * lookahead / 2)))
            if allowance.available < 1 and want < chunk:
                # nothing may go at once: come back when a useful batch of slots is free
                return ClaimResult(
                    wait=seconds_until(allowance.ahead(lookahead), limits.rate, chunk),
                    rate=limits.rate,
                    burst=limits.burst,
                )
        if want <= 0:
            return ClaimResult(wait=allowance.wait(), rate=limits.rate, burst=limits.burst)
        picked: list[tuple[int, int | None]] = []
        if ids is not None:
            picked = _pick(session, channel_id, _ALL, now, want, ids)
        else:
            sources: list[Any] = _campaign_sources(session, channel_id, now)
            if sources:
                shift = rotate % len(sources)
                sources = sources[shift:] + sources[:shift]
            for source in [None, *sources]:
                if len(picked) >= want:
                    break
                picked += _pick(session, channel_id, source, now, want - len(picked), None)
        if limits.per_recipient:
            picked = _one_per_recipient(picked)
        if not picked:
            return ClaimResult(idle=True, rate=limits.rate, burst=limits.burst)
        message_ids = [mid for mid, _ in picked]
        table = cast(Table, Message.__table__)  # Core, not the ORM's bulk update: same SQL
        m = table.c
        rows = (
            session.connection()
            .execute(
                update(table)
                .where(m.id.in_(message_ids))
                .values(
                    status=S.SENDING.value,
                    lease_owner=worker_id,
                    lease_expires_at=now + lease,
                    attempts=m.attempts + 1,
                    updated_at=now,
                )
                .returning(
                    m.id,
                    m.ticket_id,
                    m.campaign_id,
                    m.identity_id,
                    m.recipient,
                    m.kind,
                    m.payload,
                    m.idempotency_key,
                    m.attempts,
                )
            )
            .all()
        )
        allowance.spend(len(rows))
        if limits.per_recipient:
            identities = [mid for _, mid in picked if mid is not None]
            if identities:
                # counted from the latest moment this claim's sends may go (its lookahead):
                # a recipient's two messages are the interval apart at the provider
                session.execute(
                    update(ContactIdentity)
                    .where(ContactIdentity.id.in_(identities))
                    .values(
                        next_send_at=now
                        + timedelta(seconds=(0.0 if borrow else lookahead) + limits.per_recipient)
                    )
                    .execution_options(synchronize_session=False)
                )
        claimed = _snapshot(app, session, limits, sorted(rows, key=lambda r: r.id), worker_id)
        add_audit(
            session,
            audit.Event.MESSAGE_SENDING,
            now,
            [
                (c, {"attempt": c.attempts, "worker": worker_id})
                for c in claimed  # one row per claimed message
            ],
        )
        return ClaimResult(claimed=claimed, rate=limits.rate, burst=limits.burst)


def _one_per_recipient(picked: list[tuple[int, int | None]]) -> list[tuple[int, int | None]]:
    seen: set[int] = set()
    out = []
    for mid, identity in picked:
        if identity is not None:
            if identity in seen:
                continue
            seen.add(identity)
        out.append((mid, identity))
    return out


def claim(
    app: App,
    worker_id: str,
    *,
    ids: Sequence[int] | None = None,
    channel_id: int | None = None,
    limit: int = 50,
    lease: timedelta = DEFAULT_LEASE,
    borrow: bool = False,
) -> list[Claimed]:
    """Claim due messages (of ``ids`` / ``channel_id`` if given) across channels."""
    if channel_id is not None:
        channels = [channel_id]
    elif ids is not None:
        with app.db.reader() as session:
            channels = sorted(
                set(
                    session.scalars(
                        select(Message.channel_id).where(Message.id.in_(list(ids))).distinct()
                    )
                )
            )
    else:
        channels, _ = sendable_channels(app)
    out: list[Claimed] = []
    for cid in channels:
        if len(out) >= limit:
            break
        result = claim_channel(
            app,
            worker_id,
            cid,
            limit=limit - len(out),
            lease=lease,
            ids=ids,
            borrow=borrow,
            skip_busy=not borrow,
        )
        out += result.claimed
    return out


def _snapshot(
    app: App,
    session: Session,
    limits: ChannelLimits,
    rows: Sequence[Any],
    worker_id: str,
) -> list[Claimed]:
    smtp_urls: dict[int, str | None] = {}
    out: list[Claimed] = []
    for m in rows:
        payload = dict(m.payload or {})
        transport: dict[str, Any] = {}
        department_id = payload.get("department_id")
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
                session, limits.id, payload.get("template_name", ""), payload.get("language", "")
            )
        out.append(
            Claimed(
                message=OutgoingMessage(
                    id=m.id,
                    kind=m.kind,
                    recipient=m.recipient,
                    payload=payload,
                    idempotency_key=m.idempotency_key,
                    transport=transport,
                ),
                channel_id=limits.id,
                ticket_id=m.ticket_id,
                campaign_id=m.campaign_id,
                identity_id=m.identity_id,
                attempts=m.attempts,
                max_attempts=limits.max_attempts,
                worker_id=worker_id,
            )
        )
    return out


def add_audit(
    session: Session,
    event: audit.Event,
    at: datetime,
    items: Iterable[tuple[Claimed, dict[str, Any]]],
    actor: str = ACTOR,
) -> None:
    """One audit event per message in one multi-row insert (the dispatcher's hot path)."""
    rows = [
        audit.event_row(
            event,
            actor,
            at,
            ticket_id=c.ticket_id,
            message_id=c.message.id,
            campaign_id=c.campaign_id,
            channel_id=c.channel_id,
            data=data,
        )
        for c, data in items
    ]
    audit.insert_audit_rows(session, rows)


def nothing_due(app: App) -> bool:
    """True when no message may be sent now (rate limits aside): ``hde send --wait`` is done."""
    now = app.clock.now()
    with app.db.reader() as session:
        return session.scalar(select(Message.id).where(due_filter(now)).limit(1)) is None
