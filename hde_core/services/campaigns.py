"""Bulk runs (SPEC §4 ``hde send``): a validated list becomes one ticket and its message(s)
per eligible row, queued for the dispatcher; and the campaign's controls.

- **Once per recipient.** A campaign has a key (default: derived from the file's bytes,
  the channels and the message). Every message's idempotency key is
  ``campaign:<id>:<channel>:<recipient>`` and ``messages.idempotency_key`` is UNIQUE, so
  launching the same campaign again — even twice at the same moment — only adds the rows
  that are not there yet.
- **In bulk.** Rows are written in chunks, one transaction per chunk, each table with one
  multi-row insert (contacts, identities, tickets, messages, audit); templates are
  compiled once. On PostgreSQL two chunks are written at once (the server checks keys
  and fills indexes while the next chunk is prepared), their ids still in list order. A
  crash loses at most the chunks in progress; relaunching fills the gap.
- **The single-ticket rules apply.** Email: the department decides the sender mailbox and
  the "agent initiated" notification template renders the message (R5–R7). WhatsApp
  Business with the window closed: the template first, then the content held until the
  client replies, or sent right after (R12), exactly like :mod:`hde_core.services.tickets`.
- Placeholders ``{{ column }}`` (or ``{{ row["any column"] }}``) take each row's values
  in the subject, the body and the template parameters.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, cast

from jinja2 import TemplateSyntaxError
from sqlalchemy import Select, String, Table, bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.channels.email import new_message_id
from hde_core.db.bulk import fast_insert
from hde_core.db.models import (
    Campaign,
    Channel,
    Contact,
    ContactIdentity,
    CustomField,
    Department,
    Message,
    NotificationTemplate,
    Ticket,
    WaTemplate,
)
from hde_core.domain.campaigns import CampaignStatus, ShownStatus, can_move
from hde_core.domain.channels import ChannelKind
from hde_core.domain.reasons import Action
from hde_core.domain.statuses import MessageStatus
from hde_core.domain.tickets import NotificationKind, Priority, decide_notification
from hde_core.errors import NotFound, Refused, UsageError
from hde_core.services import audit, rendering
from hde_core.services.audit import insert_audit_rows
from hde_core.services.channels import channel_by_name
from hde_core.services.lists import (
    LoadedList,
    RowVerdict,
    ValidationResult,
    load_list,
    validate_list,
)
from hde_core.services.tickets import default_template_params, ticket_context

S = MessageStatus
_T = TypeVar("_T")
_R = TypeVar("_R")
#: Rows written per transaction.
CHUNK = 2_000
#: Chunks written at once on PostgreSQL (SQLite has a single writer).
WRITERS = 2
#: Names a placeholder may use besides the list's columns.
CONTEXT_NAMES = frozenset({"row", "contact", "ticket", "agent"})


@dataclass
class SendRequest:
    source: Path | bytes
    channels: Sequence[str]
    subject: str | None
    body: str | None
    filename: str | None = None
    sheet: str | None = None
    mapping: Mapping[str, str] | None = None
    template: str | None = None
    #: WhatsApp Business template parameter → list column.
    params: Mapping[str, str] = field(default_factory=dict)
    campaign_key: str | None = None
    name: str | None = None
    scheduled_at: datetime | None = None
    department: str | None = None
    priority: str | None = None
    dry_run: bool = False


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


# -- rendering, compiled once per launch -------------------------------------------------


def _render(source: str, context: Mapping[str, Any]) -> str:
    return rendering.compiled(source).render(context)


def _render_email(subject: str, body: str, context: Mapping[str, Any]) -> rendering.RenderedEmail:
    """What :func:`rendering.render_email` gives, without compiling the template per row."""
    text, html = rendering.render_text_and_html(body, context)
    return rendering.RenderedEmail(
        subject=" ".join(_render(subject, context).split()),
        text=text,
        html=rendering.html_email(html),
    )


def row_context(values: Mapping[str, str]) -> dict[str, Any]:
    """Placeholders of one row: each column by name, and ``row`` for any column name."""
    context: dict[str, Any] = {k: v for k, v in values.items() if k.isidentifier()}
    context["row"] = dict(values)
    return context


def placeholders(*sources: str | None) -> set[str]:
    names: set[str] = set()
    for source in sources:
        if source:
            names |= rendering.template_variables(source)
    return names


# -- planning: everything that can be refused before anything is written -----------------


@dataclass
class _ChannelPlan:
    channel: Channel
    kind: ChannelKind
    department: Department | None = None
    notification: NotificationTemplate | None = None
    template: WaTemplate | None = None  # wa_business: the campaign's or the default template


@dataclass
class _Plan:
    request: SendRequest
    loaded: LoadedList
    channels: dict[int, _ChannelPlan]
    required_fields: tuple[str, ...]
    key: str
    custom_fields: list[str]


def _check_syntax(what: str, source: str | None) -> None:
    if not source:
        return
    try:
        rendering.check_template_syntax(source)
    except TemplateSyntaxError as exc:
        raise UsageError(
            "campaigns.error.placeholder_syntax", what=what, line=exc.lineno, error=exc.message
        ) from exc


def plan_launch(
    app: App, req: SendRequest, progress: Callable[[int, int], None] | None = None
) -> tuple[_Plan, ValidationResult]:
    """Everything a launch checks before it writes anything: the message, the list, the
    channels and one verdict per row (the bulk wizard's check shows exactly this)."""
    if not (req.subject or "").strip():
        raise UsageError("campaigns.error.subject_required")
    if not (req.body or "").strip():
        raise UsageError("campaigns.error.body_required")
    if req.priority is not None and req.priority not in {p.value for p in Priority}:
        raise UsageError("campaigns.error.priority", choices=", ".join(p.value for p in Priority))
    _check_syntax("subject", req.subject)
    _check_syntax("body", req.body)
    if req.params and not req.template:
        raise UsageError("campaigns.error.params_without_template")
    loaded = load_list(app, req.source, filename=req.filename, sheet=req.sheet, mapping=req.mapping)
    headers = set(loaded.headers)
    unknown = sorted(placeholders(req.subject, req.body) - headers - CONTEXT_NAMES)
    if unknown:
        raise UsageError(
            "campaigns.error.unknown_placeholder",
            name=unknown[0],
            headers=", ".join(loaded.headers),
        )
    for param, column in req.params.items():
        if column not in headers:
            raise UsageError(
                "campaigns.error.unknown_param_column",
                param=param,
                column=column,
                headers=", ".join(loaded.headers),
            )
    with app.db.reader() as session:
        plans: dict[int, _ChannelPlan] = {}
        for name in _channel_names(req.channels):
            channel = channel_by_name(session, name)
            plans[channel.id] = _channel_plan(session, req, channel)
        custom = list(session.scalars(select(CustomField).order_by(CustomField.key)))
    required = sorted(placeholders(req.subject, req.body) & headers)
    required += [c for c in req.params.values() if c not in required]
    required += [f.key for f in custom if f.required and f.key not in required]
    result = validate_list(
        app,
        loaded,
        [p.channel.name for p in plans.values()],
        required_fields=tuple(required),
        progress=progress,
    )
    key = req.campaign_key or default_key(loaded, req, list(plans))
    custom_keys = [f.key for f in custom if f.key in headers]
    return _Plan(req, loaded, plans, tuple(required), key, custom_keys), result


def _channel_names(channels: Sequence[str]) -> list[str]:
    from hde_core.services.lists import parse_channels

    return parse_channels(channels)


def _channel_plan(session: Session, req: SendRequest, channel: Channel) -> _ChannelPlan:
    kind = ChannelKind(channel.kind)
    plan = _ChannelPlan(channel, kind)
    if kind == ChannelKind.EMAIL:
        if req.department:
            plan.department = session.scalar(
                select(Department).where(Department.name == req.department)
            )
            if plan.department is None:
                known = ", ".join(session.scalars(select(Department.name))) or "—"
                raise UsageError(
                    "campaigns.error.department_not_found", name=req.department, known=known
                )
        elif channel.department_id:
            plan.department = session.get(Department, channel.department_id)
        if plan.department is None:
            raise UsageError("campaigns.error.department_required", channel=channel.name)
        templates = {
            NotificationKind(t.kind): t
            for t in session.scalars(
                select(NotificationTemplate).where(NotificationTemplate.enabled.is_(True))
            )
        }
        decision = decide_notification(kind, True, False, templates)
        if decision.skip_reason:
            raise UsageError("campaigns.error.notification_disabled", channel=channel.name)
        plan.notification = templates[decision.kind]
    elif kind == ChannelKind.WA_BUSINESS:
        if req.template:
            name, _, language = req.template.partition(":")
            stmt = select(WaTemplate).where(
                WaTemplate.channel_id == channel.id,
                WaTemplate.name == name,
                WaTemplate.status == "APPROVED",
            )
            if language:
                stmt = stmt.where(WaTemplate.language == language)
            plan.template = session.scalars(stmt.limit(1)).first()
            if plan.template is None:
                raise UsageError(
                    "campaigns.error.template_not_approved",
                    template=req.template,
                    channel=channel.name,
                )
            missing = [p for p in plan.template.param_names if p not in req.params]
            if missing:
                raise UsageError(
                    "campaigns.error.template_params_missing",
                    template=req.template,
                    params=", ".join(missing),
                )
        elif channel.default_template_id:
            plan.template = session.get(WaTemplate, channel.default_template_id)
    return plan


def default_key(loaded: LoadedList, req: SendRequest, channel_ids: list[int]) -> str:
    """Same file, channels and message → same campaign (so a relaunch resumes it)."""
    digest = hashlib.sha256()
    source = req.source if isinstance(req.source, bytes) else Path(req.source).read_bytes()
    digest.update(source)
    digest.update(
        json.dumps(
            [
                channel_ids,
                req.subject,
                req.body,
                req.template,
                sorted(req.params.items()),
                req.department,
                loaded.mapping,
            ],
            ensure_ascii=False,
        ).encode()
    )
    return "c-" + digest.hexdigest()[:16]


# -- launching ---------------------------------------------------------------------------


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
    validate_progress = (
        (lambda done, total: progress("validate", done, total)) if progress else None
    )
    plan, result = plan_launch(app, req, validate_progress)
    summary = result.summary()
    out = LaunchResult(plan.key, summary, req.dry_run, scheduled_at=req.scheduled_at)
    eligible = [r for r in result.iter_rows() if r.eligible]
    out.template_messages = sum(1 for r in eligible if _paired(r))
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
    order = _InOrder()

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
    for (_, chunk), (tickets, messages, already) in zip(
        chunks, _overlapped(write, chunks, writers), strict=True
    ):
        out.tickets_created += tickets
        out.messages_created += messages
        out.already_queued += already
        done += len(chunk)
        if progress:
            progress("create", done, len(eligible))
    return out


class _InOrder:
    """Chunk ``i`` reserves its ticket and message ids only after chunk ``i - 1`` did (or
    gave up), so ids — and the dispatcher's oldest-first order — follow the list even
    when two chunks are written at once."""

    def __init__(self) -> None:
        self._next = 0
        self._done: set[int] = set()
        self._changed = threading.Condition()

    @contextmanager
    def turn(self, index: int) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: self._next >= index)
        try:
            yield
        finally:
            self.release(index)

    def release(self, index: int) -> None:
        with self._changed:
            self._done.add(index)
            while self._next in self._done:
                self._next += 1
            self._changed.notify_all()


def _overlapped(fn: Callable[[_T], _R], items: Sequence[_T], writers: int) -> Iterator[_R]:
    """``fn`` over ``items``, results in order, with up to ``writers`` calls at once.

    PostgreSQL checks keys and fills indexes in its own process while the next chunk is
    being prepared here, so two writers keep both cores busy. On a failure nothing new is
    started; the calls already running finish (each is its own transaction) and the
    first failure is raised.
    """
    if writers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(writers, thread_name_prefix="hde-send") as pool:
        running: deque[Future[_R]] = deque()
        try:
            for item in items:
                running.append(pool.submit(fn, item))
                if len(running) >= writers:
                    yield running.popleft().result()
            while running:
                yield running.popleft().result()
        finally:
            for future in running:
                future.cancel()


def _campaign(
    app: App, plan: _Plan, actor: str, result: ValidationResult, eligible: int
) -> tuple[int, bool, str, datetime | None]:
    req = plan.request
    channel_ids = list(plan.channels)
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
            if campaign.status == CampaignStatus.DONE:
                campaign.status = CampaignStatus.RUNNING
            campaign.total_rows = max(campaign.total_rows, result.rows)
            campaign.eligible_rows = max(campaign.eligible_rows, eligible)
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
            status=CampaignStatus.RUNNING,
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
            at=app.clock.now(),
            campaign_id=campaign.id,
            key=plan.key,
            source=plan.loaded.name,
            channels=[p.channel.name for p in plan.channels.values()],
            rows=result.rows,
            eligible=eligible,
            scheduled_at=req.scheduled_at.isoformat() if req.scheduled_at else None,
        )
        return campaign.id, True, campaign.status, campaign.scheduled_at


def message_key(campaign_id: int, channel_id: int, recipient: str, part: str = "") -> str:
    key = f"campaign:{campaign_id}:{channel_id}:{recipient}"
    return f"{key}:{part}" if part else key


def _write_chunk(
    app: App,
    plan: _Plan,
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
            ticket_ids = _reserve_ids(session, Ticket, len(todo))
            message_ids = _reserve_ids(session, Message, len(todo) + sum(map(_paired, todo)))
        identities = _identities(session, plan, todo, now)
        ticket_rows = []
        for r in todo:
            cplan = plan.channels[r.channel_id or 0]
            identity_id, contact_id = identities[(cplan.channel.id, r.recipient or "")]
            context = row_context(r.values)
            department = cplan.department
            ticket_rows.append(
                {
                    "subject": " ".join(_render(req.subject or "", context).split()),
                    "body": _render(req.body or "", context).strip(),
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
                }
            )
        _insert_with_ids(session, Ticket, ticket_rows, ticket_ids)
        firsts: list[dict[str, Any]] = []  # email / text, or the template of a pair
        seconds: list[tuple[int, dict[str, Any]]] = []  # (index in firsts, content message)
        for r, tid, trow in zip(todo, ticket_ids, ticket_rows, strict=True):
            for i, m in enumerate(_messages(plan, campaign_id, r, tid, trow, actor)):
                m.update(created_at=now, updated_at=now)
                if i == 0:
                    firsts.append(m)
                else:
                    seconds.append((len(firsts) - 1, m))
        first_ids = _insert_with_ids(session, Message, firsts, message_ids[: len(firsts)])
        second_ids: list[int] = []
        if seconds:
            for index, m in seconds:
                m["after_message_id"] = first_ids[index]
            second_ids = _insert_with_ids(
                session, Message, [m for _, m in seconds], message_ids[len(firsts) :]
            )
        trail: list[dict[str, Any]] = []
        for r, tid, trow in zip(todo, ticket_ids, ticket_rows, strict=True):
            cplan = plan.channels[r.channel_id or 0]
            trail.append(
                _audit_row(
                    audit.Event.TICKET_CREATED,
                    actor,
                    now,
                    tid,
                    None,
                    campaign_id,
                    cplan.channel.id,
                    channel=cplan.channel.name,
                    recipient=r.recipient,
                    department=cplan.department.name if cplan.department else None,
                    priority=trow["priority"],
                    author="agent",
                    row=r.row_number,
                    send_email=True if cplan.kind == ChannelKind.EMAIL else "not_applicable",
                )
            )
        for mid, m in [
            *zip(first_ids, firsts, strict=True),
            *zip(second_ids, (m for _, m in seconds), strict=True),
        ]:
            trail.append(
                _audit_row(
                    audit.Event.MESSAGE_HELD
                    if m["status"] == S.HELD.value
                    else audit.Event.MESSAGE_QUEUED,
                    actor,
                    now,
                    m["ticket_id"],
                    mid,
                    campaign_id,
                    m["channel_id"],
                    kind=m["kind"],
                    mailbox=m["payload"].get("from_addr"),
                    template=m["payload"].get("template_name"),
                )
            )
        insert_audit_rows(session, trail)
        return len(ticket_ids), len(first_ids) + len(second_ids), len(rows) - len(todo)


def _reserve_ids(session: Session, model: type[Any], n: int) -> list[int]:
    """``n`` new ids of that table, ascending, for multi-row inserts without RETURNING.

    PostgreSQL: from the table's own sequence. SQLite: this transaction is the only
    writer (``BEGIN IMMEDIATE``), so the ids after the largest one are ours.
    """
    if n <= 0:
        return []
    table = cast(Table, model.__table__)
    if session.get_bind().dialect.name == "postgresql":
        return list(
            session.execute(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
                ),
                {"t": table.name, "n": n},
            ).scalars()
        )
    start = int(session.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar() or 0)
    return list(range(start + 1, start + n + 1))


def _insert_with_ids(
    session: Session,
    model: type[Any],
    rows: list[dict[str, Any]],
    ids: list[int] | None = None,
) -> list[int]:
    """Insert rows in multi-row statements with the given (else newly reserved) ids."""
    if not rows:
        return []
    if ids is None:
        ids = _reserve_ids(session, model, len(rows))
    for row, new_id in zip(rows, ids, strict=True):
        row["id"] = new_id
    fast_insert(session, cast(Table, model.__table__), rows)
    return ids


def _audit_row(
    event: audit.Event,
    actor: str,
    at: datetime,
    ticket_id: int,
    message_id: int | None,
    campaign_id: int,
    channel_id: int,
    **data: Any,
) -> dict[str, Any]:
    return {
        "event": event.value,
        "actor": actor,
        "at": at,
        "ticket_id": ticket_id,
        "message_id": message_id,
        "campaign_id": campaign_id,
        "channel_id": channel_id,
        "data": {k: v for k, v in data.items() if v is not None},
    }


def _identities(
    session: Session, plan: _Plan, rows: list[RowVerdict], now: datetime
) -> dict[tuple[int, str], tuple[int, int]]:
    """(channel, address) → (identity id, contact id); new addresses get a contact and an
    identity (merged with a contact known by the same address on a channel of that kind)."""
    wanted: dict[int, set[str]] = {}
    for r in rows:
        wanted.setdefault(r.channel_id or 0, set()).add(r.recipient or "")
    out: dict[tuple[int, str], tuple[int, int]] = {}
    for channel_id, addresses in wanted.items():
        channel = plan.channels[channel_id].channel
        for identity_id, contact_id, address in session.execute(
            _by_address(
                session,
                select(ContactIdentity.id, ContactIdentity.contact_id, ContactIdentity.address),
                [channel_id],
                addresses,
            )
        ):
            out[(channel_id, address)] = (identity_id, contact_id)
        new = sorted(a for a in addresses if (channel_id, a) not in out)
        if not new:
            continue
        # the channels of this kind first, so that the lookup walks the (channel, address)
        # unique index whatever the planner believes about the table's size
        same_kind = list(session.scalars(select(Channel.id).where(Channel.kind == channel.kind)))
        twins = dict(
            session.execute(
                _by_address(
                    session,
                    select(ContactIdentity.address, func.min(ContactIdentity.contact_id)),
                    same_kind,
                    new,
                ).group_by(ContactIdentity.address)
            ).all()
        )
        names = {r.recipient: _name(plan.loaded, r) for r in rows if r.channel_id == channel_id}
        fresh = [a for a in new if a not in twins]
        if fresh:
            contact_ids = _insert_with_ids(
                session,
                Contact,
                [
                    {
                        "name": names.get(a) or "",
                        "attributes": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for a in fresh
                ],
            )
            twins.update(zip(fresh, contact_ids, strict=True))
        identity_ids = _insert_with_ids(
            session,
            ContactIdentity,
            [
                {
                    "contact_id": twins[a],
                    "channel_id": channel_id,
                    "address": a,
                    "display_name": names.get(a) or None,
                    "created_at": now,
                }
                for a in new
            ],
        )
        for a, identity_id in zip(new, identity_ids, strict=True):
            out[(channel_id, a)] = (identity_id, twins[a])
    return out


_Q = TypeVar("_Q", bound=Select)  # type: ignore[type-arg]


def _by_address(
    session: Session, query: _Q, channel_ids: list[int], addresses: Iterable[str]
) -> _Q:
    """``query`` restricted to identities on ``channel_ids`` with one of ``addresses``.

    On PostgreSQL the addresses are one array joined through ``unnest``: the planner then
    probes the (channel, address) unique index once per address, even when its statistics
    still describe the table before this launch filled it, and even under a generic plan
    (a long ``IN`` list of parameters is compared row by row there: minutes on 100k rows).
    """
    if session.get_bind().dialect.name != "postgresql":
        return query.where(
            ContactIdentity.channel_id.in_(channel_ids),
            ContactIdentity.address.in_(list(addresses)),
        )
    wanted = (
        func.unnest(bindparam("addresses", list(addresses), type_=ARRAY(String)))
        .table_valued("address", name="wanted")
        .render_derived()
    )
    return query.join(wanted, ContactIdentity.address == wanted.c.address).where(
        ContactIdentity.channel_id.in_(channel_ids)
    )


def _name(loaded: LoadedList, row: RowVerdict) -> str:
    column = loaded.mapping.get("name")
    return (row.values.get(column) or "").strip() if column else ""


def _paired(row: RowVerdict) -> bool:
    """The row's ticket gets two messages: a WhatsApp template, then its content (R12)."""
    return row.action in (Action.TEMPLATE_THEN_HOLD, Action.TEMPLATE_THEN_SEND)


def _messages(
    plan: _Plan,
    campaign_id: int,
    row: RowVerdict,
    ticket_id: int,
    ticket: dict[str, Any],
    actor: str,
) -> list[dict[str, Any]]:
    """The message(s) of one ticket, as single tickets would have them (R5–R7, R12)."""
    cplan = plan.channels[row.channel_id or 0]
    channel = cplan.channel
    address = row.recipient or ""
    identity_id = ticket["identity_id"]
    name = _name(plan.loaded, row)
    view = SimpleNamespace(
        id=ticket_id,
        subject=ticket["subject"],
        body=ticket["body"],
        priority=ticket["priority"],
        fields=ticket["fields"],
    )
    context = ticket_context(
        cast(Ticket, view),
        cplan.department,
        name,
        address,
        actor,
    )
    context.update(row_context(row.values))

    def message(kind: str, part: str, payload: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "ticket_id": ticket_id,
            "campaign_id": campaign_id,
            "channel_id": channel.id,
            "identity_id": identity_id,
            "recipient": address,
            "kind": kind,
            "status": extra.pop("status", S.QUEUED.value),
            "payload": payload,
            "attempts": 0,
            "idempotency_key": message_key(campaign_id, channel.id, address, part),
            "category": extra.pop("category", None),
        }

    if cplan.kind == ChannelKind.EMAIL:
        department = cplan.department
        tpl = cplan.notification
        assert department is not None and tpl is not None
        email = _render_email(tpl.subject, tpl.body, context)
        return [
            message(
                "email",
                "",
                {
                    "subject": email.subject,
                    "text": email.text,
                    "html": email.html,
                    "from_addr": department.mailbox,
                    "from_name": department.name,
                    "reply_to": department.mailbox,
                    "message_id": new_message_id(department.mailbox),
                    "department_id": department.id,
                    "template": tpl.kind,
                    "headers": {"X-HDE-Ticket": str(ticket_id)},
                },
            )
        ]
    text = ticket["body"]
    if not _paired(row):
        return [message("text", "", {"text": text})]
    template = cplan.template
    assert template is not None  # eligibility said a default template exists
    if plan.request.template:
        params = {p: row.values.get(c, "") for p, c in plan.request.params.items()}
    else:
        try:
            params = default_template_params(channel, template, context)
        except Refused:
            params = {}
    first = message(
        "template",
        "template",
        {
            "template_name": template.name,
            "language": template.language,
            "params": params,
            "parameter_format": template.parameter_format,
        },
        category=template.category.lower(),
    )
    held = row.action == Action.TEMPLATE_THEN_HOLD
    return [
        first,
        message("text", "", {"text": text}, status=(S.HELD if held else S.QUEUED).value),
    ]


# -- controls ----------------------------------------------------------------------------


def _by_key(session: Session, key: str) -> Campaign:
    campaign = session.scalar(select(Campaign).where(Campaign.key == key))
    if campaign is None:
        raise NotFound("campaigns.error.not_found", key=key)
    return campaign


@dataclass
class CampaignReport:
    key: str
    name: str
    status: str  # running | scheduled | paused | cancelled | done
    created_at: datetime
    created_by: str
    scheduled_at: datetime | None
    channels: list[str]
    rows: int
    eligible: int
    tickets: int
    messages: dict[str, int]
    cancelled_now: int = 0

    @property
    def total(self) -> int:
        return sum(self.messages.values())

    @property
    def unsent(self) -> int:
        return sum(self.messages.get(s, 0) for s in ("queued", "retrying", "held", "sending"))

    def as_dict(self) -> dict[str, Any]:
        return {
            "campaign": self.key,
            "name": self.name,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "scheduled_at": self.scheduled_at.isoformat() if self.scheduled_at else None,
            "channels": self.channels,
            "rows": self.rows,
            "eligible": self.eligible,
            "tickets": self.tickets,
            "messages": self.messages,
            "total_messages": self.total,
            "cancelled_now": self.cancelled_now,
        }


def campaign_report(app: App, key: str) -> CampaignReport:
    now = app.clock.now()
    with app.db.reader() as session:
        c = _by_key(session, key)
        counts = {s.value: 0 for s in MessageStatus}
        counts.update(
            dict(
                session.execute(
                    select(Message.status, func.count())
                    .where(Message.campaign_id == c.id)
                    .group_by(Message.status)
                ).all()
            )
        )
        tickets = session.scalar(select(func.count()).where(Ticket.campaign_id == c.id)) or 0
        names = dict(session.execute(select(Channel.id, Channel.name)).all())
        status = c.status
        if status == CampaignStatus.RUNNING and c.scheduled_at and c.scheduled_at > now:
            status = ShownStatus.SCHEDULED
        return CampaignReport(
            key=c.key,
            name=c.name,
            status=status,
            created_at=c.created_at,
            created_by=c.created_by,
            scheduled_at=c.scheduled_at,
            channels=[names.get(i, str(i)) for i in c.channel_ids],
            rows=c.total_rows,
            eligible=c.eligible_rows,
            tickets=int(tickets),
            messages=counts,
        )


#: Why a control is refused, per (wanted status) — the message names what the user can do.
_REFUSAL = {
    CampaignStatus.PAUSED: "campaigns.error.cannot_pause",
    CampaignStatus.RUNNING: "campaigns.error.cannot_resume",
    CampaignStatus.CANCELLED: "campaigns.error.cannot_cancel",
}


def _move(campaign: Campaign, new: CampaignStatus) -> bool:
    """Move ``campaign`` to ``new`` if the lifecycle allows it; False when it is there
    already (a repeated click changes nothing); :class:`Refused` for an illegal move."""
    current = CampaignStatus(campaign.status)
    if current == new:
        return False
    if not can_move(current, new):
        reason = (
            "campaigns.error.cannot_pause_launching"
            if current == CampaignStatus.LAUNCHING and new == CampaignStatus.PAUSED
            else _REFUSAL[new]
        )
        raise Refused([], reason, key=campaign.key, status=current.value)
    campaign.status = new
    return True


def _set_status(app: App, key: str, actor: str, new: CampaignStatus) -> None:
    with app.db.transaction() as session:
        campaign = _by_key(session, key)
        if not _move(campaign, new):
            return
        campaign.updated_at = app.clock.now()
        event = {
            CampaignStatus.PAUSED: audit.Event.CAMPAIGN_PAUSED,
            CampaignStatus.RUNNING: audit.Event.CAMPAIGN_RESUMED,
        }[new]
        audit.record(session, event, actor, at=app.clock.now(), campaign_id=campaign.id, key=key)


def pause(app: App, key: str, actor: str) -> CampaignReport:
    """No new message of the campaign is claimed; those being sent finish."""
    _set_status(app, key, actor, CampaignStatus.PAUSED)
    return campaign_report(app, key)


def resume(app: App, key: str, actor: str) -> CampaignReport:
    _set_status(app, key, actor, CampaignStatus.RUNNING)
    return campaign_report(app, key)


def cancel(app: App, key: str, actor: str) -> CampaignReport:
    """Unsent messages (queued, retrying, held) stay unsent for good: ``cancelled``. A
    launch in progress stops at its next chunk (its transaction sees the cancellation)."""
    now = app.clock.now()
    with app.db.transaction() as session:
        campaign = _by_key(session, key)
        if not _move(campaign, CampaignStatus.CANCELLED):
            return campaign_report(app, key)
        campaign.updated_at = now
        rows = session.execute(
            update(Message)
            .where(
                Message.campaign_id == campaign.id,
                Message.status.in_([S.QUEUED.value, S.RETRYING.value, S.HELD.value]),
            )
            .values(status=S.CANCELLED.value, updated_at=now, next_attempt_at=None)
            .returning(Message.id, Message.ticket_id, Message.channel_id)
            .execution_options(synchronize_session=False)
        ).all()
        insert_audit_rows(
            session,
            [
                _audit_row(audit.Event.MESSAGE_CANCELLED, actor, now, tid, mid, campaign.id, cid)
                for mid, tid, cid in rows
            ],
        )
        audit.record(
            session,
            audit.Event.CAMPAIGN_CANCELLED,
            actor,
            at=now,
            campaign_id=campaign.id,
            key=key,
            cancelled_messages=len(rows),
        )
    report = campaign_report(app, key)
    report.cancelled_now = len(rows)
    return report


def finish_campaigns(app: App) -> int:
    """Running campaigns with nothing left to send or wait for become ``done`` (periodic)."""
    open_statuses = [
        S.QUEUED.value,
        S.RETRYING.value,
        S.SENDING.value,
        S.HELD.value,
        S.UNCERTAIN.value,
    ]
    with app.db.transaction() as session:
        still = select(Message.id).where(
            Message.campaign_id == Campaign.id, Message.status.in_(open_statuses)
        )
        result = session.execute(
            update(Campaign)
            .where(Campaign.status == CampaignStatus.RUNNING, ~still.exists())
            .values(status=CampaignStatus.DONE, updated_at=app.clock.now())
            .execution_options(synchronize_session=False)
        )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# -- messages ----------------------------------------------------------------------------


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
            stmt = stmt.where(Message.campaign_id == _by_key(session, campaign).id)
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
