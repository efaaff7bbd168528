"""An agent answers a ticket (SPEC §9, issue 17.4): through the same outbox as every message.

The answer is one ``messages`` row written with the ticket's move, in one transaction; the
dispatcher (or :func:`hde_core.dispatch.immediate.deliver_now`, for a face that wants it
out at once) sends it like any other — paced, retried, audited, at most once. The caller's
``submission_key`` makes it exactly once: the row's idempotency key is
``reply:<ticket>:<key>``, so a double click, a refresh or a retry returns the message the
first call queued.

What may be sent (R12): free text where the channel allows it — email always, the
messengers once the client has written, WhatsApp Business only inside the 24-hour window;
outside it the text is refused in plain words and the approved templates are offered
(:func:`reply_options`, with their cost: R13). An opted-out client (R15) or a disabled or
disconnected channel refuses any answer.
"""

from __future__ import annotations

import html
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.channels.email import new_message_id
from hde_core.channels.registry import adapter_class
from hde_core.db.models import (
    Channel,
    ContactIdentity,
    Department,
    InboundMessage,
    Message,
    Ticket,
    User,
    WaTemplate,
)
from hde_core.domain.channels import ChannelKind
from hde_core.domain.eligibility import RecipientState, evaluate
from hde_core.domain.limits import TEXT_TOO_LONG
from hde_core.domain.reasons import Action
from hde_core.domain.roles import Permission
from hde_core.domain.statuses import MessageStatus
from hde_core.domain.tickets import FieldError, on_agent_reply
from hde_core.domain.window import window_closes_at, window_is_open
from hde_core.errors import NotFound, Refused
from hde_core.services import audit
from hde_core.services.authz import authorize
from hde_core.services.channels import channel_state
from hde_core.services.conversation.assign import move_status
from hde_core.services.pricing import estimate_templates

APPROVED = "APPROVED"


@dataclass(frozen=True)
class TemplateOption:
    """An approved template an agent may send instead of free text, with its cost."""

    name: str
    language: str
    category: str
    params: list[str]
    body_text: str
    cost: str | None
    currency: str | None

    @property
    def ref(self) -> str:
        return f"{self.name}:{self.language}"


@dataclass(frozen=True)
class ReplyOptions:
    """What the reply box offers for a ticket now."""

    ticket_id: int
    channel: str
    kind: str
    #: Free text may go now; otherwise ``reason`` says why not (a field-error code).
    free_text: bool
    reason: str | None
    #: WhatsApp Business: when the window closes (None: closed or not applicable).
    window_closes_at: datetime | None
    templates: list[TemplateOption] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ticket_id": self.ticket_id,
            "channel": self.channel,
            "kind": self.kind,
            "free_text": self.free_text,
            "reason": self.reason,
            "window_closes_at": self.window_closes_at.isoformat()
            if self.window_closes_at
            else None,
            "templates": [{**t.__dict__, "ref": t.ref} for t in self.templates],
        }


class ReplyRefused(Refused):
    """The answer cannot go as asked; ``options`` says what can (templates offered)."""

    def __init__(self, errors: list[FieldError], options: ReplyOptions) -> None:
        super().__init__(errors, "conversation.error.reply_refused", ticket=options.ticket_id)
        self.options = options


@dataclass(frozen=True)
class ReplyResult:
    ticket_id: int
    message_id: int
    kind: str
    status: str
    #: The submission was queued before: this is that message, nothing new was written.
    duplicate: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Facts:
    ticket: Ticket
    channel: Channel
    identity: ContactIdentity
    kind: ChannelKind


def _facts(session: Session, ticket_id: int, lock: bool = False) -> _Facts:
    ticket = session.get(Ticket, ticket_id, with_for_update=lock)
    if ticket is None:
        raise NotFound("conversation.error.no_ticket", id=ticket_id)
    channel = session.get(Channel, ticket.channel_id)
    identity = session.get(ContactIdentity, ticket.identity_id) if ticket.identity_id else None
    if channel is None or identity is None:
        raise NotFound("conversation.error.no_ticket", id=ticket_id)
    return _Facts(ticket, channel, identity, ChannelKind(channel.kind))


def _refusal(session: Session, facts: _Facts, now: datetime) -> str | None:
    """Why free text cannot go to this ticket's client now (a field-error code), or None."""
    # Answering a client is not initiating (R10), and the window is judged here (R12).
    state = replace(
        channel_state(session, facts.channel),
        initiation_allowed=True,
        has_approved_default_template=True,
        rules_acknowledged=True,
    )
    identity = facts.identity
    verdict = evaluate(
        state,
        RecipientState(
            has_written=identity.first_inbound_at is not None,
            opted_out=identity.opted_out_at is not None,
            last_inbound_at=identity.last_inbound_at,
        ),
        now,
    )
    if not verdict.eligible:
        return verdict.reason.value
    if verdict.action not in (None, Action.SEND):
        return "window_closed"
    return None


def _templates(session: Session, facts: _Facts) -> list[TemplateOption]:
    if facts.kind != ChannelKind.WA_BUSINESS:
        return []
    rows = list(
        session.scalars(
            select(WaTemplate)
            .where(WaTemplate.channel_id == facts.channel.id, WaTemplate.status == APPROVED)
            .order_by(WaTemplate.name, WaTemplate.language)
        )
    )
    out = []
    for tpl in rows:
        estimate = estimate_templates(session, [(facts.identity.address, tpl.category)])
        line = estimate.lines[0] if estimate.lines else None
        out.append(
            TemplateOption(
                tpl.name,
                tpl.language,
                tpl.category.lower(),
                list(tpl.param_names or []),
                tpl.body_text,
                str(line.cost) if line and line.cost is not None else None,
                line.currency if line else None,
            )
        )
    return out


def _options(session: Session, facts: _Facts, now: datetime) -> ReplyOptions:
    reason = _refusal(session, facts, now)
    closes = None
    if facts.kind == ChannelKind.WA_BUSINESS and window_is_open(
        facts.identity.last_inbound_at, now
    ):
        closes = window_closes_at(facts.identity.last_inbound_at)
    return ReplyOptions(
        facts.ticket.id,
        facts.channel.name,
        facts.kind.value,
        reason is None,
        reason,
        closes,
        _templates(session, facts),
    )


def reply_options(app: App, ticket_id: int) -> ReplyOptions:
    """What the reply box may send for this ticket now (free text, or which templates)."""
    with app.db.reader() as session:
        return _options(session, _facts(session, ticket_id), app.clock.now())


def _existing(session: Session, key: str) -> ReplyResult | None:
    m = session.scalar(select(Message).where(Message.idempotency_key == key))
    if m is None:
        return None
    return ReplyResult(m.ticket_id, m.id, m.kind, m.status, duplicate=True)


def reply(
    app: App,
    actor: str,
    ticket_id: int,
    body: str | None = None,
    template: str | None = None,
    params: Mapping[str, str] | None = None,
    submission_key: str | None = None,
) -> ReplyResult:
    """Queue the agent's answer (free ``body``, or ``template`` "name" / "name:language"
    with its ``params``). Raises :class:`ReplyRefused` (nothing written) when it cannot go."""
    key = f"reply:{ticket_id}:{submission_key or uuid.uuid4().hex}"
    try:
        return _reply(app, actor, ticket_id, body, template, dict(params or {}), key)
    except IntegrityError:  # the same submission, a moment ago in another request
        with app.db.reader() as session:
            found = _existing(session, key)
        if found is None:
            raise
        return found


def _reply(
    app: App,
    actor: str,
    ticket_id: int,
    body: str | None,
    template: str | None,
    params: dict[str, str],
    key: str,
) -> ReplyResult:
    now = app.clock.now()
    with app.db.transaction() as session:
        authorize(session, actor, Permission.REPLY_TICKET)
        found = _existing(session, key)
        if found is not None:
            return found
        facts = _facts(session, ticket_id, lock=True)
        options = _options(session, facts, now)
        text = (body or "").strip()
        errors: list[FieldError] = []
        tpl: WaTemplate | None = None
        if template:
            tpl = _template(session, facts, template, params, errors)
            if options.reason not in (None, "window_closed"):
                errors.append(_reason_error(options.reason, facts))
        elif not text:
            errors.append(FieldError("body", "required"))
        elif options.reason is not None:
            errors.append(_reason_error(options.reason, facts, options))
        else:
            errors += _text_limit(facts, text)
        if errors:
            raise ReplyRefused(errors, options)
        message = _message(session, facts, key, text, tpl, params, now)
        session.add(message)
        session.flush()
        _move(session, facts.ticket, actor, now)
        for event in (audit.Event.AGENT_REPLIED, audit.Event.MESSAGE_QUEUED):
            audit.record(
                session,
                event,
                actor,
                at=now,
                ticket_id=facts.ticket.id,
                message_id=message.id,
                campaign_id=facts.ticket.campaign_id,
                channel_id=facts.channel.id,
                kind=message.kind,
                template=message.payload.get("template_name"),
                mailbox=message.payload.get("from_addr"),
            )
        return ReplyResult(facts.ticket.id, message.id, message.kind, message.status)


def _reason_error(reason: str, facts: _Facts, options: ReplyOptions | None = None) -> FieldError:
    if reason == "window_closed":
        offered = ", ".join(
            f"{t.ref}" + (f" ({t.cost} {t.currency})" if t.cost else "")
            for t in (options.templates if options else [])
        )
        return FieldError("body", "window_closed", {"templates": offered or "—"})
    return FieldError("to", reason, {"to": facts.identity.address})


def _template(
    session: Session, facts: _Facts, ref: str, params: dict[str, str], errors: list[FieldError]
) -> WaTemplate | None:
    if facts.kind != ChannelKind.WA_BUSINESS:
        errors.append(FieldError("template", "template_not_applicable"))
        return None
    name, _, language = ref.partition(":")
    stmt = select(WaTemplate).where(
        WaTemplate.channel_id == facts.channel.id, WaTemplate.name == name.strip()
    )
    if language.strip():
        stmt = stmt.where(WaTemplate.language == language.strip())
    found = list(session.scalars(stmt.order_by(WaTemplate.language)))
    approved = [t for t in found if t.status == APPROVED]
    if not approved:
        errors.append(
            FieldError("template", "template_not_approved" if found else "not_found", {"name": ref})
        )
        return None
    tpl = approved[0]
    for name in tpl.param_names or []:
        if not str(params.get(name) or "").strip():
            errors.append(FieldError(f"param {name}", "required"))
    unknown = sorted(set(params) - set(tpl.param_names or []))
    for name in unknown:
        errors.append(FieldError(f"param {name}", "unknown_param"))
    return tpl


def _text_limit(facts: _Facts, text: str) -> list[FieldError]:
    if facts.kind == ChannelKind.EMAIL:
        return []
    adapter = adapter_class(facts.channel.provider)
    if adapter.text_problem(text) == TEXT_TOO_LONG:
        limit = str(adapter.max_text_length)
        return [FieldError("body", TEXT_TOO_LONG, {"length": str(len(text)), "limit": limit})]
    return []


def _message(
    session: Session,
    facts: _Facts,
    key: str,
    text: str,
    tpl: WaTemplate | None,
    params: dict[str, str],
    now: datetime,
) -> Message:
    payload: dict[str, Any]
    kind, category = "text", None
    if tpl is not None:
        kind, category = "template", tpl.category.lower()
        payload = {
            "template_name": tpl.name,
            "language": tpl.language,
            "params": {k: " ".join(str(v).split()) for k, v in params.items()},
            "parameter_format": tpl.parameter_format,
        }
    elif facts.kind == ChannelKind.EMAIL:
        kind, payload = "email", _email_payload(session, facts, text)
    else:
        payload = {"text": text}
    return Message(
        ticket_id=facts.ticket.id,
        campaign_id=None,  # an answer is the conversation's, not the campaign's outreach
        channel_id=facts.channel.id,
        identity_id=facts.identity.id,
        recipient=facts.identity.address,
        kind=kind,
        status=MessageStatus.QUEUED.value,
        payload=payload,
        idempotency_key=key,
        category=category,
        created_at=now,
        updated_at=now,
    )


def _email_payload(session: Session, facts: _Facts, text: str) -> dict[str, Any]:
    ticket = facts.ticket
    department = session.get(Department, ticket.department_id or facts.channel.department_id or 0)
    if department is None:
        raise ReplyRefused(
            [FieldError("department", "required_for_email")],
            ReplyOptions(ticket.id, facts.channel.name, facts.kind.value, False, None, None),
        )
    ours = list(
        session.scalars(
            select(Message.provider_message_id)
            .where(Message.ticket_id == ticket.id, Message.kind == "email")
            .where(Message.provider_message_id.is_not(None))
            .order_by(Message.id)
        )
    )
    theirs = session.scalar(
        select(InboundMessage.provider_message_id)
        .where(InboundMessage.ticket_id == ticket.id)
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc())
        .limit(1)
    )
    references = [r for r in [*ours[:1], *ours[-1:], theirs] if r and r.startswith("<")]
    references = list(dict.fromkeys(references))
    headers = {"X-HDE-Ticket": str(ticket.id)}
    if references:
        headers["In-Reply-To"] = references[-1]
        headers["References"] = " ".join(references)
    subject = ticket.subject
    if not subject.lower().startswith(("re:", "re ")):
        subject = f"Re: {subject}"
    return {
        "subject": subject,
        "text": text,
        "html": "<p>" + html.escape(text).replace("\n", "<br>\n") + "</p>",
        "from_addr": department.mailbox,
        "from_name": department.name,
        "reply_to": department.mailbox,
        "message_id": new_message_id(department.mailbox),
        "department_id": department.id,
        "template": "agent_reply",
        "headers": headers,
    }


def _move(session: Session, ticket: Ticket, actor: str, now: datetime) -> None:
    ticket.last_activity_at = now
    ticket.updated_at = now
    if ticket.assignee_id is None:
        user_id = session.scalar(select(User.id).where(User.login == actor))
        if user_id is not None:  # the agent who answers an unassigned ticket takes it
            ticket.assignee_id = user_id
            audit.record(
                session,
                audit.Event.TICKET_ASSIGNED,
                actor,
                at=now,
                ticket_id=ticket.id,
                campaign_id=ticket.campaign_id,
                assignee=actor,
                rule="answered",
            )
    move_status(session, ticket, on_agent_reply(ticket.status), actor, now)
