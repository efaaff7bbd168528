"""What a new ticket sends, rendered once (R5–R7, R12): the tags of the agent's text
filled in, the notification decision, and the outbox messages with their final content.

:func:`hde_core.services.tickets.create_ticket` writes these messages as they are, the bulk
run builds its own with the same helpers, and :mod:`hde_core.services.previews` shows them
before anything is sent: the preview is the message the client gets (issue 16.3).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hde_core.channels.email import new_message_id
from hde_core.db.models import Channel, Department, NotificationTemplate, Ticket, WaTemplate
from hde_core.domain.channels import ChannelKind
from hde_core.domain.eligibility import Verdict
from hde_core.domain.outbox import MessageDraft, Sender, TemplateRef, is_paired, messages_for
from hde_core.domain.tickets import (
    FieldError,
    NotificationDecision,
    NotificationKind,
    decide_notification,
)
from hde_core.errors import Refused
from hde_core.services.rendering import render_email, render_text


@dataclass(frozen=True)
class TicketView:
    """What a template may read of a ticket (also of one a bulk run has not stored yet)."""

    id: int
    subject: str
    body: str
    priority: str
    fields: Mapping[str, str]

    @classmethod
    def of(cls, ticket: Ticket) -> TicketView:
        return cls(ticket.id, ticket.subject, ticket.body, ticket.priority, ticket.fields or {})


def ticket_context(
    ticket: TicketView, department: Department | None, contact_name: str, address: str, actor: str
) -> dict[str, Any]:
    return {
        "ticket": {
            "id": ticket.id,
            "subject": ticket.subject,
            "body": ticket.body,
            "priority": ticket.priority,
            "department": department.name if department else "",
            "fields": dict(ticket.fields or {}),
        },
        "contact": {"name": contact_name, "address": address},
        "agent": {"login": actor},
    }


def has_tags(text: str) -> bool:
    return "{{" in text or "{%" in text


def enabled_notifications(session: Session) -> dict[NotificationKind, NotificationTemplate]:
    return {
        NotificationKind(t.kind): t
        for t in session.scalars(
            select(NotificationTemplate).where(NotificationTemplate.enabled.is_(True))
        )
    }


@dataclass(frozen=True)
class Composed:
    """What a new ticket sends: its text with the tags filled in, the notification decision
    (R6, R7) and its outbox messages, rendered (empty when nothing is sent)."""

    subject: str
    body: str
    decision: NotificationDecision
    drafts: list[MessageDraft]


def compose_messages(
    session: Session,
    channel: Channel,
    verdict: Verdict | None,
    ticket: TicketView,
    department: Department | None,
    contact_name: str,
    address: str,
    actor: str,
    *,
    send_email: bool = True,
    from_client: bool = False,
    fill_tags: bool = True,
) -> Composed:
    """The one place a single ticket's messages are rendered: :func:`create_ticket` writes
    them to the outbox as they are, and :mod:`hde_core.services.previews` shows them, so the
    preview is the message the client gets (issue 16.3). Reads only."""
    context = ticket_context(ticket, department, contact_name, address, actor)
    subject, body = ticket.subject, ticket.body
    if fill_tags and (has_tags(subject) or has_tags(body)):
        # Tags such as {{ contact.name }} in the agent's text are filled in once, here.
        subject = " ".join(render_text(subject, context).split())
        body = render_text(body, context).strip()
        ticket = TicketView(ticket.id, subject, body, ticket.priority, ticket.fields)
        context = ticket_context(ticket, department, contact_name, address, actor)
    templates = enabled_notifications(session)
    kind = ChannelKind(channel.kind)
    decision = decide_notification(kind, send_email, from_client, templates)
    if decision.skip_reason:
        return Composed(subject, body, decision, [])
    action = verdict.action if verdict is not None and verdict.eligible else None
    if kind == ChannelKind.EMAIL:
        if department is None:
            raise Refused([FieldError("department", "required_for_email")], "error.ticket_refused")
        tpl = templates[decision.kind]
        drafts = messages_for(
            kind,
            ticket.id,
            email=render_email(tpl.subject, tpl.body, context),
            sender=sender_of(department, channel),
            notification=decision.kind.value,
            email_message_id=new_message_id(department.mailbox),
        )
        return Composed(subject, body, decision, drafts)
    text = body
    if from_client and decision.kind in templates:
        text = render_text(templates[decision.kind].body, context)
    template, params = None, None
    if is_paired(action):
        wa_template = session.get(WaTemplate, channel.default_template_id)
        assert wa_template is not None  # eligibility said a default template exists
        template = template_ref(wa_template)
        params = default_template_params(channel, wa_template, context)
    drafts = messages_for(
        kind, ticket.id, text=text, action=action, template=template, params=params
    )
    return Composed(subject, body, decision, drafts)


def sender_of(department: Department, channel: Channel | None = None) -> Sender:
    """The department's mailbox; replies to a per-ticket address when the email channel's
    ``reply_plus_address`` setting is on."""
    plus = bool(channel is not None and (channel.settings or {}).get("reply_plus_address"))
    return Sender(department.id, department.name, department.mailbox, reply_plus=plus)


def template_ref(template: WaTemplate) -> TemplateRef:
    return TemplateRef(
        template.name, template.language, template.parameter_format, template.category
    )


def default_template_params(
    channel: Channel, template: WaTemplate, context: Mapping[str, Any]
) -> dict[str, str]:
    """Values for the default template's body parameters from the channel's mapping
    (``settings.default_template_params``: parameter → Jinja expression). A value that
    renders empty refuses the ticket (``missing_field``): the provider would refuse it."""
    from hde_core.services.wa_settings import template_params

    return template_params(channel, template, context)
