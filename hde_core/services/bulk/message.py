"""The wizard's steps 4–5: the channels to send through and the message, with its preview."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.db.models import Channel, Department, WaTemplate
from hde_core.domain.channels import ChannelKind
from hde_core.i18n import t
from hde_core.services import campaigns
from hde_core.services.bulk.uploads import Upload, loaded_list
from hde_core.services.channels import channel_state
from hde_core.services.rendering import SyntaxProblem, syntax_problem
from hde_core.services.templates import render_template_preview

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


@dataclass(frozen=True)
class MessagePreview:
    subject: str
    body: str
    template: str | None  # the template's body with this row's parameters (when chosen)
    error: str | None = None


def _fix(problem: SyntaxProblem) -> dict[str, str]:
    return {"placeholder": problem.placeholder or "", "fix": problem.fix or ""}


def preview_message(
    app: App,
    upload: Upload,
    mapping: Mapping[str, str | None],
    subject: str,
    body: str,
    *,
    template: TemplateChoice | None = None,
    params: Mapping[str, str] | None = None,
    lang: str | None = None,
) -> MessagePreview:
    """The message as the first row's client will read it (placeholders filled)."""
    for what, source in (("ticket.subject", subject), ("ticket.body", body)):
        problem = syntax_problem(source)  # before anything reads the list or the placeholders
        if problem is not None:
            field = t(what, lang)
            error = (
                t("campaigns.error.placeholder_name", lang, what=field, **_fix(problem))
                if problem.placeholder
                else t(
                    "campaigns.error.placeholder_syntax",
                    lang,
                    what=field,
                    line=problem.line,
                    error=problem.error,
                )
            )
            return MessagePreview(subject, body, None, error)
    loaded = loaded_list(app, upload, mapping)
    values = loaded.row(0) if loaded.row_count else {h: "" for h in loaded.headers}
    unknown = sorted(
        campaigns.placeholders(subject, body) - set(loaded.headers) - campaigns.CONTEXT_NAMES
    )
    if unknown:
        error = t(
            "campaigns.error.unknown_placeholder",
            lang,
            name=unknown[0],
            headers=", ".join(loaded.headers),
        )
        return MessagePreview(subject, body, None, error)
    context = campaigns.row_context(values)
    try:
        rendered_subject = " ".join(campaigns.render(subject, context).split())
        rendered_body = campaigns.render(body, context).strip()
    except Exception as exc:  # noqa: BLE001 - a team lead's typo is shown, not raised
        return MessagePreview(subject, body, None, t("bulk.message.broken", lang, error=str(exc)))
    text = None
    if template is not None:
        filled = {p: values.get(c, "") for p, c in (params or {}).items()}
        text = render_template_preview(WaTemplate(body_text=template.body), filled)
    return MessagePreview(rendered_subject, rendered_body, text)
