"""The wizard's steps 4–5: the channels to send through and the message (its preview is
:mod:`hde_core.services.previews`, rendered by the code the launch renders with)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.db.models import Channel, Department, WaTemplate
from hde_core.domain.channels import ChannelKind
from hde_core.services import campaigns
from hde_core.services.channels import channel_state

# -- 4. channels and 5. message ----------------------------------------------------------


@dataclass(frozen=True)
class ChannelChoice:
    name: str
    kind: str
    #: Disabled or disconnected: every row would get ``channel_unavailable``.
    available: bool
    #: Email: the channel's department and its mailbox (the sender unless another is chosen).
    department: str | None = None
    mailbox: str | None = None


def channel_choices(app: App) -> list[ChannelChoice]:
    with app.db.reader() as session:
        departments = {d.id: d for d in session.scalars(select(Department))}
        out = []
        for c in session.scalars(select(Channel).order_by(Channel.name)):
            dept = departments.get(c.department_id) if c.department_id else None
            out.append(
                ChannelChoice(
                    c.name,
                    c.kind,
                    channel_state(session, c).available,
                    dept.name if dept else None,
                    dept.mailbox if dept else None,
                )
            )
        return out


@dataclass(frozen=True)
class TemplateChoice:
    ref: str  # NAME:LANG
    category: str
    params: tuple[str, ...]
    body: str


@dataclass(frozen=True)
class WaOptions:
    """WhatsApp Business in the draft: its default template and the approved ones."""

    channel: str  # the first WhatsApp Business channel of the draft
    default: str | None  # NAME:LANG of its approved default template
    default_category: str | None
    templates: list[TemplateChoice]


def wa_options(app: App, channels: Sequence[str]) -> WaOptions | None:
    """None when no chosen channel is WhatsApp Business."""
    with app.db.reader() as session:
        for name in channels:
            channel = session.scalar(select(Channel).where(Channel.name == name))
            if channel is None or channel.kind != ChannelKind.WA_BUSINESS:
                continue
            approved = list(
                session.scalars(
                    select(WaTemplate)
                    .where(WaTemplate.channel_id == channel.id, WaTemplate.status == "APPROVED")
                    .order_by(WaTemplate.name, WaTemplate.language)
                )
            )
            default = next((tpl for tpl in approved if tpl.id == channel.default_template_id), None)
            return WaOptions(
                channel=channel.name,
                default=f"{default.name}:{default.language}" if default else None,
                default_category=default.category.lower() if default else None,
                templates=[
                    TemplateChoice(
                        f"{tpl.name}:{tpl.language}",
                        tpl.category.lower(),
                        tuple(tpl.param_names or ()),
                        tpl.body_text or "",
                    )
                    for tpl in approved
                ],
            )
    return None


def placeholder_for(column: str) -> str:
    """What to type in a message to take a column's value from each row."""
    if column.isidentifier() and column not in campaigns.CONTEXT_NAMES:
        return "{{ " + column + " }}"
    return "{{ row[" + json.dumps(column, ensure_ascii=False) + "] }}"
