"""Channels as the console edits them (R10, R14): listed with secrets masked, saved
through provisioning's own :class:`~hde_core.services.provision.ChannelSpec`, checked
against the provider right after saving. An empty credential keeps the stored value; the
audit names which secrets changed, never their values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.channels.email import mask_smtp_url
from hde_core.channels.registry import ADAPTERS
from hde_core.db.models import (
    Channel,
    Department,
)
from hde_core.domain.channels import Provider
from hde_core.domain.retry import MAX_ATTEMPTS
from hde_core.domain.roles import Permission
from hde_core.security.crypto import mask
from hde_core.services.authz import authorize
from hde_core.services.channel_checks import CheckResult, check_channel
from hde_core.services.channel_store import store_channel
from hde_core.services.provision import (
    ChannelSpec,
)
from hde_core.services.settings.problems import (
    FieldProblem,
    SettingsInvalid,
    _audit_setting,
    _problems,
)

#: What each provider needs, in the order the form asks for it (README "Credentials"):
#: each adapter declares its own ``credential_fields``.
CREDENTIAL_FIELDS: dict[Provider, tuple[str, ...]] = {
    provider: adapter.credential_fields for provider, adapter in ADAPTERS.items()
}

#: The fields of a channel the console form edits (a subset of :class:`ChannelSpec`).
CHANNEL_FORM_FIELDS = (
    "name",
    "kind",
    "provider",
    "api_base",
    "credentials",
    "webhook_secret",
    "enabled",
    "sandbox",
    "department",
    "rate_per_sec",
    "burst",
    "max_attempts",
)


# -- channels ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelView:
    """A channel as the console lists it: secrets masked, status in plain words."""

    id: int
    name: str
    kind: str
    provider: str
    api_base: str | None
    enabled: bool
    sandbox: bool
    department: str | None
    rate_per_sec: float
    burst: int
    max_attempts: int
    status: str
    error: str | None
    checked_at: datetime | None
    paused_until: datetime | None
    #: credential name → masked value ("" when not set), for every credential the provider needs.
    credentials: dict[str, str]
    webhook_secret: str
    initiation_enabled: bool
    risk_ack_by: str | None
    risk_ack_at: datetime | None
    rules_ack_by: str | None
    rules_ack_at: datetime | None
    #: Stored, but under another ``HDE_SECRET_KEY`` (this one cannot read them): the form
    #: says "saved under an old key — enter it again", not "not set".
    credentials_old_key: bool = False
    webhook_secret_old_key: bool = False


def _mask_credential(key: str, value: Any) -> str:
    if not value:
        return ""
    return mask_smtp_url(str(value)) if key == "smtp_url" else mask(str(value))


def list_channels(app: App) -> list[ChannelView]:
    with app.db.reader() as session:
        return [_view(app, c) for c in session.scalars(select(Channel).order_by(Channel.name))]


def _view(app: App, c: Channel) -> ChannelView:
    # Saved under another HDE_SECRET_KEY: no value to mask, and flagged, so the form asks
    # for them again (saving then needs no old value: services.channel_store).
    creds_readable = app.secrets.readable(c.credentials_enc)
    creds = app.secrets.decrypt_json(c.credentials_enc) if creds_readable else {}
    secret_readable = app.secrets.readable(c.webhook_secret_enc)
    wanted = CREDENTIAL_FIELDS.get(Provider(c.provider), ())
    names = list(wanted) + sorted(k for k in creds if k not in wanted)
    return ChannelView(
        id=c.id,
        name=c.name,
        kind=c.kind,
        provider=c.provider,
        api_base=c.api_base,
        enabled=c.enabled,
        sandbox=c.is_sandbox,
        department=c.department.name if c.department else None,
        rate_per_sec=c.rate_per_sec,
        burst=c.burst,
        max_attempts=c.max_attempts,
        status=c.connection_status,
        error=c.connection_error,
        checked_at=c.status_checked_at,
        paused_until=c.paused_until,
        credentials={k: _mask_credential(k, creds.get(k)) for k in names},
        webhook_secret=mask(app.secrets.decrypt(c.webhook_secret_enc))
        if c.webhook_secret_enc and secret_readable
        else "",
        initiation_enabled=c.initiation_enabled,
        risk_ack_by=c.risk_ack_by,
        risk_ack_at=c.risk_ack_at,
        rules_ack_by=c.rules_ack_by,
        rules_ack_at=c.rules_ack_at,
        credentials_old_key=bool(c.credentials_enc) and not creds_readable,
        webhook_secret_old_key=bool(c.webhook_secret_enc) and not secret_readable,
    )


def default_rate(provider: Provider | str) -> tuple[float, int]:
    """The provider's documented pace (messages per second, burst) for a new channel."""
    adapter = ADAPTERS.get(Provider(provider))
    return (adapter.default_rate_per_sec, adapter.default_burst) if adapter else (1.0, 1)


@dataclass(frozen=True)
class SavedChannel:
    name: str
    created: bool
    changes: list[str]
    check: CheckResult | None


def save_channel(
    app: App, form: Mapping[str, Any], actor: str, *, check: bool = True
) -> SavedChannel:
    """Create a channel, or update the one named ``form["name"]``; then check it (R14).

    ``form`` holds :data:`CHANNEL_FORM_FIELDS`. An empty credential or webhook secret
    keeps the stored one. Kind and provider of an existing channel cannot change (its
    messages and identities belong to them). Raises :class:`SettingsInvalid` (nothing
    written) or ``PermissionDenied``.
    """
    now = app.clock.now()
    with app.db.transaction() as session:
        authorize(session, actor, Permission.MANAGE_CHANNELS)
        name = str(form.get("name") or "").strip()
        channel = session.scalar(select(Channel).where(Channel.name == name)) if name else None
        created = channel is None
        # Credentials saved under another HDE_SECRET_KEY count as absent: typing them again
        # replaces them, without the old value (issue 14.6).
        readable = channel is None or app.secrets.readable(channel.credentials_enc)
        stored = app.secrets.decrypt_json(channel.credentials_enc) if channel and readable else {}
        typed = {k: str(v).strip() for k, v in (form.get("credentials") or {}).items()}
        credentials = {k: v for k, v in stored.items() if k not in typed or not typed[k]}
        credentials |= {k: v for k, v in typed.items() if v}
        secret = str(form.get("webhook_secret") or "").strip() or None
        keep_secret = False  # an unreadable stored secret left blank stays as it is
        if secret is None and channel is not None and channel.webhook_secret_enc:
            if app.secrets.readable(channel.webhook_secret_enc):
                secret = app.secrets.decrypt(channel.webhook_secret_enc)
            else:
                keep_secret = True
        # An existing channel keeps what the form does not mention; an empty value clears it.
        raw: dict[str, Any] = _current(channel) if channel is not None else {}
        raw |= {
            k: form[k]
            for k in CHANNEL_FORM_FIELDS
            if k in form and k not in ("credentials", "webhook_secret")
        }
        raw = {k: v for k, v in raw.items() if v not in (None, "")}
        if channel is not None:  # kind and provider stay what they are
            raw["kind"], raw["provider"] = channel.kind, channel.provider
        raw |= {"credentials": credentials, "webhook_secret": secret}
        try:
            spec = ChannelSpec.model_validate(raw)
        except ValidationError as exc:
            raise SettingsInvalid(_problems(exc, "channel")) from exc
        assert spec.provider is not None
        department_id = None
        if spec.department:
            department_id = session.scalar(
                select(Department.id).where(Department.name == spec.department)
            )
            if department_id is None:
                raise SettingsInvalid(
                    [FieldProblem("department", "channels_page.field.department")]
                )
        if channel is None:
            channel = Channel(
                name=spec.name, kind=spec.kind.value, provider=spec.provider.value, settings={}
            )
            session.add(channel)
        rate, burst = default_rate(spec.provider)
        values: dict[str, Any] = {
            "api_base": spec.api_base,
            "enabled": spec.enabled,
            "is_sandbox": spec.sandbox,
            "department_id": department_id,
            "rate_per_sec": spec.rate_per_sec or (channel.rate_per_sec if not created else rate),
            "burst": spec.burst or (channel.burst if not created else burst),
            "max_attempts": spec.max_attempts
            or (channel.max_attempts if not created else MAX_ATTEMPTS),
        }
        changes = store_channel(
            app.secrets,
            channel,
            values,
            spec.credentials,
            spec.webhook_secret,
            keep_webhook_secret=keep_secret,
        )
        if created or changes:
            channel.updated_at = now
            session.flush()
            _audit_setting(
                session,
                actor,
                now,
                channel_id=channel.id,
                setting="channel",
                channel=channel.name,
                created=True if created else None,
                changes=changes,
            )
    result = check_channel(app, spec.name, actor) if check and spec.enabled else None
    return SavedChannel(spec.name, created, changes, result)


def _current(channel: Channel) -> dict[str, Any]:
    return {
        "name": channel.name,
        "api_base": channel.api_base,
        "enabled": channel.enabled,
        "sandbox": channel.is_sandbox,
        "department": channel.department.name if channel.department else None,
        "rate_per_sec": channel.rate_per_sec,
        "burst": channel.burst,
        "max_attempts": channel.max_attempts,
    }


def recheck_channel(app: App, name: str, actor: str) -> CheckResult:
    """ "Check now" (R14): anyone who may change channel settings."""
    with app.db.reader() as session:
        authorize(session, actor, Permission.CHANNEL_SETTINGS)
    return check_channel(app, name, actor)
