"""Initiate one ticket (R2–R8, R12): validate everything, then create the ticket, its
contact identity, its outbox message(s) and audit events in one transaction. Delivering
at once is the caller's next step (:func:`hde_core.dispatch.immediate.initiate_ticket`,
the path the dispatcher uses): services import nothing from dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.channels.registry import adapter_class
from hde_core.db.models import (
    Channel,
    ContactIdentity,
    CustomField,
    Department,
    Message,
    Ticket,
    User,
)
from hde_core.domain.channels import ChannelKind
from hde_core.domain.eligibility import RecipientState, Verdict, evaluate
from hde_core.domain.limits import TEXT_TOO_LONG
from hde_core.domain.reasons import Action
from hde_core.domain.roles import Permission, Role
from hde_core.domain.statuses import MessageStatus
from hde_core.domain.tickets import (
    Author,
    CustomFieldRule,
    FieldError,
    Priority,
    validate_ticket,
)
from hde_core.errors import NotFound, Refused
from hde_core.services import audit
from hde_core.services.authz import authorize
from hde_core.services.channels import channel_by_name, channel_state
from hde_core.services.composing import (
    TicketView,
    compose_messages,
    has_tags,
)
from hde_core.services.contacts import find_or_create_identity
from hde_core.services.recipients import Recipient, resolve_recipient
from hde_core.services.rendering import syntax_problem

S = MessageStatus


@dataclass
class TicketRequest:
    channel: str
    to: str
    subject: str | None
    body: str | None
    department: str | None = None
    priority: str | None = None
    assignee: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    send_email: bool = True
    from_client: bool = False
    contact_name: str | None = None
    #: The form's idempotency key (one submission = one ticket); None outside the console.
    submission_key: str | None = None
    #: A test send before launch (issue 16.3): to the agent's own address, audited as such.
    test_send: bool = False
    #: Fill tags such as ``{{ contact.name }}`` in the subject and body (a bulk row's text
    #: arrives filled in already, and a client's value must not be read as a tag).
    fill_tags: bool = True


@dataclass
class MessageInfo:
    id: int
    kind: str
    status: str
    provider_message_id: str | None = None
    error_code: str | None = None
    error_text: str | None = None


@dataclass
class TicketResult:
    ticket_id: int
    channel: str
    action: str | None
    recipient: str
    messages: list[MessageInfo] = field(default_factory=list)
    email_skipped: str | None = None

    @property
    def status(self) -> str | None:
        """The status the client-facing message reached (the content, else the template)."""
        return self.messages[-1].status if self.messages else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ticket_id": self.ticket_id,
            "channel": self.channel,
            "recipient": self.recipient,
            "action": self.action,
            "message_status": self.status,
            "email_skipped": self.email_skipped,
            "messages": [m.__dict__ for m in self.messages],
        }


def tag_problems(subject: str | None, body: str | None) -> list[FieldError]:
    errors = []
    for name, text in (("subject", subject), ("body", body)):
        if text and has_tags(text):
            problem = syntax_problem(text)
            if problem is not None and problem.placeholder:
                params = {"placeholder": problem.placeholder, "fix": problem.fix or ""}
                errors.append(FieldError(name, "tag_syntax_placeholder", params))
            elif problem is not None:
                errors.append(FieldError(name, "tag_syntax", {"error": problem.error}))
    return errors


def _custom_field_rules(session: Session) -> list[CustomFieldRule]:
    return [
        CustomFieldRule(f.key, f.label, f.required) for f in session.scalars(select(CustomField))
    ]


def _text_limit(channel: Channel, body: str | None) -> list[FieldError]:
    """A messenger text longer than the provider takes is refused here, not by the provider
    (the limit each adapter declares, checked by the same function the send path uses)."""
    if channel.kind == ChannelKind.EMAIL:
        return []
    adapter = adapter_class(channel.provider)
    text = (body or "").strip()
    if text and adapter.text_problem(text) == TEXT_TOO_LONG:
        limit = str(adapter.max_text_length)
        return [FieldError("body", TEXT_TOO_LONG, {"length": str(len(text)), "limit": limit})]
    return []


def create_ticket(app: App, req: TicketRequest, actor: str) -> TicketResult:
    """Validate and create, without any network call. Raises :class:`Refused` (nothing created).

    A request carrying a ``submission_key`` already used gets the ticket made with it back
    (nothing new is written): the unique column decides, also between concurrent calls.
    """
    if req.submission_key:
        existing = submitted_ticket(app, req.submission_key)
        if existing is not None:
            return existing
    try:
        return _create_ticket(app, req, actor)
    except IntegrityError:
        existing = submitted_ticket(app, req.submission_key) if req.submission_key else None
        if existing is None:
            raise
        return existing


def submitted_ticket(app: App, key: str) -> TicketResult | None:
    """The ticket a form submission with this key made, with its messages, or None."""
    with app.db.reader() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.submission_key == key))
        if ticket is None:
            return None
        channel = session.get(Channel, ticket.channel_id)
        identity = session.get(ContactIdentity, ticket.identity_id) if ticket.identity_id else None
        result = TicketResult(
            ticket_id=ticket.id,
            channel=channel.name if channel else "",
            action=None,
            recipient=identity.address if identity else "",
        )
    return refresh(app, result)


def _create_ticket(app: App, req: TicketRequest, actor: str) -> TicketResult:
    now = app.clock.now()
    with app.db.transaction() as session:
        authorize(session, actor, Permission.CREATE_TICKET)
        errors: list[FieldError] = []
        try:
            channel: Channel | None = channel_by_name(session, req.channel)
        except NotFound as exc:
            channel = None
            errors.append(FieldError("channel", "not_found", {"name": req.channel, **exc.params}))
        errors += validate_ticket(
            req.subject, req.body, req.priority, req.fields, _custom_field_rules(session)
        )
        if req.fill_tags:
            errors += tag_problems(req.subject, req.body)

        department = find_department(session, req, channel, errors)
        assignee = _assignee(session, req.assignee, errors)

        recipient: Recipient | None = None
        verdict: Verdict | None = None
        if channel is not None:
            recipient = resolve_recipient(session, channel, req.to, app.settings.default_region)
            verdict = eligibility_of(session, channel, recipient, now)
            if not verdict.eligible:
                errors.append(FieldError("to", verdict.reason.value, {"to": req.to}))
            errors += _text_limit(channel, req.body)
        if errors:
            raise Refused(errors, "error.ticket_refused")
        assert channel is not None and recipient is not None and verdict is not None
        assert recipient.normalised.value is not None

        identity = recipient.identity or find_or_create_identity(
            session, channel, recipient.normalised.value, name=req.contact_name
        )
        contact_name = req.contact_name or identity.display_name or identity.contact.name or ""
        ticket = Ticket(
            subject=(req.subject or "").strip(),
            body=(req.body or "").strip(),
            priority=req.priority or Priority.NORMAL.value,
            department_id=department.id if department else None,
            channel_id=channel.id,
            contact_id=identity.contact_id,
            identity_id=identity.id,
            assignee_id=assignee.id if assignee else None,
            author=(Author.CLIENT if req.from_client else Author.AGENT).value,
            created_by=actor,
            send_email=req.send_email,
            fields={k: v for k, v in req.fields.items()},
            submission_key=req.submission_key,
            last_activity_at=now,
        )
        session.add(ticket)
        session.flush()
        audit.record(
            session,
            audit.Event.TICKET_CREATED,
            actor,
            at=now,
            ticket_id=ticket.id,
            channel_id=channel.id,
            channel=channel.name,
            recipient=identity.address,
            department=department.name if department else None,
            priority=ticket.priority,
            assignee=assignee.login if assignee else None,
            author=ticket.author,
            send_email=req.send_email if channel.kind == ChannelKind.EMAIL else "not_applicable",
            test_send=True if req.test_send else None,
        )
        if req.test_send:
            audit.record(
                session,
                audit.Event.TEST_SEND,
                actor,
                at=now,
                ticket_id=ticket.id,
                channel_id=channel.id,
                channel=channel.name,
                recipient=identity.address,
            )
        result = TicketResult(ticket.id, channel.name, None, identity.address)
        composed = compose_messages(
            session,
            channel,
            verdict,
            TicketView.of(ticket),
            department,
            contact_name,
            identity.address,
            actor,
            send_email=req.send_email,
            from_client=req.from_client,
            fill_tags=req.fill_tags,
        )
        ticket.subject, ticket.body = composed.subject, composed.body
        decision = composed.decision
        if decision.skip_reason:
            result.email_skipped = decision.skip_reason
            audit.record(
                session,
                audit.Event.EMAIL_SKIPPED,
                actor,
                at=now,
                ticket_id=ticket.id,
                channel_id=channel.id,
                reason=decision.skip_reason,
                template=decision.kind.value,
            )
            return result
        drafts = composed.drafts
        messages = [
            Message(
                ticket_id=ticket.id,
                campaign_id=ticket.campaign_id,
                channel_id=channel.id,
                identity_id=identity.id,
                recipient=identity.address,
                kind=d.kind,
                status=d.status.value,
                payload=d.payload,
                idempotency_key=f"ticket:{ticket.id}:{d.part.value}",
                category=d.category,
            )
            for d in drafts
        ]
        result.action = (verdict.action or Action.SEND).value
        for i, m in enumerate(messages):
            if i:  # the content waits behind the template (R12)
                m.after_message_id = messages[0].id
            session.add(m)
            session.flush()
            audit.record(
                session,
                audit.Event.MESSAGE_HELD
                if m.status == S.HELD.value
                else audit.Event.MESSAGE_QUEUED,
                actor,
                at=now,
                ticket_id=ticket.id,
                message_id=m.id,
                channel_id=channel.id,
                kind=m.kind,
                mailbox=m.payload.get("from_addr"),
                template=m.payload.get("template_name"),
            )
            result.messages.append(MessageInfo(m.id, m.kind, m.status))
        return result


def find_department(
    session: Session, req: TicketRequest, channel: Channel | None, errors: list[FieldError]
) -> Department | None:
    if req.department:
        dept = session.scalar(select(Department).where(Department.name == req.department))
        if dept is None:
            known = (
                ", ".join(session.scalars(select(Department.name).order_by(Department.name))) or "—"
            )
            errors.append(
                FieldError("department", "not_found", {"name": req.department, "known": known})
            )
        return dept
    if channel is not None and channel.department_id:
        return session.get(Department, channel.department_id)
    if channel is not None and channel.kind == ChannelKind.EMAIL:
        errors.append(FieldError("department", "required_for_email"))
    return None


def _assignee(session: Session, login: str | None, errors: list[FieldError]) -> User | None:
    if not login:
        return None
    user = session.scalar(select(User).where(User.login == login, User.is_active.is_(True)))
    if user is None or user.role == Role.VIEWER.value:
        errors.append(FieldError("assignee", "not_found", {"name": login}))
        return None
    return user


def eligibility_of(
    session: Session, channel: Channel, recipient: Recipient, now: datetime
) -> Verdict:
    identity = recipient.identity
    state = RecipientState(
        address=recipient.normalised.status,
        has_written=bool(identity and identity.first_inbound_at),
        opted_out=bool(identity and identity.opted_out_at),
        last_inbound_at=identity.last_inbound_at if identity else None,
    )
    return evaluate(channel_state(session, channel), state, now)


def refresh(app: App, result: TicketResult) -> TicketResult:
    """Reload the messages' statuses after delivery."""
    with app.db.reader() as session:
        rows = session.scalars(
            select(Message).where(Message.ticket_id == result.ticket_id).order_by(Message.id)
        )
        result.messages = [
            MessageInfo(m.id, m.kind, m.status, m.provider_message_id, m.error_code, m.error_text)
            for m in rows
        ]
    return result
