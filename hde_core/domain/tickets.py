"""Ticket rules: what a ticket needs (R4) and which notification goes out (R6, R7)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from enum import StrEnum

from hde_core.domain.channels import ChannelKind


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Author(StrEnum):
    CLIENT = "client"
    AGENT = "agent"


class NotificationKind(StrEnum):
    TICKET_RECEIVED = "ticket_received"  # the client "wrote" the ticket (R7 on)
    AGENT_INITIATED = "agent_initiated"  # the agent reaches out (R7 off)


@dataclass(frozen=True)
class FieldError:
    """One refused field. ``code`` is stable; the message comes from the i18n catalogue."""

    field: str
    code: str
    params: dict[str, str] = dc_field(default_factory=dict)

    def message(self, lang: str | None = None, names: Mapping[str, str] | None = None) -> str:
        """The sentence a person reads. ``names``: what the face calls each field (the
        console: the form's labels); otherwise the field's key — for a custom field with
        its label beside it, as the command line's ``--field KEY=VALUE`` needs the key."""
        from hde_core.i18n import t

        label = str(self.params.get("label") or "")
        name = (names or {}).get(self.field) or self.field
        if label and label != name:
            name = label if names is not None else f"{name} ({label})"
        return t(f"field_error.{self.code}", lang, **{**self.params, "field": name})


@dataclass(frozen=True)
class CustomFieldRule:
    key: str
    label: str
    required: bool


def validate_ticket(
    subject: str | None,
    body: str | None,
    priority: str | None,
    fields: Mapping[str, str],
    field_rules: Iterable[CustomFieldRule],
) -> list[FieldError]:
    """Every problem at once (R4): the caller creates nothing if the list is not empty."""
    errors: list[FieldError] = []
    if not (subject or "").strip():
        errors.append(FieldError("subject", "required"))
    if not (body or "").strip():
        errors.append(FieldError("body", "required"))
    if priority is not None and priority not in {p.value for p in Priority}:
        errors.append(
            FieldError(
                "priority", "invalid_choice", {"choices": ", ".join(p.value for p in Priority)}
            )
        )
    rules = {rule.key: rule for rule in field_rules}
    for key in fields:
        if key not in rules:
            errors.append(FieldError(key, "unknown_field"))
    for rule in rules.values():
        if rule.required and not (fields.get(rule.key) or "").strip():
            errors.append(FieldError(rule.key, "required", {"label": rule.label}))
    return errors


@dataclass(frozen=True)
class NotificationDecision:
    """What goes to the client when a ticket is created."""

    kind: NotificationKind
    #: ``send_email`` is meaningful for the email channel only (R6).
    send_email_applicable: bool
    #: Send nothing, and why (a stable code for the audit), or ``None`` to send.
    skip_reason: str | None


def decide_notification(
    channel_kind: ChannelKind,
    send_email: bool,
    from_client: bool,
    enabled_templates: Iterable[NotificationKind],
) -> NotificationDecision:
    """R6 + R7.

    Email: the client gets an email only when ``send_email`` is on and the matching
    template is enabled. Messengers: ``send_email`` does not apply; an agent-initiated
    ticket sends its body (that is the point of reaching out), a ticket "from the client"
    sends the "ticket received" notification if that template is enabled.
    """
    kind = NotificationKind.TICKET_RECEIVED if from_client else NotificationKind.AGENT_INITIATED
    enabled = set(enabled_templates)
    if channel_kind == ChannelKind.EMAIL:
        if not send_email:
            return NotificationDecision(kind, True, "send_email_off")
        if kind not in enabled:
            return NotificationDecision(kind, True, "template_disabled")
        return NotificationDecision(kind, True, None)
    if from_client and kind not in enabled:
        return NotificationDecision(kind, False, "template_disabled")
    return NotificationDecision(kind, False, None)


class TicketStatus(StrEnum):
    """Where a conversation stands (SPEC §9; the tickets page filters by these)."""

    WAITING = "waiting"  # we wrote; the client has not answered
    REPLIED = "replied"  # the client answered; it waits for an agent
    IN_PROGRESS = "in_progress"  # an agent answered
    CLOSED = "closed"


#: Statuses a person may move a ticket to, from each status (a client's message moves it
#: to ``replied`` whatever it was: :func:`on_client_message`).
TICKET_MOVES: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.WAITING: frozenset({TicketStatus.IN_PROGRESS, TicketStatus.CLOSED}),
    TicketStatus.REPLIED: frozenset(
        {TicketStatus.WAITING, TicketStatus.IN_PROGRESS, TicketStatus.CLOSED}
    ),
    TicketStatus.IN_PROGRESS: frozenset({TicketStatus.WAITING, TicketStatus.CLOSED}),
    TicketStatus.CLOSED: frozenset({TicketStatus.IN_PROGRESS}),
}

#: Statuses of a ticket that is still open (a client's message without reply context goes
#: to the latest of these on its channel; a closed one is never re-opened by a guess).
OPEN_STATUSES = frozenset(TicketStatus) - {TicketStatus.CLOSED}


def can_move(current: TicketStatus | str, new: TicketStatus | str) -> bool:
    """Whether a person may move a ticket from ``current`` to ``new`` (staying is allowed)."""
    current, new = TicketStatus(current), TicketStatus(new)
    return current == new or new in TICKET_MOVES[current]


def on_client_message(current: TicketStatus | str, auto_reply: bool = False) -> TicketStatus:
    """The client wrote into the ticket: it waits for an agent now. An automatic answer
    (out of office) is kept in the thread but changes nothing."""
    current = TicketStatus(current)
    return current if auto_reply else TicketStatus.REPLIED


def on_agent_reply(current: TicketStatus | str) -> TicketStatus:
    """An agent answered: the ticket is in progress (also a closed one the agent writes in)."""
    return TicketStatus.IN_PROGRESS
