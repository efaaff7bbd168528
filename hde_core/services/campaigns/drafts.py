"""The messages of each ticket a bulk run writes: the single-ticket rule
(:func:`hde_core.domain.outbox.messages_for`) applied to a list row, keyed once per
campaign and recipient."""

from __future__ import annotations

from typing import Any

from hde_core.channels.email import new_message_id
from hde_core.domain.channels import ChannelKind
from hde_core.domain.outbox import Part, is_paired, messages_for
from hde_core.errors import Refused
from hde_core.services.campaigns.contacts import row_name
from hde_core.services.campaigns.plan import (
    Plan,
    render_email,
    row_context,
)
from hde_core.services.composing import (
    TicketView,
    default_template_params,
    sender_of,
    template_ref,
    ticket_context,
)
from hde_core.services.lists import (
    RowVerdict,
)


def message_key(campaign_id: int, channel_id: int, recipient: str, part: str = "") -> str:
    key = f"campaign:{campaign_id}:{channel_id}:{recipient}"
    return f"{key}:{part}" if part else key


def paired(row: RowVerdict) -> bool:
    """The row's ticket gets two messages: a WhatsApp template, then its content (R12)."""
    return is_paired(row.action)


def drafts(
    plan: Plan,
    campaign_id: int,
    row: RowVerdict,
    ticket_id: int,
    ticket: dict[str, Any],
    actor: str,
) -> list[dict[str, Any]]:
    """The message(s) of one ticket, by the single-ticket rule (:func:`messages_for`)."""
    cplan = plan.channels[row.channel_id or 0]
    channel = cplan.channel
    address = row.recipient or ""
    view = TicketView(
        ticket_id, ticket["subject"], ticket["body"], ticket["priority"], ticket["fields"]
    )
    context = ticket_context(view, cplan.department, row_name(plan.loaded, row), address, actor)
    context.update(row_context(row.values))
    if cplan.kind == ChannelKind.EMAIL:
        department, tpl = cplan.department, cplan.notification
        assert department is not None and tpl is not None
        drafts = messages_for(
            cplan.kind,
            ticket_id,
            email=render_email(tpl.subject, tpl.body, context),
            sender=sender_of(department, channel),
            notification=tpl.kind,
            email_message_id=new_message_id(department.mailbox),
        )
    else:
        template, params = None, None
        if paired(row):
            assert cplan.template is not None  # eligibility said a default template exists
            template = template_ref(cplan.template)
            if plan.request.template:
                params = {p: row.values.get(c, "") for p, c in plan.request.params.items()}
            else:
                try:
                    params = default_template_params(channel, cplan.template, context)
                except Refused:
                    params = {}
        drafts = messages_for(
            cplan.kind,
            ticket_id,
            text=ticket["body"],
            action=row.action,
            template=template,
            params=params,
        )
    return [
        {
            "ticket_id": ticket_id,
            "campaign_id": campaign_id,
            "channel_id": channel.id,
            "identity_id": ticket["identity_id"],
            "recipient": address,
            "kind": d.kind,
            "status": d.status.value,
            "payload": d.payload,
            "attempts": 0,
            # one message per campaign and recipient (the template of a pair apart)
            "idempotency_key": message_key(
                campaign_id, channel.id, address, "template" if d.part == Part.TEMPLATE else ""
            ),
            "category": d.category,
        }
        for d in drafts
    ]
