"""Delivery of outbox messages: claim → send → record. The single path every message takes.

1. **Claim** due messages of one channel in one transaction: lock the channel's
   token bucket (:mod:`hde_core.dispatch.ratelimit`), pick at most as many due
   messages as it has tokens (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: the
   transaction is the single writer), commit them as ``sending`` with a lease and
   one more attempt — *before* any network call.
2. **Send** each through its channel's adapter; every answer is a typed outcome.
3. **Record** the outcome with a guarded transition (only from ``sending`` or
   ``uncertain``, only by the lease owner), with its audit event, in one
   transaction per batch.

``hde ticket`` delivers its message at once through :func:`deliver_now`; the
dispatcher (:mod:`hde_core.dispatch.worker`) runs the same three steps in a loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar, cast

import httpx
from sqlalchemy import Table, and_, bindparam, exists, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from hde_core.bootstrap import App
from hde_core.channels.base import ChannelAdapter, ChannelConfig, OutgoingMessage, new_http_client
from hde_core.channels.registry import build_adapter
from hde_core.db.models import (
    CLAIMABLE_SQL,
    Campaign,
    Channel,
    ContactIdentity,
    Department,
    Message,
    PendingStatus,
)
from hde_core.dispatch.ratelimit import lock_bucket
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
from hde_core.services.channels import channel_config, recipient_interval
from hde_core.services.contacts import record_opt_out
from hde_core.services.statuses import apply_status
from hde_core.services.templates import current_template_status

log = logging.getLogger(__name__)
T = TypeVar("T")

S = MessageStatus
DEFAULT_LEASE = timedelta(minutes=2)
#: How long messages wait before re-checking a channel whose credentials were refused.
DISCONNECTED_RECHECK = timedelta(minutes=1)
#: Pause when a provider says "too many requests" without saying for how long.
RATE_LIMIT_PAUSE_SECONDS = 2.0
#: A ``sent`` batch is recorded in statements of at most this many messages.
_RECORD_CHUNK = 500
ACTOR = "dispatcher"
#: Written exactly like the predicate of the partial index ``ix_message_claim`` so the
#: planner reads claims straight off it (a bound parameter would hide the match).
_CLAIMABLE = text("messages." + CLAIMABLE_SQL)


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
                Campaign.status == "running",
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


# -- claim -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelLimits:
    """The channel facts a claim needs, read inside the claim transaction."""

    id: int
    rate: float
    burst: int
    max_attempts: int
    #: Seconds between two messages to one recipient, when the provider has such a rule.
    per_recipient: float | None


#: The channel columns a claim reads (a plain row: loading the ORM object costs more).
_LIMIT_COLUMNS = (
    Channel.id,
    Channel.enabled,
    Channel.connection_status,
    Channel.paused_until,
    Channel.rate_per_sec,
    Channel.burst,
    Channel.max_attempts,
    Channel.settings,
    Channel.provider,
)


def _sendable_channel(session: Session, channel_id: int, now: datetime) -> ChannelLimits | None:
    channel = session.execute(select(*_LIMIT_COLUMNS).where(Channel.id == channel_id)).first()
    if (
        channel is None
        or not channel.enabled
        or channel.connection_status == ConnectionStatus.ERROR.value
        or (channel.paused_until is not None and channel.paused_until > now)
    ):
        return None
    return ChannelLimits(
        id=channel.id,
        rate=channel.rate_per_sec,
        burst=channel.burst,
        max_attempts=channel.max_attempts,
        per_recipient=recipient_interval(channel),
    )


def sendable_channels(app: App) -> tuple[list[int], datetime | None]:
    """Channels that may send now, and when the first paused one resumes."""
    now = app.clock.now()
    with app.db.reader() as session:
        rows = session.execute(
            select(Channel.id, Channel.paused_until)
            .where(
                Channel.enabled.is_(True),
                Channel.connection_status != ConnectionStatus.ERROR.value,
            )
            .order_by(Channel.id)
        ).all()
    ready = [cid for cid, paused in rows if paused is None or paused <= now]
    resumes = [paused for _, paused in rows if paused is not None and paused > now]
    return ready, min(resumes) if resumes else None


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
                Campaign.status == "running",
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
                    Campaign.status == "running",
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
) -> ClaimResult:
    """Claim up to ``limit`` due messages of one channel, within its shared rate limit.

    ``borrow`` (single tickets sent at once) takes what is due even when the bucket is
    empty; the debt delays the dispatcher's next claims on that channel instead.
    """
    now = app.clock.now()
    with app.db.transaction() as session:
        limits = _sendable_channel(session, channel_id, now)
        if limits is None:
            return ClaimResult(idle=True)
        allowance = lock_bucket(
            session, channel_id, limits.rate, limits.burst, now, skip_locked=skip_busy
        )
        if allowance is None:
            return ClaimResult(busy=True)
        want = limit if borrow else min(limit, allowance.available)
        if want <= 0:
            return ClaimResult(wait=allowance.wait())
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
            return ClaimResult(idle=True)
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
                session.execute(
                    update(ContactIdentity)
                    .where(ContactIdentity.id.in_(identities))
                    .values(next_send_at=now + timedelta(seconds=limits.per_recipient))
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
        return ClaimResult(claimed=claimed)


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
    app: App, session: Session, limits: ChannelLimits, rows: Sequence[Any], worker_id: str
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


# -- send ---------------------------------------------------------------------------------


async def send_one(adapter: ChannelAdapter, claimed: Claimed) -> SendOutcome:
    """Call the adapter; an adapter bug never loses the message (it becomes a capped retry)."""
    try:
        return await adapter.send(claimed.message)
    except ConfigError as exc:
        return Disconnected("config", exc.message("en"))
    except Exception as exc:  # noqa: BLE001 - the message must survive any adapter failure
        log.exception("adapter %s failed on message %s", type(adapter).__name__, claimed.message.id)
        return Retry(ErrorClass.TRANSIENT, "internal", f"{type(exc).__name__}: {exc}")


class AdapterCache:
    """One adapter per channel, rebuilt when the channel's configuration changes."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self._adapters: dict[int, tuple[ChannelConfig, ChannelAdapter]] = {}

    def refresh(self, app: App, channel_ids: Iterable[int]) -> None:
        with app.db.reader() as session:
            for channel_id in set(channel_ids):
                channel = session.get(Channel, channel_id)
                if channel is None:
                    continue
                config = channel_config(session, app.secrets, channel)
                known = self._adapters.get(channel_id)
                if known is None or known[0] != config:
                    self._adapters[channel_id] = (config, build_adapter(config, self.http))

    def get(self, channel_id: int) -> ChannelAdapter:
        return self._adapters[channel_id][1]


async def deliver_claimed(
    app: App, claimed: list[Claimed], http: httpx.AsyncClient | None = None
) -> list[tuple[Claimed, SendOutcome]]:
    """Send claimed messages concurrently, one adapter per channel."""
    own_client = http is None
    client = http or new_http_client()
    try:
        adapters = AdapterCache(client)
        adapters.refresh(app, (c.channel_id for c in claimed))
        outcomes = await asyncio.gather(*(send_one(adapters.get(c.channel_id), c) for c in claimed))
        return list(zip(claimed, outcomes, strict=True))
    finally:
        if own_client:
            await client.aclose()


# -- record -------------------------------------------------------------------------------


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
        if isinstance(outcome, Sent):
            sent.append((claimed, outcome))
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
            or_(table.c.status == S.SENDING.value, table.c.status == S.UNCERTAIN.value),
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
    _apply_pending_statuses(session, [(c.channel_id, o.provider_message_id) for c, o in recorded])


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
    if isinstance(outcome, Sent):
        _record_sent(session, [(claimed, outcome)], now)
    elif isinstance(outcome, Retry):
        _retry(
            session, claimed, outcome, now, policy or RetryPolicy(max_attempts=claimed.max_attempts)
        )
    elif isinstance(outcome, Hold):
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
                ACTOR,
                at=now,
                code=outcome.code,
                text=outcome.text,
                **_ids(claimed),
            )
    elif isinstance(outcome, Fail):
        _fail(session, claimed, now, outcome)
    elif isinstance(outcome, Disconnected):
        _disconnected(session, claimed, outcome, now)
    else:
        raise TypeError(f"unknown outcome {outcome!r}")


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
        status=S.RETRYING.value,
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
        status=S.QUEUED.value,
        attempts=Message.attempts - 1,
        next_attempt_at=now + DISCONNECTED_RECHECK,
        error_class=ErrorClass.AUTH.value,
        error_code=outcome.code,
        error_text=outcome.text,
    ):
        return
    channel = session.get(Channel, claimed.channel_id)
    if channel is not None and channel.connection_status != ConnectionStatus.ERROR.value:
        channel.connection_status = ConnectionStatus.ERROR.value
        channel.connection_error = outcome.text
        channel.status_checked_at = now
        audit.record(
            session,
            audit.Event.CHANNEL_DISCONNECTED,
            ACTOR,
            at=now,
            channel_id=claimed.channel_id,
            code=outcome.code,
            text=outcome.text,
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
        status=S.FAILED.value,
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
_WAITING = (S.QUEUED.value, S.HELD.value)


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


def _apply_pending_statuses(session: Session, sent: list[tuple[int, str]]) -> None:
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


# -- deliver now (single tickets) -------------------------------------------------------


def deliver_now(app: App, message_ids: Sequence[int], rounds: int = 3) -> None:
    """Hand these messages to their providers at once (those that are due).

    Runs a few rounds so that a content message released by its template
    ("template then send") goes out in the same call. A single ticket does not wait
    for the channel's rate limit: it borrows from the shared bucket, and the
    dispatcher's next claims on that channel wait for the debt instead.
    """
    worker_id = new_worker_id()
    for _ in range(rounds):
        claimed = claim(app, worker_id, ids=message_ids, limit=len(message_ids) or 1, borrow=True)
        if not claimed:
            return
        results = _run_to_completion(partial(deliver_claimed, app, claimed))
        record_outcomes(app, results)


def _run_to_completion(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to its end from synchronous code, whoever the caller is.

    ``asyncio.run`` refuses to start inside a thread whose event loop is running (an
    async caller, some Streamlit set-ups): then the coroutine runs on its own loop in a
    fresh thread, and this thread waits for its result.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hde-deliver-now") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def nothing_due(app: App) -> bool:
    """True when no message may be sent now (rate limits aside): ``hde send --wait`` is done."""
    now = app.clock.now()
    with app.db.reader() as session:
        return session.scalar(select(Message.id).where(due_filter(now)).limit(1)) is None
