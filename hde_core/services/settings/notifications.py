"""Notification templates (email subject and body, Jinja2) with previews, and the
WhatsApp Business template preview and last sync times."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jinja2 import TemplateError
from pydantic import ValidationError
from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.db.models import (
    Channel,
    NotificationTemplate,
    WaTemplate,
)
from hde_core.domain.channels import ChannelKind
from hde_core.domain.roles import Permission
from hde_core.errors import NotFound
from hde_core.i18n import t
from hde_core.services.authz import authorize
from hde_core.services.provision import (
    NotificationTemplateSpec,
)
from hde_core.services.rendering import RenderedEmail, render_email
from hde_core.services.settings.fields import list_custom_fields
from hde_core.services.settings.problems import (
    _KNOWN_FIELD_KEYS,
    FieldProblem,
    SettingsInvalid,
    _audit_setting,
)
from hde_core.services.templates import render_template_preview, split_template_ref

# -- notification templates ---------------------------------------------------------------


@dataclass(frozen=True)
class NotificationView:
    kind: str
    enabled: bool
    subject: str
    body: str
    updated_at: datetime | None


def list_notification_templates(app: App) -> list[NotificationView]:
    with app.db.reader() as session:
        return [
            NotificationView(n.kind, n.enabled, n.subject, n.body, n.updated_at)
            for n in session.scalars(
                select(NotificationTemplate).order_by(NotificationTemplate.kind)
            )
        ]


def save_notification_template(app: App, form: Mapping[str, Any], actor: str) -> bool:
    """Create or update the ``ticket_received`` / ``agent_initiated`` email (R6, R7);
    a template that does not compile is refused with its line. Returns whether it changed."""
    try:
        spec = NotificationTemplateSpec.model_validate(
            {
                "kind": form.get("kind"),
                "enabled": bool(form.get("enabled", True)),
                "subject": str(form.get("subject") or ""),
                "body": str(form.get("body") or ""),
            }
        )
    except ValidationError as exc:
        raise SettingsInvalid(_template_problems(exc)) from exc
    now = app.clock.now()
    with app.db.transaction() as session:
        authorize(session, actor, Permission.MANAGE_TEMPLATES)
        row = session.scalar(
            select(NotificationTemplate).where(NotificationTemplate.kind == spec.kind.value)
        )
        if row is None:
            row = NotificationTemplate(kind=spec.kind.value, subject=spec.subject, body=spec.body)
            session.add(row)
        elif (row.enabled, row.subject, row.body) == (spec.enabled, spec.subject, spec.body):
            return False
        row.enabled, row.subject, row.body, row.updated_at = (
            spec.enabled,
            spec.subject,
            spec.body,
            now,
        )
        _audit_setting(
            session,
            actor,
            now,
            setting="notification_template",
            kind=spec.kind.value,
            enabled=spec.enabled,
        )
    return True


def _template_problems(exc: ValidationError) -> list[FieldProblem]:
    out = []
    for err in exc.errors():
        name = str(err["loc"][0]) if err["loc"] else "form"
        msg = str(err["msg"])
        if "syntax error" in msg:
            out.append(
                FieldProblem(
                    name, "channels_page.field.template_syntax", {"error": msg.split(", ", 1)[-1]}
                )
            )
        else:
            out.append(
                FieldProblem(
                    name,
                    f"channels_page.field.{name}"
                    if name in _KNOWN_FIELD_KEYS
                    else "channels_page.field.other",
                    {"error": msg},
                )
            )
    return out


def sample_context(app: App, lang: str | None = None) -> dict[str, Any]:
    """A believable ticket to preview templates with: sample values, the real custom fields."""
    fields = {
        f.key: t("channels_page.sample.field", lang=lang, label=f.label)
        for f in list_custom_fields(app)
    }
    return {
        "ticket": {
            "id": 1024,
            "subject": t("channels_page.sample.subject", lang=lang),
            "body": t("channels_page.sample.body", lang=lang),
            "priority": "normal",
            "department": t("channels_page.sample.department", lang=lang),
            "fields": fields,
        },
        "contact": {
            "name": t("channels_page.sample.contact", lang=lang),
            "address": "client@example.com",
        },
        "agent": {"login": "agent"},
    }


def preview_notification(
    app: App, subject: str, body: str, lang: str | None = None
) -> RenderedEmail | str:
    """The email a client would get, rendered with :func:`sample_context`; or the error."""
    try:
        return render_email(subject, body, sample_context(app, lang))
    except TemplateError as exc:
        return t("channels_page.preview_failed", lang=lang, error=exc.message or type(exc).__name__)


# -- WhatsApp Business templates: preview, last sync ----------------------------------------


def preview_template(app: App, channel: str, ref: str, params: Mapping[str, str]) -> str:
    """A synced template's body with sample parameter values (what the client would read)."""
    name, language = split_template_ref(ref)
    with app.db.reader() as session:
        row = session.scalar(
            select(WaTemplate)
            .join(Channel, Channel.id == WaTemplate.channel_id)
            .where(
                Channel.name == channel, WaTemplate.name == name, WaTemplate.language == language
            )
        )
        if row is None:
            raise NotFound("wa.template_not_found", template=ref, channel=channel)
        return render_template_preview(row, params)


def template_sync_times(app: App) -> dict[str, datetime | None]:
    """WhatsApp Business channel → when its templates were last synced."""
    with app.db.reader() as session:
        return dict(
            session.execute(
                select(Channel.name, Channel.templates_synced_at)
                .where(Channel.kind == ChannelKind.WA_BUSINESS.value)
                .order_by(Channel.name)
            ).all()
        )
