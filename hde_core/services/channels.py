"""Channels: lookup, decrypted configuration for adapters, eligibility state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hde_core.channels.base import ChannelConfig
from hde_core.channels.registry import ADAPTERS, adapter_class
from hde_core.db.models import Channel, Department, WaTemplate
from hde_core.domain.channels import ChannelKind, ConnectionStatus, Provider
from hde_core.domain.eligibility import ChannelState
from hde_core.errors import NotFound
from hde_core.security.crypto import SecretBox
from hde_core.services import audit


def channel_by_name(session: Session, name: str) -> Channel:
    channel = session.scalar(select(Channel).where(Channel.name == name))
    if channel is None:
        known = ", ".join(session.scalars(select(Channel.name).order_by(Channel.name))) or "—"
        raise NotFound("error.channel_not_found", name=name, known=known)
    return channel


def text_limit(kind: ChannelKind | str, provider: Provider | str) -> int | None:
    """The longest messenger text the channel's provider takes (the adapter declares it and
    checks it before any call); None for email, whose body goes into a notification."""
    if kind == ChannelKind.EMAIL:
        return None
    return adapter_class(provider).max_text_length


def channel_config(session: Session, secrets: SecretBox, channel: Channel) -> ChannelConfig:
    """The adapter's view of a channel, with credentials decrypted (kept in memory only)."""
    credentials = secrets.decrypt_json(channel.credentials_enc)
    if (
        channel.kind == ChannelKind.EMAIL
        and not credentials.get("smtp_url")
        and channel.department_id
    ):
        department = session.get(Department, channel.department_id)
        if department is not None and department.smtp_url_enc:
            credentials["smtp_url"] = secrets.decrypt(department.smtp_url_enc)
    return ChannelConfig(
        id=channel.id,
        name=channel.name,
        kind=ChannelKind(channel.kind),
        provider=Provider(channel.provider),
        api_base=channel.api_base,
        credentials=credentials,
        webhook_secret=secrets.decrypt(channel.webhook_secret_enc)
        if channel.webhook_secret_enc
        else None,
        settings=dict(channel.settings or {}),
    )


def channel_state(session: Session, channel: Channel) -> ChannelState:
    """What eligibility needs to know about a channel (R10, R11, R12, R14)."""
    approved_default = False
    if channel.default_template_id is not None:
        template = session.get(WaTemplate, channel.default_template_id)
        approved_default = template is not None and template.status == "APPROVED"
    return ChannelState(
        kind=ChannelKind(channel.kind),
        enabled=channel.enabled,
        connected=channel.connection_status != ConnectionStatus.ERROR,
        initiation_allowed=bool(channel.initiation_enabled and channel.risk_ack_at),
        has_approved_default_template=approved_default,
        rules_acknowledged=channel.rules_ack_at is not None,
        send_after_template=channel.send_after_template,
    )


def recipient_interval(channel: Any) -> float | None:
    """Per-recipient pacing: the channel's setting, else the provider's default."""
    override = (channel.settings or {}).get("per_recipient_interval")
    if override is not None:
        try:
            value = float(override)
        except (TypeError, ValueError):
            value = 0.0
        return value if value > 0 else None
    try:
        adapter = ADAPTERS.get(Provider(channel.provider))
    except ValueError:
        adapter = None
    return adapter.per_recipient_interval if adapter else None


def disconnect_channel(
    session: Session,
    channel: Channel | None,
    code: str | None,
    text: str | None,
    at: datetime,
    actor: str,
) -> None:
    """The provider refused the account: the channel stops, says why, and the audit trail
    records it once (a channel already stopped is left as it is)."""
    if channel is None or channel.connection_status == ConnectionStatus.ERROR.value:
        return
    channel.connection_status = ConnectionStatus.ERROR.value
    channel.connection_error = text
    channel.status_checked_at = at
    audit.record(
        session,
        audit.Event.CHANNEL_DISCONNECTED,
        actor,
        at=at,
        channel_id=channel.id,
        code=code,
        text=text,
    )
