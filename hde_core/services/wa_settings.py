"""WhatsApp Business channel settings a team lead owns (R11, R12).

- **Template rules acknowledged** — who and when (``rules_ack_by``/``rules_ack_at``):
  without it no conversation outside the 24-hour window is started.
- **Default template** — sent first when the window is closed; only an APPROVED
  template can be chosen (and it must still be APPROVED when it is sent).
- **Parameter mapping** — ``settings["default_template_params"]``: each body
  parameter of the default template → a Jinja expression over the ticket, the
  contact and the list row (``{{ contact.name }}``, ``{{ ticket.id }}``,
  ``{{ ticket.fields.order_id }}``); an expression that renders empty refuses the
  ticket (``missing_field``) rather than sending a broken template.
- **Send right after the template** (``send_after_template``) instead of holding the
  content until the client replies; if the provider then refuses it as outside
  the window, the content is held, not lost.

Every change is one audit event naming its actor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from jinja2 import TemplateSyntaxError
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.channels.wa_common import APPROVED
from hde_core.db.models import Channel, WaTemplate
from hde_core.domain.channels import ChannelKind
from hde_core.domain.roles import Permission
from hde_core.domain.tickets import FieldError
from hde_core.errors import InputError, NotFound, Refused, UsageError
from hde_core.services import audit
from hde_core.services.authz import authorize
from hde_core.services.channels import channel_by_name, recipient_interval
from hde_core.services.rendering import check_template_syntax, render_text
from hde_core.services.templates import find_template, render_template_preview, split_template_ref

PARAMS_KEY = "default_template_params"


@dataclass
class WaSettings:
    channel: str
    provider: str
    rules_acknowledged_by: str | None
    rules_acknowledged_at: datetime | None
    default_template: str | None  # NAME:LANG
    default_template_status: str | None
    default_template_category: str | None
    default_template_params: dict[str, str]
    #: Body parameters of the default template that have no expression yet.
    unmapped_params: list[str]
    send_after_template: bool
    templates_synced_at: datetime | None
    per_recipient_interval: float | None
    preview: str | None = None
    changes: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """Outside the window a ticket can be started (R11 satisfied)."""
        return (
            self.rules_acknowledged_at is not None
            and self.default_template_status == APPROVED
            and not self.unmapped_params
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("rules_acknowledged_at", "templates_synced_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return {**data, "ready": self.ready}


def wa_channel(session: Session, name: str) -> Channel:
    channel = channel_by_name(session, name)
    if channel.kind != ChannelKind.WA_BUSINESS:
        raise UsageError("wa.not_wa_business", channel=channel.name, kind=channel.kind)
    return channel


def _summary(session: Session, channel: Channel) -> WaSettings:
    template = (
        session.get(WaTemplate, channel.default_template_id)
        if channel.default_template_id
        else None
    )
    mapping = {str(k): str(v) for k, v in ((channel.settings or {}).get(PARAMS_KEY) or {}).items()}
    names = list(template.param_names or []) if template else []
    interval = recipient_interval(channel)  # what the dispatcher will keep to
    return WaSettings(
        channel=channel.name,
        provider=channel.provider,
        rules_acknowledged_by=channel.rules_ack_by,
        rules_acknowledged_at=channel.rules_ack_at,
        default_template=f"{template.name}:{template.language}" if template else None,
        default_template_status=template.status if template else None,
        default_template_category=template.category if template else None,
        default_template_params=mapping,
        unmapped_params=[n for n in names if not mapping.get(n, "").strip()],
        send_after_template=channel.send_after_template,
        templates_synced_at=channel.templates_synced_at,
        per_recipient_interval=interval,
        preview=render_template_preview(template, mapping) if template else None,
    )


def get_wa_settings(app: App, channel_name: str) -> WaSettings:
    with app.db.reader() as session:
        return _summary(session, wa_channel(session, channel_name))


def update_wa_settings(
    app: App,
    channel_name: str,
    actor: str,
    *,
    acknowledge_rules: bool | None = None,
    default_template: str | None = None,
    params: Mapping[str, str] | None = None,
    send_after_template: bool | None = None,
) -> WaSettings:
    """Change what was asked, all or nothing, and record one audit event.

    ``acknowledge_rules`` True records the actor and the time (False withdraws it);
    ``default_template`` is ``NAME:LANG`` (an empty string clears it); ``params``
    sets expressions for the named parameters (an empty expression removes one).
    """
    now = app.clock.now()
    with app.db.transaction() as session:
        # Only a person acknowledges the rules: their name stands behind the risk.
        authorize(session, actor, Permission.CHANNEL_SETTINGS, system_allowed=not acknowledge_rules)
        channel = wa_channel(session, channel_name)
        changes: list[str] = []
        if acknowledge_rules is True:
            channel.rules_ack_by = actor
            channel.rules_ack_at = now
            changes.append(f"rules acknowledged by {actor}")
        elif acknowledge_rules is False and channel.rules_ack_at is not None:
            channel.rules_ack_by = None
            channel.rules_ack_at = None
            changes.append("rules acknowledgement withdrawn")
        if default_template is not None:
            changes += _set_default(session, channel, default_template)
        if params:
            changes += _set_params(session, channel, params)
        if send_after_template is not None and channel.send_after_template != send_after_template:
            channel.send_after_template = send_after_template
            changes.append(
                "send the message right after the template"
                if send_after_template
                else "hold the message until the client replies"
            )
        if changes:
            channel.updated_at = now
            audit.record(
                session,
                audit.Event.SETTINGS_CHANGED,
                actor,
                at=now,
                channel_id=channel.id,
                channel=channel.name,
                changes=changes,
            )
        session.flush()
        summary = _summary(session, channel)
        summary.changes = changes
        return summary


def _set_default(session: Session, channel: Channel, ref: str) -> list[str]:
    if not ref.strip():
        if channel.default_template_id is None:
            return []
        channel.default_template_id = None
        return ["default template cleared"]
    name, language = split_template_ref(ref)
    template = find_template(session, channel.id, name, language)
    if template is None:
        raise NotFound("wa.template_not_found", template=f"{name}:{language}", channel=channel.name)
    if template.status != APPROVED:
        raise Refused(
            [],
            "wa.template_not_approved",
            template=f"{name}:{language}",
            status=template.status,
        )
    if channel.default_template_id == template.id:
        return []
    channel.default_template_id = template.id
    return [f"default template {name}:{language}"]


def _set_params(session: Session, channel: Channel, params: Mapping[str, str]) -> list[str]:
    template = (
        session.get(WaTemplate, channel.default_template_id)
        if channel.default_template_id
        else None
    )
    if template is None:
        raise Refused([], "wa.params_need_default", channel=channel.name)
    known = list(template.param_names or [])
    unknown = [k for k in params if k not in known]
    if unknown:
        raise InputError(
            "wa.param_unknown",
            params=", ".join(unknown),
            template=f"{template.name}:{template.language}",
            known=", ".join(known) or "—",
        )
    for key, expression in params.items():
        try:
            check_template_syntax(expression)
        except TemplateSyntaxError as exc:
            raise InputError("wa.param_syntax", param=key, error=exc.message or "") from exc
    mapping = dict((channel.settings or {}).get(PARAMS_KEY) or {})
    for key, expression in params.items():
        if expression.strip():
            mapping[key] = expression
        else:
            mapping.pop(key, None)
    # A new dict, so the JSON column sees the change.
    channel.settings = {**(channel.settings or {}), PARAMS_KEY: mapping}
    return [f"parameter {k} = {v}" for k, v in params.items()]


def template_params(
    channel: Channel, template: WaTemplate, context: Mapping[str, Any]
) -> dict[str, str]:
    """Values of the default template's body parameters for one ticket.

    Raises :class:`Refused` (``missing_field``, naming the parameter) when one renders
    empty: the provider would refuse the template, and the client would get nothing.
    """
    mapping: dict[str, str] = dict((channel.settings or {}).get(PARAMS_KEY) or {})
    values = {
        name: render_text(mapping.get(name, ""), context).strip() for name in template.param_names
    }
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise Refused(
            [FieldError(f"template.{name}", "missing_field", {}) for name in missing],
            "error.ticket_refused",
        )
    return values
