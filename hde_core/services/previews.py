"""Previews (issue 16.3): the message a client will get, rendered by the very code that
renders the one sent — :func:`hde_core.services.composing.compose_messages` for a single
ticket, :func:`hde_core.services.campaigns.drafts.drafts` for a row of a bulk run — and
read back from the outbox payloads those functions build. So the preview shows the email
inside its notification wrapper with its subject (text and HTML), the messenger text, and
the WhatsApp Business template with its parameters filled in; nothing can drift.

A test send before launch is an ordinary ticket to the agent's own address (or a sandbox
recipient), made by :func:`request_for_test_send` and sent through the outbox and the dispatcher
like any other: once per form submission, audited as a test send, in no campaign.

Reads only; nothing here writes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import Ticket, WaTemplate
from hde_core.domain.roles import Permission
from hde_core.domain.statuses import MessageStatus
from hde_core.errors import NotFound, Refused, UsageError
from hde_core.i18n import t
from hde_core.services.authz import authorize
from hde_core.services.bulk.cache import _Recent
from hde_core.services.campaigns.contacts import row_name
from hde_core.services.campaigns.drafts import drafts
from hde_core.services.campaigns.plan import (
    Plan,
    SendRequest,
    check_message,
    plan_message,
    ticket_text,
    validate_plan,
)
from hde_core.services.channels import channel_by_name
from hde_core.services.composing import TicketView, compose_messages
from hde_core.services.lists import LoadedList, RowVerdict
from hde_core.services.recipients import Recipient, resolve_recipient
from hde_core.services.rendering import syntax_problem
from hde_core.services.templates import render_template_preview
from hde_core.services.tickets import (
    TicketRequest,
    eligibility_of,
    find_department,
    tag_problems,
)

#: Row verdicts for a short while: a row's verdict reads every identity of its channels,
#: and the wizard redraws the preview on every click; what is rendered is never kept.
_VERDICTS: _Recent[tuple[object, ...], RowVerdict] = _Recent(size=64, ttl=15.0)

#: The first word of a text (a greeting, when it greets).
_FIRST_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class PreviewMessage:
    """One outbox message as its payload will go to the provider."""

    kind: str  # email | text | template
    #: email: the subject, the text part and the HTML part, as the SMTP server gets them.
    subject: str | None = None
    #: email: the text part; messenger: the text; template: its body with parameters filled.
    text: str = ""
    html: str | None = None
    from_addr: str | None = None
    #: template: NAME:LANG and the parameter values.
    template: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    #: Waits for the client's reply before it goes (R12).
    held: bool = False
    #: template: parameters with no value (the provider would refuse the template).
    unfilled: tuple[str, ...] = ()


@dataclass(frozen=True)
class RenderedPreview:
    channel: str
    channel_kind: str
    recipient: str
    #: The ticket number the preview shows: the next free one (the real one is given when
    #: the ticket is created, so it differs if someone else creates a ticket first).
    ticket_id: int
    messages: tuple[PreviewMessage, ...]
    #: Nothing is sent, and why (``send_email_off``, ``template_disabled``).
    skipped: str | None = None
    #: The recipient's verdict when it is not eligible (the message is shown all the same).
    reason: str | None = None
    reason_field: str | None = None
    #: Bulk: the row shown (1-based, as in the check's table) and how many rows there are.
    row_number: int | None = None
    row_count: int | None = None
    #: The ticket's own text (tags filled in), which the email's notification wrapper holds.
    body: str = ""

    @property
    def doubled_greeting(self) -> bool:
        """The wrapper greets the client and the text greets again ("Здравствуйте, Анна!"
        twice): the first word of the text is already in the line before it."""
        email = self.content
        if email is None or email.kind != "email" or not self.body or self.body not in email.text:
            return False
        before = email.text[: email.text.index(self.body)].strip()
        match = _FIRST_WORD.match(self.body)
        if not before or match is None:
            return False
        return match.group(0).casefold() in before.casefold()

    @property
    def content(self) -> PreviewMessage | None:
        """The message the client reads (an email, or a messenger text)."""
        for message in self.messages:
            if message.kind != "template":
                return message
        return self.messages[0] if self.messages else None

    @property
    def template(self) -> PreviewMessage | None:
        return next((m for m in self.messages if m.kind == "template"), None)


# -- single ticket -------------------------------------------------------------------------


def preview_ticket(app: App, req: TicketRequest, actor: str) -> RenderedPreview:
    """What the client of this form would get if it were sent now. Raises :class:`Refused`
    (a field the message cannot be rendered without: a broken tag, no department for
    email) or :class:`NotFound` (an unknown channel)."""
    now = app.clock.now()
    with app.db.reader() as session:
        authorize(session, actor, Permission.CREATE_TICKET)
        channel = channel_by_name(session, req.channel)
        errors = tag_problems(req.subject, req.body) if req.fill_tags else []
        department = find_department(session, req, channel, errors)
        if errors:
            raise Refused(errors, "error.ticket_refused")
        recipient = resolve_recipient(session, channel, req.to, app.settings.default_region)
        verdict = eligibility_of(session, channel, recipient, now)
        identity = recipient.identity
        address = identity.address if identity else (recipient.normalised.value or req.to.strip())
        view = TicketView(
            next_ticket_id(session),
            (req.subject or "").strip(),
            (req.body or "").strip(),
            req.priority or "normal",
            dict(req.fields),
        )
        composed = compose_messages(
            session,
            channel,
            verdict,
            view,
            department,
            _greeted(req, recipient),
            address,
            actor,
            send_email=req.send_email,
            from_client=req.from_client,
            fill_tags=req.fill_tags,
        )
        return RenderedPreview(
            channel=channel.name,
            channel_kind=channel.kind,
            recipient=address,
            ticket_id=view.id,
            messages=_shown(
                session, channel.id, [(d.kind, d.payload, d.status) for d in composed.drafts]
            ),
            skipped=composed.decision.skip_reason,
            reason=None if verdict.eligible else verdict.reason.value,
            reason_field=verdict.field,
            body=composed.body,
        )


def ticket_test_request(
    app: App, req: TicketRequest, to: str, actor: str, submission_key: str | None
) -> TicketRequest:
    """The ticket a test send of this form makes: the same message, greeting the same
    client, sent to ``to`` (the agent's own address, or a sandbox client of a messenger
    channel) through :func:`hde_core.dispatch.immediate.initiate_ticket`; the key makes a
    double click one test send."""
    with app.db.reader() as session:
        authorize(session, actor, Permission.CREATE_TICKET)
        channel = channel_by_name(session, req.channel)
        recipient = resolve_recipient(session, channel, req.to, app.settings.default_region)
        name = _greeted(req, recipient)
    return replace(
        req, to=to, contact_name=name or None, submission_key=submission_key, test_send=True
    )


def _greeted(req: TicketRequest, recipient: Recipient) -> str:
    """The client's name a ticket's message uses (as :func:`create_ticket` picks it)."""
    identity = recipient.identity
    if req.contact_name:
        return req.contact_name
    return (identity.display_name or identity.contact.name or "") if identity else ""


# -- a row of a bulk run -------------------------------------------------------------------


def preview_row(
    app: App, req: SendRequest, loaded: LoadedList, row: int, actor: str
) -> RenderedPreview:
    """What the client of list row ``row`` (1-based; clamped to the list) would get from a
    launch of ``req``: the row's verdict on the run's channels (the fallback order
    included), then the messages the launch would write for it. Raises
    :class:`UsageError` for a message or a list the launch would refuse."""
    plan, verdict = _planned_row(app, req, loaded, row, actor)
    subject, body = ticket_text(req, verdict.values)
    cplan = plan.channels[verdict.channel_id or 0]
    with app.db.reader() as session:
        ticket_id = next_ticket_id(session)
        ticket = {
            "subject": subject,
            "body": body,
            "priority": req.priority or "normal",
            "fields": {k: verdict.values.get(k, "") for k in plan.custom_fields},
            "identity_id": verdict.identity_id,
        }
        made = drafts(plan, 0, verdict, ticket_id, ticket, actor)
        shown = _shown(
            session,
            cplan.channel.id,
            [(m["kind"], m["payload"], MessageStatus(m["status"])) for m in made],
        )
    return RenderedPreview(
        channel=cplan.channel.name,
        channel_kind=cplan.kind.value,
        recipient=verdict.recipient or "",
        ticket_id=ticket_id,
        messages=shown,
        reason=None if verdict.eligible else verdict.reason.value,
        reason_field=verdict.field,
        row_number=verdict.row_number,
        row_count=loaded.row_count,
        body=body,
    )


def _row_verdict(app: App, plan: Plan, loaded: LoadedList, number: int) -> RowVerdict:
    """The verdict of one row, by the launch's own validation run on that row alone (an
    earlier duplicate of it is not looked for: the preview shows its message all the same)."""
    req = plan.request
    key = (
        app.db.url,
        str(req.source) if not isinstance(req.source, bytes) else hash(req.source),
        req.sheet,
        tuple(sorted(loaded.mapping.items())),
        tuple(p.channel.id for p in plan.channels.values()),
        plan.required_fields,
        req.body,
        number,
    )
    known = _VERDICTS.get(key)
    if known is not None:
        return known
    index = number - 1
    unreadable = loaded.unreadable
    one = replace(
        loaded,
        table=loaded.table.slice(index, 1),
        unreadable=None if unreadable is None else unreadable[index : index + 1],
    )
    verdict = next(validate_plan(app, plan, one).iter_rows())
    return _VERDICTS.put(key, replace(verdict, row_number=number))


def request_for_test_send(
    app: App,
    req: SendRequest,
    loaded: LoadedList,
    row: int,
    to: str,
    actor: str,
    submission_key: str | None,
) -> TicketRequest:
    """The ticket a test send of row ``row`` makes: the row's subject and body (filled in
    as the launch fills them), to ``to`` on the channel the row would go through, greeting
    the row's client by name. The face hands it to
    :func:`hde_core.dispatch.immediate.initiate_ticket`, the path every ticket takes; the
    key makes a double click one test send."""
    plan, verdict = _planned_row(app, req, loaded, row, actor)
    subject, body = ticket_text(req, verdict.values)
    cplan = plan.channels[verdict.channel_id or 0]
    return TicketRequest(
        channel=cplan.channel.name,
        to=to,
        subject=subject,
        body=body,
        department=cplan.department.name if cplan.department else None,
        priority=req.priority,
        fields={k: v for k in plan.custom_fields if (v := verdict.values.get(k, ""))},
        contact_name=row_name(loaded, verdict) or None,
        submission_key=submission_key,
        test_send=True,
        fill_tags=False,
    )


def message_problem(subject: str, body: str, lang: str | None = None) -> str | None:
    """A placeholder typed so that it cannot be read, in plain words naming the field as
    the form names it and the way to write it (issue 16.4); None when both compile.
    Checked before the list is read."""
    for what, source in (("ticket.subject", subject), ("ticket.body", body)):
        problem = syntax_problem(source)
        if problem is None:
            continue
        if problem.placeholder:
            return t(
                "campaigns.error.placeholder_name",
                lang,
                what=t(what, lang),
                placeholder=problem.placeholder,
                fix=problem.fix or "",
            )
        return t(
            "campaigns.error.placeholder_syntax",
            lang,
            what=t(what, lang),
            line=problem.line,
            error=problem.error,
        )
    return None


def _planned_row(
    app: App, req: SendRequest, loaded: LoadedList, row: int, actor: str
) -> tuple[Plan, RowVerdict]:
    """The launch's plan and the verdict of row ``row`` (1-based, clamped to the list)."""
    with app.db.reader() as session:
        authorize(session, actor, Permission.CREATE_TICKET)
    check_message(req)
    plan = plan_message(app, req, loaded)
    if not loaded.row_count:
        raise UsageError("previews.error.no_rows")
    number = min(max(int(row), 1), loaded.row_count)
    return plan, _row_verdict(app, plan, loaded, number)


# -- helpers -------------------------------------------------------------------------------


def next_ticket_id(session: Session) -> int:
    """The number the next ticket will get, without taking it (PostgreSQL: the sequence's
    last value; SQLite: after the largest id)."""
    if session.get_bind().dialect.name == "postgresql":
        last = session.execute(
            text("SELECT pg_sequence_last_value(pg_get_serial_sequence('tickets', 'id')::regclass)")
        ).scalar()
        return int(last or 0) + 1
    return int(session.scalar(select(func.coalesce(func.max(Ticket.id), 0))) or 0) + 1


def _shown(
    session: Session,
    channel_id: int,
    messages: Sequence[tuple[str, Mapping[str, Any], MessageStatus]],
) -> tuple[PreviewMessage, ...]:
    out = []
    for kind, payload, status in messages:
        held = status == MessageStatus.HELD
        if kind == "email":
            out.append(
                PreviewMessage(
                    kind,
                    subject=str(payload.get("subject") or ""),
                    text=str(payload.get("text") or ""),
                    html=str(payload.get("html") or ""),
                    from_addr=payload.get("from_addr"),
                )
            )
        elif kind == "template":
            name, language = str(payload["template_name"]), str(payload["language"])
            params = {str(k): str(v) for k, v in (payload.get("params") or {}).items()}
            row = session.scalar(
                select(WaTemplate).where(
                    WaTemplate.channel_id == channel_id,
                    WaTemplate.name == name,
                    WaTemplate.language == language,
                )
            )
            if row is None:
                raise NotFound("wa.template_not_found", template=f"{name}:{language}", channel="")
            out.append(
                PreviewMessage(
                    kind,
                    text=render_template_preview(row, params),
                    template=f"{name}:{language}",
                    params=params,
                    unfilled=tuple(p for p in row.param_names or () if not params.get(p)),
                )
            )
        else:
            out.append(PreviewMessage(kind, text=str(payload.get("text") or ""), held=held))
    return tuple(out)


__all__ = [
    "PreviewMessage",
    "RenderedPreview",
    "message_problem",
    "next_ticket_id",
    "preview_row",
    "preview_ticket",
    "request_for_test_send",
    "ticket_test_request",
]
