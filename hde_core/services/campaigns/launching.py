"""Launching a bulk run: a validated list becomes one ticket and its message(s) per
eligible row, queued for the dispatcher.

- **Once per recipient.** A campaign has a key (default: derived from the file's bytes,
  the channels and the message). Every message's idempotency key is
  ``campaign:<id>:<channel>:<recipient>`` and ``messages.idempotency_key`` is UNIQUE, so
  launching the same campaign again — even twice at the same moment — only adds the rows
  that are not there yet.
- **In bulk.** Rows are written in chunks, one transaction per chunk, each table with one
  multi-row insert (contacts, identities, tickets, messages, audit); templates are
  compiled once. On PostgreSQL two chunks are written at once (the server checks keys
  and fills indexes while the next chunk is prepared), their ids still in list order
  (the mechanics are :mod:`hde_core.db.bulk`). A crash loses at most the chunks in
  progress; relaunching fills the gap.
- **The single-ticket rules apply.** Email: the department decides the sender mailbox and
  the "agent initiated" notification template renders the message (R5–R7). WhatsApp
  Business with the window closed: the template first, then the content held until the
  client replies, or sent right after (R12), exactly like :mod:`hde_core.services.tickets`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.bulk import InOrder, insert_with_ids, overlapped, reserve_ids
from hde_core.db.models import (
    Campaign,
    Message,
    Ticket,
)
from hde_core.domain.campaigns import CampaignStatus, check_move, shown_status
from hde_core.domain.channels import ChannelKind
from hde_core.domain.roles import Permission
from hde_core.domain.statuses import MessageStatus
from hde_core.domain.tickets import Priority
from hde_core.errors import Refused
from hde_core.services import audit
from hde_core.services.audit import insert_audit_rows
from hde_core.services.authz import authorize
from hde_core.services.campaigns.contacts import identities
from hde_core.services.campaigns.drafts import drafts, message_key, paired
from hde_core.services.campaigns.plan import (
    Plan,
    SendRequest,
    plan_launch,
    ticket_text,
)
from hde_core.services.lists import (
    RowVerdict,
    ValidationResult,
)

S = MessageStatus
log = logging.getLogger("hde.campaigns")


#: Rows written per transaction.
CHUNK = 2_000
#: Chunks written at once on PostgreSQL (SQLite has a single writer).
WRITERS = 2


@dataclass
class LaunchResult:
    campaign_key: str
    summary: dict[str, Any]
    dry_run: bool
    created: bool = False  # a new campaign (False: launched again, resumed)
    tickets_created: int = 0
    messages_created: int = 0
    #: Eligible rows that the campaign already had from an earlier launch.
    already_queued: int = 0
    template_messages: int = 0
    status: str = CampaignStatus.RUNNING
    scheduled_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign_key,
            "dry_run": self.dry_run,
            "created": self.created,
            "status": self.status,
            "scheduled_at": self.scheduled_at.isoformat() if self.scheduled_at else None,
            "tickets_created": self.tickets_created,
            "messages_created": self.messages_created,
            "already_queued": self.already_queued,
            "template_messages": self.template_messages,
            **self.summary,
        }


def launch(
    app: App,
    req: SendRequest,
    actor: str,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> LaunchResult:
    """Validate the list, then create what is missing of the campaign (nothing on a dry run).

    Raises :class:`UsageError`/:class:`InputError` (nothing written) for a bad request or
    an unreadable list, and :class:`Refused` for a campaign key already used for another
    message or a cancelled campaign.
    """
    authorize(app, actor, Permission.VIEW if req.dry_run else Permission.BULK_SEND)
    validate_progress = (
        (lambda done, total: progress("validate", done, total)) if progress else None
    )
    plan, result = plan_launch(app, req, validate_progress)
    summary = result.summary()
    out = LaunchResult(plan.key, summary, req.dry_run, scheduled_at=req.scheduled_at)
    eligible = [r for r in result.iter_rows() if r.eligible]
    out.template_messages = sum(1 for r in eligible if paired(r))
    if req.dry_run:
        return out
    try:
        found = _campaign(app, plan, actor, result, len(eligible))
    except IntegrityError:  # launched twice at the same moment: the other one created it
        found = _campaign(app, plan, actor, result, len(eligible))
    campaign_id, out.created, out.status, out.scheduled_at = found

    chunks = list(
        enumerate(eligible[start : start + CHUNK] for start in range(0, len(eligible), CHUNK))
    )
    order = InOrder()

    def write(item: tuple[int, list[RowVerdict]]) -> tuple[int, int, int]:
        index, chunk = item
        try:
            for attempt in range(3):
                try:
                    # a campaign this launch has just created has no messages yet, unless
                    # another launch of it wrote some a moment ago: then a key held, and
                    # the next pass looks
                    check = not out.created or attempt > 0
                    return _write_chunk(
                        app, plan, campaign_id, chunk, actor, check, order.turn(index)
                    )
                except IntegrityError:
                    # another launch of this campaign wrote some of these rows a moment
                    # ago: the next pass sees them and skips them (the unique keys held)
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")
        finally:
            order.release(index)  # never keep the next chunk waiting, whatever happened

    done = 0
    writers = 1 if app.db.is_sqlite else WRITERS
    try:
        for (_, chunk), (tickets, messages, already) in zip(
            chunks, overlapped(write, chunks, writers), strict=True
        ):
            out.tickets_created += tickets
            out.messages_created += messages
            out.already_queued += already
            done += len(chunk)
            if progress:
                progress("create", done, len(eligible))
        out.status = _complete(app, plan.key, campaign_id, actor, out)
    except BaseException:
        _interrupted(app, campaign_id)
        raise
    return out


def _campaign(
    app: App, plan: Plan, actor: str, result: ValidationResult, eligible: int
) -> tuple[int, bool, str, datetime | None]:
    req = plan.request
    channel_ids = list(plan.channels)
    now = app.clock.now()
    with app.db.transaction() as session:
        campaign = session.scalar(select(Campaign).where(Campaign.key == plan.key))
        if campaign is not None:
            same = (
                campaign.channel_ids == channel_ids
                and campaign.subject == req.subject
                and campaign.body == req.body
                and campaign.template_name == req.template
            )
            if not same:
                raise Refused([], "campaigns.error.key_reused", key=plan.key)
            if campaign.status == CampaignStatus.CANCELLED:
                raise Refused([], "campaigns.error.cancelled", key=plan.key)
            before = shown_status(
                campaign.status, campaign.scheduled_at, campaign.launch_heartbeat_at, now
            )
            if campaign.status in (CampaignStatus.RUNNING, CampaignStatus.DONE):
                # it cannot finish while this launch writes (a paused one stays paused)
                check_move(campaign.status, CampaignStatus.LAUNCHING)
                campaign.status = CampaignStatus.LAUNCHING
            campaign.launch_heartbeat_at = now
            campaign.updated_at = now
            campaign.total_rows = max(campaign.total_rows, result.rows)
            campaign.eligible_rows = max(campaign.eligible_rows, eligible)
            audit.record(
                session,
                audit.Event.CAMPAIGN_RELAUNCHED,
                actor,
                at=now,
                campaign_id=campaign.id,
                key=plan.key,
                was=before.value,
                rows=result.rows,
                eligible=eligible,
            )
            return campaign.id, False, campaign.status, campaign.scheduled_at
        campaign = Campaign(
            key=plan.key,
            name=req.name or plan.loaded.name,
            channel_ids=channel_ids,
            subject=req.subject or "",
            body=req.body or "",
            template_name=req.template,
            template_params=dict(req.params),
            options={
                "department": req.department,
                "priority": req.priority,
                "mapping": plan.loaded.mapping,
            },
            # not ``running`` before every message is written: it could finish empty
            status=CampaignStatus.LAUNCHING,
            launch_heartbeat_at=now,
            scheduled_at=req.scheduled_at,
            source_name=plan.loaded.name,
            total_rows=result.rows,
            eligible_rows=eligible,
            created_by=actor,
        )
        session.add(campaign)
        session.flush()
        audit.record(
            session,
            audit.Event.CAMPAIGN_CREATED,
            actor,
            at=now,
            campaign_id=campaign.id,
            key=plan.key,
            source=plan.loaded.name,
            channels=[p.channel.name for p in plan.channels.values()],
            rows=result.rows,
            eligible=eligible,
            scheduled_at=req.scheduled_at.isoformat() if req.scheduled_at else None,
        )
        return campaign.id, True, campaign.status, campaign.scheduled_at


def _write_chunk(
    app: App,
    plan: Plan,
    campaign_id: int,
    rows: list[RowVerdict],
    actor: str,
    check_existing: bool = True,
    turn: AbstractContextManager[None] | None = None,
) -> tuple[int, int, int]:
    """One transaction: identities, tickets, messages and audit for these rows (those
    already queued by an earlier launch of the campaign are skipped). The ticket and
    message ids are reserved first, inside ``turn`` (see :class:`_InOrder`)."""
    now = app.clock.now()
    req = plan.request
    with app.db.transaction() as session:
        todo = rows
        if check_existing:
            keys = [message_key(campaign_id, r.channel_id or 0, r.recipient or "") for r in rows]
            existing = set(
                session.scalars(
                    select(Message.idempotency_key).where(Message.idempotency_key.in_(keys))
                )
            )
            todo = [r for r, k in zip(rows, keys, strict=True) if k not in existing]
        if not todo:
            return 0, 0, len(rows)
        with turn or nullcontext():
            ticket_ids = reserve_ids(session, Ticket, len(todo))
            message_ids = reserve_ids(session, Message, len(todo) + sum(map(paired, todo)))
        found = identities(session, plan, todo, now)
        ticket_rows = []
        for r in todo:
            cplan = plan.channels[r.channel_id or 0]
            identity_id, contact_id = found[(cplan.channel.id, r.recipient or "")]
            subject, body = ticket_text(req, r.values)
            department = cplan.department
            ticket_rows.append(
                {
                    "subject": subject,
                    "body": body,
                    "priority": req.priority or Priority.NORMAL.value,
                    "department_id": department.id if department else None,
                    "channel_id": cplan.channel.id,
                    "contact_id": contact_id,
                    "identity_id": identity_id,
                    "author": "agent",
                    "created_by": actor,
                    "send_email": True,
                    "fields": {k: r.values.get(k, "") for k in plan.custom_fields},
                    "campaign_id": campaign_id,
                    "created_at": now,
                    "updated_at": now,
                    "last_activity_at": now,
                }
            )
        insert_with_ids(session, Ticket, ticket_rows, ticket_ids)
        firsts: list[dict[str, Any]] = []  # email / text, or the template of a pair
        seconds: list[tuple[int, dict[str, Any]]] = []  # (index in firsts, content message)
        for r, tid, trow in zip(todo, ticket_ids, ticket_rows, strict=True):
            for i, m in enumerate(drafts(plan, campaign_id, r, tid, trow, actor)):
                m.update(created_at=now, updated_at=now)
                if i == 0:
                    firsts.append(m)
                else:
                    seconds.append((len(firsts) - 1, m))
        first_ids = insert_with_ids(session, Message, firsts, message_ids[: len(firsts)])
        second_ids: list[int] = []
        if seconds:
            for index, m in seconds:
                m["after_message_id"] = first_ids[index]
            second_ids = insert_with_ids(
                session, Message, [m for _, m in seconds], message_ids[len(firsts) :]
            )
        trail: list[dict[str, Any]] = []
        for r, tid, trow in zip(todo, ticket_ids, ticket_rows, strict=True):
            cplan = plan.channels[r.channel_id or 0]
            trail.append(
                audit.event_row(
                    audit.Event.TICKET_CREATED,
                    actor,
                    now,
                    ticket_id=tid,
                    message_id=None,
                    campaign_id=campaign_id,
                    channel_id=cplan.channel.id,
                    data={
                        "channel": cplan.channel.name,
                        "recipient": r.recipient,
                        "department": cplan.department.name if cplan.department else None,
                        "priority": trow["priority"],
                        "author": "agent",
                        "row": r.row_number,
                        "send_email": True if cplan.kind == ChannelKind.EMAIL else "not_applicable",
                    },
                )
            )
        for mid, m in [
            *zip(first_ids, firsts, strict=True),
            *zip(second_ids, (m for _, m in seconds), strict=True),
        ]:
            trail.append(
                audit.event_row(
                    audit.Event.MESSAGE_HELD
                    if m["status"] == S.HELD.value
                    else audit.Event.MESSAGE_QUEUED,
                    actor,
                    now,
                    ticket_id=m["ticket_id"],
                    message_id=mid,
                    campaign_id=campaign_id,
                    channel_id=m["channel_id"],
                    data={
                        "kind": m["kind"],
                        "mailbox": m["payload"].get("from_addr"),
                        "template": m["payload"].get("template_name"),
                    },
                )
            )
        insert_audit_rows(session, trail)
        _stamp(session, plan.key, campaign_id, now)
        return len(ticket_ids), len(first_ids) + len(second_ids), len(rows) - len(todo)


def _stamp(session: Session, key: str, campaign_id: int, now: datetime) -> None:
    """In the chunk's own transaction, last (the row lock is held only until its commit):
    the launch is alive, and a campaign that another launch of it completed and that was
    finished meanwhile is ``launching`` again — the messages just written are never left
    in a finished campaign. A campaign cancelled meanwhile refuses the chunk (nothing of
    it is written) and so stops the launch."""
    status = session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(
            launch_heartbeat_at=now,
            status=case(
                (Campaign.status.in_(_REOPENED), CampaignStatus.LAUNCHING.value),
                else_=Campaign.status,
            ),
        )
        .returning(Campaign.status)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    if status == CampaignStatus.CANCELLED:
        raise Refused([], "campaigns.error.cancelled_during_launch", key=key)


#: A chunk written into one of these makes it ``launching`` again (see :func:`_stamp`).
_REOPENED = [CampaignStatus.RUNNING.value, CampaignStatus.DONE.value]


def _complete(app: App, key: str, campaign_id: int, actor: str, out: LaunchResult) -> str:
    """Every message of this launch is written: a ``launching`` campaign may run now (and
    finish when every message is final). Returns the campaign's status."""
    now = app.clock.now()
    with app.db.transaction() as session:
        campaign = session.get(Campaign, campaign_id, with_for_update=True)
        assert campaign is not None
        if campaign.status == CampaignStatus.CANCELLED:
            raise Refused([], "campaigns.error.cancelled_during_launch", key=key)
        if campaign.status == CampaignStatus.LAUNCHING:
            check_move(campaign.status, CampaignStatus.RUNNING)
            campaign.status = CampaignStatus.RUNNING
            campaign.updated_at = now
        audit.record(
            session,
            audit.Event.CAMPAIGN_LAUNCHED,
            actor,
            at=now,
            campaign_id=campaign_id,
            key=key,
            tickets_created=out.tickets_created,
            messages_created=out.messages_created,
            already_queued=out.already_queued,
        )
        return campaign.status


def _interrupted(app: App, campaign_id: int) -> None:
    """This launch stopped on an error: shown as interrupted at once (not after
    :data:`LAUNCH_STALE`) — unless another launch of it is still writing."""
    try:
        with app.db.transaction() as session:
            session.execute(
                update(Campaign)
                .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.LAUNCHING)
                .values(launch_heartbeat_at=None)
                .execution_options(synchronize_session=False)
            )
    except Exception:  # noqa: BLE001 - the launch's own error is the one to report
        log.exception("could not mark the launch of campaign %s interrupted", campaign_id)
