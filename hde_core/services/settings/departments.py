"""Departments: the sender mailbox, SMTP server and IMAP mailbox of each (R5); the URLs are
write-only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.channels.base import ChannelConfig
from hde_core.channels.email import EmailAdapter, mask_smtp_url
from hde_core.channels.imap import ImapTarget, mask_imap_url
from hde_core.db.models import (
    Channel,
    Department,
)
from hde_core.domain.channels import ChannelKind, Provider
from hde_core.domain.roles import Permission
from hde_core.services.authz import authorize
from hde_core.services.channel_checks import run_sync
from hde_core.services.provision import (
    DepartmentSpec,
)
from hde_core.services.settings.problems import (
    SettingsInvalid,
    _audit_setting,
    _problems,
)

# -- departments and mailboxes ------------------------------------------------------------


@dataclass(frozen=True)
class DepartmentView:
    name: str
    mailbox: str
    smtp_url: str  # masked; "" when the department has none
    channels: list[str]
    #: The stored SMTP URL was saved under another ``HDE_SECRET_KEY``: enter it again.
    smtp_url_old_key: bool = False
    #: The mailbox over IMAP, read by ``hde mail-in`` (masked; "" when none).
    imap_url: str = ""
    imap_url_old_key: bool = False


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
                mask_smtp_url(app.secrets.decrypt(d.smtp_url_enc))
                if d.smtp_url_enc and app.secrets.readable(d.smtp_url_enc)
                else "",
                used.get(d.id, []),
                smtp_url_old_key=bool(d.smtp_url_enc) and not app.secrets.readable(d.smtp_url_enc),
                imap_url=mask_imap_url(app.secrets.decrypt(d.imap_url_enc))
                if d.imap_url_enc and app.secrets.readable(d.imap_url_enc)
                else "",
                imap_url_old_key=bool(d.imap_url_enc) and not app.secrets.readable(d.imap_url_enc),
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
    #: The same for the IMAP mailbox (logged in and opened its folder).
    imap_ok: bool | None = None
    imap_detail: str = ""


def save_department(app: App, form: Mapping[str, Any], actor: str) -> SavedDepartment:
    """Create or update a department (its sender mailbox and SMTP server, R5); then try the
    SMTP server once so a typo shows now, not at the first ticket."""
    now = app.clock.now()
    with app.db.transaction() as session:
        authorize(session, actor, Permission.MANAGE_CHANNELS)
        name = str(form.get("name") or "").strip()
        dept = session.scalar(select(Department).where(Department.name == name)) if name else None
        stored_url = (
            app.secrets.decrypt(dept.smtp_url_enc)
            if dept and dept.smtp_url_enc and app.secrets.readable(dept.smtp_url_enc)
            else None
        )
        typed_url = str(form.get("smtp_url") or "").strip()
        stored_imap = (
            app.secrets.decrypt(dept.imap_url_enc)
            if dept and dept.imap_url_enc and app.secrets.readable(dept.imap_url_enc)
            else None
        )
        typed_imap = str(form.get("imap_url") or "").strip()
        try:
            spec = DepartmentSpec.model_validate(
                {
                    "name": name,
                    "mailbox": str(form.get("mailbox") or ""),
                    "smtp_url": typed_url or stored_url,
                    "imap_url": typed_imap or stored_imap,
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
        if stored_imap != spec.imap_url:
            dept.imap_url_enc = app.secrets.encrypt(spec.imap_url) if spec.imap_url else None
            changes.append("imap_url")
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
    imap_ok, imap_detail = (None, "")
    if typed_imap and spec.imap_url:
        imap_ok, imap_detail = check_imap(spec.imap_url)
    return SavedDepartment(spec.name, created, changes, ok, detail, imap_ok, imap_detail)


def check_smtp(smtp_url: str) -> tuple[bool, str]:
    """Connect to the SMTP server and say hello (NOOP), like a channel's R14 check."""
    config = ChannelConfig(
        0, "department", ChannelKind.EMAIL, Provider.SMTP, None, {"smtp_url": smtp_url}
    )
    result = run_sync(EmailAdapter(config).check_connection())
    return result.ok, mask_smtp_url(result.detail) if result.detail else ""


def check_imap(imap_url: str) -> tuple[bool, str]:
    """Log in to the IMAP mailbox and open its folder, so a typo shows when it is saved."""
    target = ImapTarget.parse(imap_url)
    try:
        client = target.connect()
        try:
            client.select_folder(target.folder, readonly=True)
        finally:
            client.logout()
    except Exception as exc:  # noqa: BLE001 - any failure is the answer shown to the admin
        return False, mask_imap_url(f"{type(exc).__name__}: {exc}")
    return True, f"{target.hostname}:{target.port}/{target.folder}"
