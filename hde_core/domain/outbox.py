"""The ticket → messages rule, once (R5–R7, R12): which outbox messages a new ticket gets,
for a single ticket and for each row of a bulk run alike.

- Email: one message, the notification template rendered for the ticket (the caller
  renders it: rendering is a service), sent from the department's mailbox.
- A messenger where free text may go (``send``): one text message.
- WhatsApp Business with the window closed: the template first, then the content — held
  until the client replies (``template_then_hold``) or sent right after it
  (``template_then_send``); the content waits behind the template.

Pure: no database, no rendering. The caller attaches the ticket, channel, identity and
idempotency key (``part`` names each message of the ticket).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from hde_core.domain.channels import ChannelKind
from hde_core.domain.reasons import Action
from hde_core.domain.statuses import MessageStatus


class Part(StrEnum):
    """Which message of its ticket a draft is (part of its idempotency key)."""

    EMAIL = "email"
    TEXT = "text"
    TEMPLATE = "template"


class EmailParts(Protocol):
    """A rendered email (``services.rendering.RenderedEmail``)."""

    @property
    def subject(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def html(self) -> str: ...


def plus_address(mailbox: str, ticket_id: int) -> str:
    """``support@hde.example`` → ``support+t123@hde.example``: a reply to it names its
    ticket even when the client's mail program drops In-Reply-To."""
    local, _, domain = mailbox.partition("@")
    return f"{local.split('+', 1)[0]}+t{ticket_id}@{domain}" if domain else mailbox


@dataclass(frozen=True)
class Sender:
    """The department an email goes out from (R5)."""

    department_id: int
    name: str
    mailbox: str
    #: Replies go to a per-ticket address, ``mailbox+t<ticket>@domain`` (the email
    #: channel's ``reply_plus_address`` setting; the mail server must accept plus-addressing).
    reply_plus: bool = False


@dataclass(frozen=True)
class TemplateRef:
    """The approved WhatsApp Business template that opens the window (R12)."""

    name: str
    language: str
    parameter_format: str
    category: str


@dataclass(frozen=True)
class MessageDraft:
    part: Part
    kind: str  # email | text | template
    status: MessageStatus
    payload: dict[str, Any]
    category: str | None = None
    #: Sent only after the ticket's first message (the template) went out.
    after_first: bool = False


def messages_for(
    kind: ChannelKind,
    ticket_id: int,
    *,
    text: str = "",
    action: Action | None = None,
    email: EmailParts | None = None,
    sender: Sender | None = None,
    notification: str | None = None,
    email_message_id: str | None = None,
    template: TemplateRef | None = None,
    params: Mapping[str, str] | None = None,
) -> list[MessageDraft]:
    """The outbox messages of one new ticket.

    ``kind`` email needs ``email`` (the rendered notification), ``sender``,
    ``notification`` (the template's kind) and ``email_message_id``. A messenger needs
    ``text`` and the eligibility ``action``; a template pair also ``template`` and its
    ``params``.
    """
    if kind == ChannelKind.EMAIL:
        if email is None or sender is None or notification is None or not email_message_id:
            raise ValueError("an email needs its rendered content, sender and notification")
        return [
            MessageDraft(
                Part.EMAIL,
                "email",
                MessageStatus.QUEUED,
                {
                    "subject": email.subject,
                    "text": email.text,
                    "html": email.html,
                    "from_addr": sender.mailbox,
                    "from_name": sender.name,
                    "reply_to": (
                        plus_address(sender.mailbox, ticket_id)
                        if sender.reply_plus
                        else sender.mailbox
                    ),
                    "message_id": email_message_id,
                    "department_id": sender.department_id,
                    "template": notification,
                    "headers": {"X-HDE-Ticket": str(ticket_id)},
                },
            )
        ]
    if action in (None, Action.SEND):
        return [MessageDraft(Part.TEXT, "text", MessageStatus.QUEUED, {"text": text})]
    if action not in (Action.TEMPLATE_THEN_HOLD, Action.TEMPLATE_THEN_SEND):
        raise ValueError(f"no message for a ticket refused as {action}")
    if template is None:
        raise ValueError("a closed window needs the template that opens it")
    held = action == Action.TEMPLATE_THEN_HOLD
    return [
        MessageDraft(
            Part.TEMPLATE,
            "template",
            MessageStatus.QUEUED,
            {
                "template_name": template.name,
                "language": template.language,
                "params": dict(params or {}),
                "parameter_format": template.parameter_format,
            },
            category=template.category.lower(),
        ),
        MessageDraft(
            Part.TEXT,
            "text",
            MessageStatus.HELD if held else MessageStatus.QUEUED,
            {"text": text},
            after_first=True,
        ),
    ]


def is_paired(action: Action | None) -> bool:
    """The ticket gets two messages: a WhatsApp template, then its content (R12)."""
    return action in (Action.TEMPLATE_THEN_HOLD, Action.TEMPLATE_THEN_SEND)
