"""``hde provision FILE.toml``: idempotently create or update departments, channels,
custom fields, notification templates and prices from one file.

All or nothing: the whole file is validated first (an unknown key or a bad value
is refused with its line and key), then applied in one transaction. A second run
of the same file changes nothing and says so. Secrets may be written as
``${ENV_VAR}`` so that provisioning files hold no credentials.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.channels.email import SmtpTarget
from hde_core.channels.imap import ImapTarget
from hde_core.channels.registry import ADAPTERS
from hde_core.db.models import Channel, CustomField, Department, NotificationTemplate, Price
from hde_core.domain.addresses import normalise_email
from hde_core.domain.channels import PROVIDERS_BY_KIND, ChannelKind, Provider
from hde_core.domain.retry import MAX_ATTEMPTS
from hde_core.domain.roles import Permission
from hde_core.domain.tickets import NotificationKind
from hde_core.errors import ConfigError, InputError
from hde_core.services import audit
from hde_core.services.authz import authorize
from hde_core.services.channel_store import store_channel
from hde_core.services.rendering import check_template_syntax

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DepartmentSpec(_Spec):
    name: str = Field(min_length=1, max_length=200)
    mailbox: str
    smtp_url: str | None = None
    #: The mailbox over IMAP, read by ``hde mail-in`` (replies, auto-replies, bounces).
    imap_url: str | None = None

    @field_validator("mailbox")
    @classmethod
    def _mailbox(cls, v: str) -> str:
        result = normalise_email(v)
        if not result.ok or result.value is None:
            raise ValueError("not a valid email address")
        return result.value

    @field_validator("smtp_url")
    @classmethod
    def _smtp(cls, v: str | None) -> str | None:
        if v:
            try:
                SmtpTarget.parse(v)
            except ConfigError as exc:
                raise ValueError(exc.message("en")) from exc
        return v

    @field_validator("imap_url")
    @classmethod
    def _imap(cls, v: str | None) -> str | None:
        if v:
            try:
                ImapTarget.parse(v)
            except ConfigError as exc:
                raise ValueError(exc.message("en")) from exc
        return v or None


class ChannelSpec(_Spec):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: ChannelKind
    provider: Provider | None = None
    api_base: str | None = None
    credentials: dict[str, str] = Field(default_factory=dict)
    webhook_secret: str | None = None
    enabled: bool = True
    sandbox: bool = False
    department: str | None = None
    rate_per_sec: float | None = Field(default=None, gt=0, le=10_000)
    burst: int | None = Field(default=None, ge=1, le=100_000)
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    settings: dict[str, Any] = Field(default_factory=dict)
    initiation_enabled: bool | None = None
    risk_acknowledged_by: str | None = None
    rules_acknowledged_by: str | None = None
    send_after_template: bool | None = None

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, v: str | None) -> str | None:
        if v and not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/") if v else v

    @model_validator(mode="after")
    def _provider_matches_kind(self) -> ChannelSpec:
        allowed = PROVIDERS_BY_KIND[self.kind]
        if self.provider is None:
            if len(allowed) > 1:
                raise ValueError(
                    f"provider is required for kind {self.kind.value}: one of "
                    + ", ".join(p.value for p in allowed)
                )
            self.provider = allowed[0]
        elif self.provider not in allowed:
            raise ValueError(
                f"provider {self.provider.value} cannot serve kind {self.kind.value}; use "
                + ", ".join(p.value for p in allowed)
            )
        if (
            self.initiation_enabled
            and self.kind == ChannelKind.WHATSAPP
            and not self.risk_acknowledged_by
        ):
            raise ValueError(
                "initiation_enabled on an unofficial WhatsApp channel needs risk_acknowledged_by "
                "(the team lead who accepts that the number can be banned)"
            )
        return self


class CustomFieldSpec(_Spec):
    key: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: str = Field(min_length=1, max_length=200)
    required: bool = False


class NotificationTemplateSpec(_Spec):
    kind: NotificationKind
    enabled: bool = True
    subject: str = Field(min_length=1)
    body: str = Field(min_length=1)

    @field_validator("subject", "body")
    @classmethod
    def _syntax(cls, v: str) -> str:
        try:
            check_template_syntax(v)
        except TemplateSyntaxError as exc:
            raise ValueError(
                f"template syntax error on its line {exc.lineno}: {exc.message}"
            ) from exc
        return v


class PriceSpec(_Spec):
    category: str = Field(pattern=r"^(marketing|utility|authentication|service)$")
    country: str = Field(default="*", pattern=r"^(\*|[A-Z]{2})$")
    price: Decimal = Field(ge=0)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class ProvisionSpec(_Spec):
    departments: list[DepartmentSpec] = Field(default_factory=list)
    channels: list[ChannelSpec] = Field(default_factory=list)
    custom_fields: list[CustomFieldSpec] = Field(default_factory=list)
    notification_templates: list[NotificationTemplateSpec] = Field(default_factory=list)
    prices: list[PriceSpec] = Field(default_factory=list)


@dataclass(frozen=True)
class ProvisionProblem:
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}, {self.key}: {self.message}"


class ProvisionInvalid(InputError):
    key = "error.provision_invalid"

    def __init__(self, problems: list[ProvisionProblem], path: str) -> None:
        super().__init__(path=path, count=len(problems))
        self.problems = problems


@dataclass
class ProvisionReport:
    changes: list[str] = field(default_factory=list)
    unchanged: int = 0
    dry_run: bool = False

    @property
    def changed(self) -> int:
        return len(self.changes)


# -- reading ---------------------------------------------------------------------------


def _locate(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort line number of a key path like ``('channels', 1, 'kind')`` in TOML text."""
    lines = text.splitlines()
    start, end = 0, len(lines)
    path = list(loc)
    if len(path) >= 2 and isinstance(path[1], int):
        table, index = path[0], path[1]
        header = re.compile(rf"^\s*\[\[\s*{re.escape(str(table))}\s*\]\]")
        seen = -1
        for i, line in enumerate(lines):
            if header.match(line):
                seen += 1
                if seen == index:
                    start = i
                    break
        else:
            return None
        for j in range(start + 1, len(lines)):
            if re.match(rf"^\s*\[\[\s*{re.escape(str(table))}\s*\]\]", lines[j]) or re.match(
                r"^\s*\[\[?\s*(?!" + re.escape(str(table)) + r"\.)", lines[j]
            ):
                end = j
                break
        path = path[2:]
        if not path:
            return start + 1
    keys = [str(p) for p in path if not isinstance(p, int)]
    for key in reversed(keys):
        pattern = re.compile(
            rf"^\s*(\"?){re.escape(key)}\1\s*=|^\s*\[+[^\]]*\b{re.escape(key)}\s*\]"
        )
        for i in range(start, end):
            if pattern.match(lines[i]):
                return i + 1
    return start + 1 if start else None


def _expand_env(value: str, key: str, problems: list[ProvisionProblem], line: int | None) -> str:
    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            problems.append(ProvisionProblem(line, key, f"environment variable {name} is not set"))
            return ""
        return os.environ[name]

    return _ENV_REF.sub(repl, value)


#: Where ``${ENV_VAR}`` is expanded: secrets, and addresses that differ per deployment.
_EXPANDED = {"departments": ("smtp_url", "imap_url"), "channels": ("webhook_secret", "api_base")}


def _expand_secrets(text: str, data: dict[str, Any], problems: list[ProvisionProblem]) -> None:
    """Replace ``${ENV_VAR}`` in the raw document, before validation, naming any that is unset."""
    for table, keys in _EXPANDED.items():
        rows = data.get(table)
        if not isinstance(rows, list):
            continue
        for i, row in enumerate(rows):
            if not isinstance(row, dict):
                continue
            for key in keys:
                if isinstance(row.get(key), str):
                    line = _locate(text, (table, i, key))
                    row[key] = _expand_env(row[key], f"{table}.{i}.{key}", problems, line)
            creds = row.get("credentials") if table == "channels" else None
            if isinstance(creds, dict):
                for key, value in creds.items():
                    if isinstance(value, str):
                        line = _locate(text, (table, i, "credentials", key))
                        creds[key] = _expand_env(
                            value, f"{table}.{i}.credentials.{key}", problems, line
                        )


def read_spec(path: Path) -> ProvisionSpec:
    """Parse and validate the whole file; raise :class:`ProvisionInvalid` listing every problem."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(
            "error.file_unreadable", path=str(path), reason=exc.strerror or str(exc)
        ) from exc
    try:
        text = raw.decode("utf-8-sig")
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        raise ProvisionInvalid(
            [ProvisionProblem(None, "file", "not UTF-8 text")], str(path)
        ) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProvisionInvalid([ProvisionProblem(None, "syntax", str(exc))], str(path)) from exc
    problems: list[ProvisionProblem] = []
    _expand_secrets(text, data, problems)
    if problems:
        raise ProvisionInvalid(problems, str(path))
    try:
        spec = ProvisionSpec.model_validate(data)
    except ValidationError as exc:
        found = [
            ProvisionProblem(
                _locate(text, tuple(err["loc"])),
                ".".join(str(p) for p in err["loc"]) or "file",
                "unknown key" if err["type"] == "extra_forbidden" else err["msg"],
            )
            for err in exc.errors()
        ]
        raise ProvisionInvalid(found, str(path)) from exc

    _check_unique(text, "departments", [d.name for d in spec.departments], "name", problems)
    _check_unique(text, "channels", [c.name for c in spec.channels], "name", problems)
    _check_unique(text, "custom_fields", [f.key for f in spec.custom_fields], "key", problems)
    _check_unique(
        text,
        "notification_templates",
        [t.kind for t in spec.notification_templates],
        "kind",
        problems,
    )
    if problems:
        raise ProvisionInvalid(problems, str(path))
    return spec


def _check_unique(
    text: str, table: str, names: list[Any], key: str, problems: list[ProvisionProblem]
) -> None:
    seen: set[Any] = set()
    for i, name in enumerate(names):
        if name in seen:
            problems.append(
                ProvisionProblem(
                    _locate(text, (table, i, key)), f"{table}.{i}.{key}", f"{name!s} appears twice"
                )
            )
        seen.add(name)


# -- applying --------------------------------------------------------------------------


def _set(row: Any, attr: str, value: Any) -> bool:
    if getattr(row, attr) != value:
        setattr(row, attr, value)
        return True
    return False


def provision(app: App, path: Path, actor: str, dry_run: bool = False) -> ProvisionReport:
    authorize(app, actor, Permission.MANAGE_CHANNELS)
    spec = read_spec(path)
    report = ProvisionReport(dry_run=dry_run)
    try:
        with app.db.transaction() as session:
            authorize(session, actor, Permission.MANAGE_CHANNELS)
            _apply(app, session, spec, actor, report)
            if report.changes:
                audit.record(
                    session, audit.Event.PROVISIONED, actor, file=path.name, changes=report.changes
                )
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return report


class _DryRun(Exception):
    """Raised inside the unit of work so that a dry run rolls everything back."""


def _apply(
    app: App, session: Session, spec: ProvisionSpec, actor: str, report: ProvisionReport
) -> None:
    now = app.clock.now()
    secrets = app.secrets

    departments = {d.name: d for d in session.scalars(select(Department))}
    for dspec in spec.departments:
        dept = departments.get(dspec.name)
        created = dept is None
        if dept is None:
            dept = Department(name=dspec.name, mailbox=dspec.mailbox)
            session.add(dept)
            departments[dspec.name] = dept
        changed = _set(dept, "mailbox", dspec.mailbox)
        # A URL saved under another HDE_SECRET_KEY is replaced without being read.
        readable = secrets.readable(dept.smtp_url_enc)
        current_url = secrets.decrypt(dept.smtp_url_enc) if dept.smtp_url_enc and readable else None
        if current_url != dspec.smtp_url or not readable:
            dept.smtp_url_enc = secrets.encrypt(dspec.smtp_url) if dspec.smtp_url else None
            changed = True
        readable = secrets.readable(dept.imap_url_enc)
        current_imap = (
            secrets.decrypt(dept.imap_url_enc) if dept.imap_url_enc and readable else None
        )
        if current_imap != dspec.imap_url or not readable:
            dept.imap_url_enc = secrets.encrypt(dspec.imap_url) if dspec.imap_url else None
            changed = True
        _note(report, "department", dspec.name, created, changed, dept, now)
    session.flush()

    channels = {c.name: c for c in session.scalars(select(Channel))}
    for cspec in spec.channels:
        assert cspec.provider is not None
        department_id = None
        if cspec.department:
            if cspec.department not in departments:
                raise ConfigError(
                    "error.provision_unknown_department",
                    channel=cspec.name,
                    department=cspec.department,
                )
            department_id = departments[cspec.department].id
        adapter = ADAPTERS.get(cspec.provider)
        channel = channels.get(cspec.name)
        created = channel is None
        if channel is None:
            channel = Channel(
                name=cspec.name, kind=cspec.kind.value, provider=cspec.provider.value, settings={}
            )
            session.add(channel)
        values: dict[str, Any] = {
            "kind": cspec.kind.value,
            "provider": cspec.provider.value,
            "api_base": cspec.api_base,
            "enabled": cspec.enabled,
            "is_sandbox": cspec.sandbox,
            "department_id": department_id,
            # Keys named in the file win; settings made in the console or CLI (e.g. the default
            # template's parameter mapping) survive a re-provision.
            "settings": {**(channel.settings or {}), **cspec.settings},
            "rate_per_sec": cspec.rate_per_sec
            or (adapter.default_rate_per_sec if adapter else 1.0),
            "burst": cspec.burst or (adapter.default_burst if adapter else 1),
            "max_attempts": cspec.max_attempts or MAX_ATTEMPTS,
        }
        if cspec.send_after_template is not None:
            values["send_after_template"] = cspec.send_after_template
        changed = bool(
            store_channel(secrets, channel, values, cspec.credentials, cspec.webhook_secret)
        )
        if cspec.initiation_enabled is not None:
            changed |= _set(channel, "initiation_enabled", cspec.initiation_enabled)
            if cspec.initiation_enabled and channel.risk_ack_by != cspec.risk_acknowledged_by:
                channel.risk_ack_by = cspec.risk_acknowledged_by
                channel.risk_ack_at = now
                changed = True
        if cspec.rules_acknowledged_by and channel.rules_ack_by != cspec.rules_acknowledged_by:
            channel.rules_ack_by = cspec.rules_acknowledged_by
            channel.rules_ack_at = now
            changed = True
        _note(report, "channel", cspec.name, created, changed, channel, now)

    fields = {f.key: f for f in session.scalars(select(CustomField))}
    for fspec in spec.custom_fields:
        row = fields.get(fspec.key)
        created = row is None
        if row is None:
            row = CustomField(key=fspec.key, label=fspec.label, required=fspec.required)
            session.add(row)
        changed = _set(row, "label", fspec.label) | _set(row, "required", fspec.required)
        _note(report, "custom field", fspec.key, created, changed, row, now)

    templates = {t.kind: t for t in session.scalars(select(NotificationTemplate))}
    for tspec in spec.notification_templates:
        tpl = templates.get(tspec.kind.value)
        created = tpl is None
        if tpl is None:
            tpl = NotificationTemplate(
                kind=tspec.kind.value, subject=tspec.subject, body=tspec.body
            )
            session.add(tpl)
        changed = (
            _set(tpl, "enabled", tspec.enabled)
            | _set(tpl, "subject", tspec.subject)
            | _set(tpl, "body", tspec.body)
        )
        _note(report, "notification template", tspec.kind.value, created, changed, tpl, now)

    prices = {(p.category, p.country): p for p in session.scalars(select(Price))}
    for pspec in spec.prices:
        price = prices.get((pspec.category, pspec.country))
        created = price is None
        if price is None:
            price = Price(category=pspec.category, country=pspec.country, price=pspec.price)
            session.add(price)
        changed = _set(price, "price", pspec.price) | _set(price, "currency", pspec.currency)
        _note(report, "price", f"{pspec.category}/{pspec.country}", created, changed, price, now)
    session.flush()


def _note(
    report: ProvisionReport, what: str, name: str, created: bool, changed: bool, row: Any, now: Any
) -> None:
    if created:
        report.changes.append(f"{what} '{name}': created")
    elif changed:
        report.changes.append(f"{what} '{name}': updated")
        if hasattr(row, "updated_at"):
            row.updated_at = now
    else:
        report.unchanged += 1
