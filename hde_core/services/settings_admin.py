"""Channels and settings as the console edits them (SPEC §6, R10–R15).

Validation is provisioning's own: every save goes through the same pydantic specs
(:class:`~hde_core.services.provision.ChannelSpec`, ``DepartmentSpec``,
``CustomFieldSpec``, ``NotificationTemplateSpec``), so what the console saves is
exactly what a provisioning file could describe, refused for the same reasons — here
one plain-words problem per field (:class:`SettingsInvalid`).

Secrets are write-only. Credentials, webhook secrets and SMTP URLs are stored
encrypted and listed masked (:func:`hde_core.security.crypto.mask`,
:func:`hde_core.channels.email.mask_smtp_url`); an empty credential field on save
keeps the stored value, so an admin can change the rate limit without retyping a
token. The audit trail names which secrets changed, never their values.

Who may do what: creating and editing channels and departments (credentials, SMTP
servers) needs ``manage_channels`` (admin); custom fields and the price table need
``channel_settings`` (team lead); notification templates ``manage_templates``. Each
function checks its actor, whatever face calls it.

A channel is checked against its provider right after it is saved (R14) and the
result — connected, or the provider's error in plain words — is returned and stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from jinja2 import TemplateError
from pydantic import ValidationError
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.channels.base import ChannelConfig
from hde_core.channels.email import EmailAdapter, mask_smtp_url
from hde_core.channels.registry import ADAPTERS
from hde_core.db.models import (
    Channel,
    Contact,
    ContactIdentity,
    CustomField,
    Department,
    NotificationTemplate,
    User,
    WaTemplate,
)
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.domain.retry import MAX_ATTEMPTS
from hde_core.domain.roles import Permission, can
from hde_core.errors import InputError, NotFound, PermissionDenied
from hde_core.i18n import t
from hde_core.security.crypto import mask
from hde_core.services import audit
from hde_core.services.channel_checks import CheckResult, check_channel, run_sync
from hde_core.services.provision import (
    ChannelSpec,
    CustomFieldSpec,
    DepartmentSpec,
    NotificationTemplateSpec,
)
from hde_core.services.rendering import RenderedEmail, render_email
from hde_core.services.templates import render_template_preview, split_template_ref

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


# -- errors and permissions -------------------------------------------------------------


@dataclass(frozen=True)
class FieldProblem:
    """One field the form must fix: its name and what is expected, in plain words."""

    name: str
    key: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def message(self, lang: str | None = None) -> str:
        return t(self.key, lang=lang, **self.params)


class SettingsInvalid(InputError):
    """A form that cannot be saved: nothing was written; one problem per field."""

    key = "channels_page.invalid"

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        super().__init__(count=len(problems))
        self.problems = list(problems)

    def lines(self, lang: str | None = None) -> list[str]:
        return [p.message(lang) for p in self.problems]


def require(session: Session, actor: str, permission: Permission) -> None:
    """The actor must be an active console user whose role allows ``permission``."""
    role = session.scalar(select(User.role).where(User.login == actor, User.is_active.is_(True)))
    if role is None or not can(role, permission):
        raise PermissionDenied(
            "channels_page.not_allowed", actor=actor, permission=permission.value
        )


_KNOWN_FIELD_KEYS = {
    "name",
    "kind",
    "provider",
    "api_base",
    "rate_per_sec",
    "burst",
    "max_attempts",
    "mailbox",
    "smtp_url",
    "key",
    "label",
    "subject",
    "body",
    "department",
    "webhook_secret",
}


def _problems(exc: ValidationError, prefix: str) -> list[FieldProblem]:
    """Pydantic's errors as one plain-words problem per field (``channels_page.field.*``)."""
    out: list[FieldProblem] = []
    seen: set[str] = set()
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        name = loc[0] if loc else "form"
        if name in seen:
            continue
        seen.add(name)
        if name in _KNOWN_FIELD_KEYS:
            out.append(FieldProblem(name, f"channels_page.field.{name}"))
        elif not loc and prefix == "channel":  # the model-level rule: provider fits the kind
            out.append(FieldProblem("provider", "channels_page.field.provider"))
        else:
            out.append(FieldProblem(name, "channels_page.field.other", {"error": err["msg"]}))
    return out


def _audit_setting(session: Session, actor: str, at: datetime, **data: Any) -> None:
    audit.record(session, audit.Event.SETTINGS_CHANGED, actor, at=at, **data)


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


def _mask_credential(key: str, value: Any) -> str:
    if not value:
        return ""
    return mask_smtp_url(str(value)) if key == "smtp_url" else mask(str(value))


def list_channels(app: App) -> list[ChannelView]:
    with app.db.reader() as session:
        return [_view(app, c) for c in session.scalars(select(Channel).order_by(Channel.name))]


def _view(app: App, c: Channel) -> ChannelView:
    creds = app.secrets.decrypt_json(c.credentials_enc)
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
        if c.webhook_secret_enc
        else "",
        initiation_enabled=c.initiation_enabled,
        risk_ack_by=c.risk_ack_by,
        risk_ack_at=c.risk_ack_at,
        rules_ack_by=c.rules_ack_by,
        rules_ack_at=c.rules_ack_at,
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
        require(session, actor, Permission.MANAGE_CHANNELS)
        name = str(form.get("name") or "").strip()
        channel = session.scalar(select(Channel).where(Channel.name == name)) if name else None
        created = channel is None
        stored = app.secrets.decrypt_json(channel.credentials_enc) if channel else {}
        typed = {k: str(v).strip() for k, v in (form.get("credentials") or {}).items()}
        credentials = {k: v for k, v in stored.items() if k not in typed or not typed[k]}
        credentials |= {k: v for k, v in typed.items() if v}
        secret = str(form.get("webhook_secret") or "").strip() or None
        if secret is None and channel is not None and channel.webhook_secret_enc:
            secret = app.secrets.decrypt(channel.webhook_secret_enc)
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
        changes = [attr for attr, value in values.items() if getattr(channel, attr) != value]
        for attr in changes:
            setattr(channel, attr, values[attr])
        changed_secrets = sorted(
            k for k in set(stored) | set(credentials) if stored.get(k) != credentials.get(k)
        )
        if changed_secrets:
            channel.credentials_enc = (
                app.secrets.encrypt_json(spec.credentials) if spec.credentials else None
            )
            changes += [f"credentials.{k}" for k in changed_secrets]
        old_secret = (
            app.secrets.decrypt(channel.webhook_secret_enc) if channel.webhook_secret_enc else None
        )
        if old_secret != spec.webhook_secret:
            channel.webhook_secret_enc = (
                app.secrets.encrypt(spec.webhook_secret) if spec.webhook_secret else None
            )
            changes.append("webhook_secret")
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
        require(session, actor, Permission.CHANNEL_SETTINGS)
    return check_channel(app, name, actor)


# -- departments and mailboxes ------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentView:
    name: str
    mailbox: str
    smtp_url: str  # masked; "" when the department has none
    channels: list[str]


def list_departments(app: App) -> list[DepartmentView]:
    with app.db.reader() as session:
        used: dict[int | None, list[str]] = {}
        for dept_id, channel in session.execute(
            select(Channel.department_id, Channel.name)
            .where(Channel.department_id.is_not(None))
            .order_by(Channel.name)
        ):
            used.setdefault(dept_id, []).append(channel)
        return [
            DepartmentView(
                d.name,
                d.mailbox,
                mask_smtp_url(app.secrets.decrypt(d.smtp_url_enc)) if d.smtp_url_enc else "",
                used.get(d.id, []),
            )
            for d in session.scalars(select(Department).order_by(Department.name))
        ]


@dataclass(frozen=True)
class SavedDepartment:
    name: str
    created: bool
    changes: list[str]
    #: The SMTP server answered (True), refused or could not be reached (False), or no URL.
    smtp_ok: bool | None = None
    smtp_detail: str = ""


def save_department(app: App, form: Mapping[str, Any], actor: str) -> SavedDepartment:
    """Create or update a department (its sender mailbox and SMTP server, R5); then try the
    SMTP server once so a typo shows now, not at the first ticket."""
    now = app.clock.now()
    with app.db.transaction() as session:
        require(session, actor, Permission.MANAGE_CHANNELS)
        name = str(form.get("name") or "").strip()
        dept = session.scalar(select(Department).where(Department.name == name)) if name else None
        stored_url = app.secrets.decrypt(dept.smtp_url_enc) if dept and dept.smtp_url_enc else None
        typed_url = str(form.get("smtp_url") or "").strip()
        try:
            spec = DepartmentSpec.model_validate(
                {
                    "name": name,
                    "mailbox": str(form.get("mailbox") or ""),
                    "smtp_url": typed_url or stored_url,
                }
            )
        except ValidationError as exc:
            raise SettingsInvalid(_problems(exc, "department")) from exc
        created = dept is None
        if dept is None:
            dept = Department(name=spec.name, mailbox=spec.mailbox)
            session.add(dept)
        changes = []
        if dept.mailbox != spec.mailbox:
            dept.mailbox = spec.mailbox
            changes.append("mailbox")
        if stored_url != spec.smtp_url:
            dept.smtp_url_enc = app.secrets.encrypt(spec.smtp_url) if spec.smtp_url else None
            changes.append("smtp_url")
        if created or changes:
            dept.updated_at = now
            _audit_setting(
                session,
                actor,
                now,
                setting="department",
                department=spec.name,
                created=True if created else None,
                changes=changes,
            )
    ok, detail = (None, "")
    if spec.smtp_url:
        ok, detail = check_smtp(spec.smtp_url)
    return SavedDepartment(spec.name, created, changes, ok, detail)


def check_smtp(smtp_url: str) -> tuple[bool, str]:
    """Connect to the SMTP server and say hello (NOOP), like a channel's R14 check."""
    config = ChannelConfig(
        0, "department", ChannelKind.EMAIL, Provider.SMTP, None, {"smtp_url": smtp_url}
    )
    result = run_sync(EmailAdapter(config).check_connection())
    return result.ok, mask_smtp_url(result.detail) if result.detail else ""


# -- custom fields ------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldView:
    key: str
    label: str
    required: bool


def list_custom_fields(app: App) -> list[FieldView]:
    with app.db.reader() as session:
        return [
            FieldView(f.key, f.label, f.required)
            for f in session.scalars(select(CustomField).order_by(CustomField.key))
        ]


def save_custom_field(app: App, form: Mapping[str, Any], actor: str) -> bool:
    """Create or update a custom field (R4: a required one must be filled on every ticket).
    Returns whether it was created."""
    now = app.clock.now()
    try:
        spec = CustomFieldSpec.model_validate(
            {
                "key": str(form.get("key") or "").strip(),
                "label": str(form.get("label") or ""),
                "required": bool(form.get("required")),
            }
        )
    except ValidationError as exc:
        raise SettingsInvalid(_problems(exc, "field")) from exc
    with app.db.transaction() as session:
        require(session, actor, Permission.CHANNEL_SETTINGS)
        row = session.scalar(select(CustomField).where(CustomField.key == spec.key))
        created = row is None
        if row is None:
            row = CustomField(key=spec.key, label=spec.label, required=spec.required)
            session.add(row)
        elif (row.label, row.required) == (spec.label, spec.required):
            return False
        row.label, row.required, row.updated_at = spec.label, spec.required, now
        _audit_setting(
            session,
            actor,
            now,
            setting="custom_field",
            key=spec.key,
            label=spec.label,
            required=spec.required,
            created=True if created else None,
        )
    return created


def delete_custom_field(app: App, key: str, actor: str) -> bool:
    """Remove a custom field from the ticket form (tickets keep the values they have)."""
    with app.db.transaction() as session:
        require(session, actor, Permission.CHANNEL_SETTINGS)
        row = session.scalar(select(CustomField).where(CustomField.key == key))
        if row is None:
            return False
        session.delete(row)
        _audit_setting(
            session, actor, app.clock.now(), setting="custom_field", key=key, deleted=True
        )
    return True


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
        require(session, actor, Permission.MANAGE_TEMPLATES)
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


# -- opt-outs (R15) -------------------------------------------------------------------------


@dataclass(frozen=True)
class OptOutRow:
    channel: str
    address: str
    contact: str
    opted_out_at: datetime
    reason: str


@dataclass
class OptOutPage:
    total: int
    rows: list[OptOutRow]


def list_opt_outs(
    app: App,
    channel: str | None = None,
    search: str | None = None,
    limit: int | None = 50,
    offset: int = 0,
) -> OptOutPage:
    """Who must not be written to (newest first), read off the partial index of opt-outs."""
    conditions: list[Any] = [ContactIdentity.opted_out_at.is_not(None)]
    if channel:
        conditions.append(Channel.name == channel)
    if search and search.strip():
        like = f"%{search.strip().lower()}%"
        conditions.append(
            or_(func.lower(ContactIdentity.address).like(like), func.lower(Contact.name).like(like))
        )
    base = (
        select(ContactIdentity.id)
        .join(Channel, Channel.id == ContactIdentity.channel_id)
        .join(Contact, Contact.id == ContactIdentity.contact_id)
        .where(*conditions)
    )
    q = (
        select(
            Channel.name,
            ContactIdentity.address,
            func.coalesce(ContactIdentity.display_name, Contact.name),
            ContactIdentity.opted_out_at,
            ContactIdentity.opt_out_reason,
        )
        .join(Channel, Channel.id == ContactIdentity.channel_id)
        .join(Contact, Contact.id == ContactIdentity.contact_id)
        .where(*conditions)
        .order_by(ContactIdentity.opted_out_at.desc(), ContactIdentity.id.desc())
        .offset(offset)
    )
    if limit is not None:
        q = q.limit(limit)
    with app.db.reader() as session:
        total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
        rows = [
            OptOutRow(ch, address, name or "", at, reason or "")  # type: ignore[arg-type]
            for ch, address, name, at, reason in session.execute(q).all()
        ]
    return OptOutPage(int(total), rows)
