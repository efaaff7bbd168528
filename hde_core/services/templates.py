"""WhatsApp Business templates (R11): synced from the provider, previewed, and only
APPROVED ones sent.

Templates are created and approved at the provider; :func:`sync_templates` pulls
them (on demand: ``hde templates sync``; periodically: the dispatcher's
``templates_sync`` job) and upserts name, language, category, status, components,
parameter format, the ordered body parameter names and the body text. A template
that disappeared at the provider is deleted here — unless something still refers
to it (a channel's default, a campaign), then it is kept and marked ``DELETED`` so
it can never be sent and the team lead sees why.

The "only APPROVED" rule holds three times: choosing a default template
(:mod:`hde_core.services.wa_settings`), eligibility (no approved default →
``no_default_template``), and at send time: the dispatcher resolves the current
status (:func:`current_template_status`) and the adapter refuses anything else.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Collection, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.channels.base import ChannelConfig, TemplateInfo, new_http_client
from hde_core.channels.registry import build_adapter
from hde_core.channels.wa_common import APPROVED, ProviderCallFailed, body_text, parameter_names
from hde_core.db.models import AppSetting, Campaign, Channel, WaTemplate
from hde_core.domain.channels import ChannelKind
from hde_core.domain.roles import Permission
from hde_core.errors import ConfigError, HdeError, UsageError
from hde_core.services import audit
from hde_core.services.authz import SYSTEM, WORKER, authorize
from hde_core.services.channels import channel_by_name, channel_config

#: The status a template gets when the provider no longer lists it but we still refer to it.
GONE = "DELETED"
#: The status :func:`current_template_status` reports for a template we do not have.
MISSING = "MISSING"
SYNC_INTERVAL_KEY = "templates.sync_interval_minutes"
DEFAULT_SYNC_MINUTES = 60

T = TypeVar("T")


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from sync code, even when this thread already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclass
class SyncReport:
    channel: str
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    marked_gone: int = 0
    deleted: int = 0
    #: "name (language): OLD → NEW" for every status that changed.
    status_changes: list[str] = field(default_factory=list)
    #: The default template chosen from the channel's ``settings.default_template``.
    default_resolved: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def wa_channels(session: Session, channel_name: str | None = None) -> list[Channel]:
    """The WhatsApp Business channel named, or every enabled one."""
    if channel_name:
        channel = channel_by_name(session, channel_name)
        if channel.kind != ChannelKind.WA_BUSINESS:
            raise UsageError("templates.not_wa_business", channel=channel.name, kind=channel.kind)
        return [channel]
    return list(
        session.scalars(
            select(Channel)
            .where(Channel.kind == ChannelKind.WA_BUSINESS.value, Channel.enabled.is_(True))
            .order_by(Channel.name)
        )
    )


async def _fetch(configs: list[ChannelConfig]) -> dict[int, list[TemplateInfo] | str]:
    found: dict[int, list[TemplateInfo] | str] = {}
    async with new_http_client() as http:
        for config in configs:
            try:
                found[config.id] = await build_adapter(config, http).list_templates()
            except ProviderCallFailed as exc:
                found[config.id] = exc.text
            except HdeError as exc:
                found[config.id] = exc.message()
    return found


def sync_templates(
    app: App, channel_name: str | None = None, actor: str = SYSTEM
) -> list[SyncReport]:
    """Pull the templates of one WhatsApp Business channel (or all) and store them.

    A provider that cannot be reached or refuses our credentials is reported per
    channel (``SyncReport.error``) and changes nothing for that channel.
    """
    authorize(app, actor, Permission.MANAGE_TEMPLATES)
    with app.db.reader() as session:
        channels = wa_channels(session, channel_name)
        configs = [channel_config(session, app.secrets, c) for c in channels]
    fetched = run_async(_fetch(configs))
    reports: list[SyncReport] = []
    for config in configs:
        result = fetched[config.id]
        if isinstance(result, str):
            reports.append(SyncReport(config.name, error=result))
            continue
        with app.db.transaction() as session:
            channel = session.get(Channel, config.id)
            if channel is None:
                continue
            reports.append(store_templates(session, channel, result, app.clock.now(), actor))
    return reports


def _referenced_ids(session: Session, channel: Channel) -> set[int]:
    ids = set(
        session.scalars(
            select(Channel.default_template_id).where(Channel.default_template_id.is_not(None))
        )
    )
    names = set(
        session.scalars(select(Campaign.template_name).where(Campaign.template_name.is_not(None)))
    )
    if names:
        ids |= set(
            session.scalars(
                select(WaTemplate.id).where(
                    WaTemplate.channel_id == channel.id, WaTemplate.name.in_(names)
                )
            )
        )
    return {i for i in ids if i is not None}


def store_templates(
    session: Session, channel: Channel, infos: list[TemplateInfo], now: datetime, actor: str
) -> SyncReport:
    """Upsert what the provider listed; mark or delete what it no longer lists."""
    report = SyncReport(channel.name, total=len(infos))
    existing = {
        (t.name, t.language): t
        for t in session.scalars(select(WaTemplate).where(WaTemplate.channel_id == channel.id))
    }
    seen: set[tuple[str, str]] = set()
    for info in infos:
        key = (info.name, info.language)
        if key in seen:
            continue
        seen.add(key)
        text = body_text(info.components)
        values: dict[str, Any] = {
            "external_id": info.external_id,
            "category": info.category,
            "status": info.status,
            "parameter_format": info.parameter_format,
            "components": list(info.components),
            "param_names": parameter_names(text, info.parameter_format),
            "body_text": text,
        }
        row = existing.get(key)
        if row is None:
            session.add(
                WaTemplate(
                    channel_id=channel.id,
                    name=info.name,
                    language=info.language,
                    synced_at=now,
                    **values,
                )
            )
            report.created += 1
            continue
        if row.status != info.status:
            report.status_changes.append(
                f"{row.name} ({row.language}): {row.status} → {info.status}"
            )
        changed = False
        for attr, value in values.items():
            if getattr(row, attr) != value:
                setattr(row, attr, value)
                changed = True
        row.synced_at = now
        if changed:
            report.updated += 1
        else:
            report.unchanged += 1
    gone = [row for key, row in existing.items() if key not in seen]
    if gone:
        referenced = _referenced_ids(session, channel)
        for row in gone:
            if row.id in referenced:
                if row.status != GONE:
                    report.status_changes.append(
                        f"{row.name} ({row.language}): {row.status} → {GONE}"
                    )
                    row.status = GONE
                    row.synced_at = now
                    report.marked_gone += 1
            else:
                session.delete(row)
                report.deleted += 1
    session.flush()
    channel.templates_synced_at = now
    report.default_resolved = _resolve_default(session, channel)
    audit.record(
        session,
        audit.Event.TEMPLATES_SYNCED,
        actor,
        at=now,
        channel_id=channel.id,
        total=report.total,
        created=report.created,
        updated=report.updated,
        marked_gone=report.marked_gone or None,
        deleted=report.deleted or None,
        status_changes=report.status_changes or None,
        default_template=report.default_resolved,
    )
    return report


def split_template_ref(ref: str) -> tuple[str, str]:
    """``NAME:LANG`` → (name, language)."""
    name, sep, language = ref.strip().rpartition(":")
    if not sep or not name or not language:
        raise UsageError("templates.ref_syntax", ref=ref)
    return name.strip(), language.strip()


def _resolve_default(session: Session, channel: Channel) -> str | None:
    """A channel provisioned with ``settings.default_template = "NAME:LANG"`` gets it as its
    default once a sync has brought it in (and only while it is APPROVED)."""
    ref = (channel.settings or {}).get("default_template")
    if channel.default_template_id is not None or not ref:
        return None
    try:
        name, language = split_template_ref(str(ref))
    except UsageError:
        return None
    row = find_template(session, channel.id, name, language)
    if row is None or row.status != APPROVED:
        return None
    channel.default_template_id = row.id
    return f"{name}:{language}"


def find_template(session: Session, channel_id: int, name: str, language: str) -> WaTemplate | None:
    return session.scalar(
        select(WaTemplate).where(
            WaTemplate.channel_id == channel_id,
            WaTemplate.name == name,
            WaTemplate.language == language,
        )
    )


def current_template_status(session: Session, channel_id: int, name: str, language: str) -> str:
    """The status a template has now (``MISSING`` if we do not know it): checked at send time."""
    status = session.scalar(
        select(WaTemplate.status).where(
            WaTemplate.channel_id == channel_id,
            WaTemplate.name == name,
            WaTemplate.language == language,
        )
    )
    return status or MISSING


_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def render_template_preview(template: WaTemplate | TemplateInfo, params: Mapping[str, Any]) -> str:
    """The body as the client will read it; a parameter without a value stays ``{{name}}``."""
    text = (
        template.body_text if isinstance(template, WaTemplate) else body_text(template.components)
    )

    def fill(match: re.Match[str]) -> str:
        value = params.get(match.group(1))
        return str(value) if value not in (None, "") else match.group(0)

    return _PLACEHOLDER.sub(fill, text)


def template_rows(
    app: App, channel_name: str | None = None, approved_only: bool = False
) -> list[dict[str, Any]]:
    """Templates for the command line and the console, default template first."""
    with app.db.reader() as session:
        channels = wa_channels(session, channel_name)
        rows: list[dict[str, Any]] = []
        for channel in channels:
            stmt = select(WaTemplate).where(WaTemplate.channel_id == channel.id)
            if approved_only:
                stmt = stmt.where(WaTemplate.status == APPROVED)
            for t in session.scalars(stmt.order_by(WaTemplate.name, WaTemplate.language)):
                rows.append(
                    {
                        "channel": channel.name,
                        "name": t.name,
                        "language": t.language,
                        "category": t.category,
                        "status": t.status,
                        "parameter_format": t.parameter_format,
                        "params": list(t.param_names or []),
                        "body": t.body_text,
                        "default": t.id == channel.default_template_id,
                        "synced_at": t.synced_at.isoformat() if t.synced_at else None,
                    }
                )
    rows.sort(key=lambda r: (r["channel"], not r["default"], r["name"], r["language"]))
    return rows


#: The columns of :func:`template_rows` that :func:`filter_template_rows` can pick values of.
TEMPLATE_FILTERS = ("channel", "status", "category", "language")


def filter_template_rows(
    rows: Sequence[Mapping[str, Any]],
    picked: Mapping[str, Collection[str]],
    name_query: str = "",
) -> list[Mapping[str, Any]]:
    """Rows whose value is among the picked ones in every filtered column (an empty pick
    keeps all) and whose name contains ``name_query`` (case-insensitive)."""
    query = name_query.strip().lower()
    return [
        r
        for r in rows
        if all(not chosen or r[field] in chosen for field, chosen in picked.items())
        and (not query or query in str(r["name"]).lower())
    ]


# -- periodic sync ------------------------------------------------------------------------


def sync_interval(session: Session) -> timedelta:
    setting = session.get(AppSetting, SYNC_INTERVAL_KEY)
    try:
        minutes = float(setting.value) if setting is not None else DEFAULT_SYNC_MINUTES
    except (TypeError, ValueError):
        minutes = DEFAULT_SYNC_MINUTES
    return timedelta(minutes=max(1.0, minutes))


def set_sync_interval(app: App, minutes: int, actor: str) -> None:
    if minutes < 1:
        raise UsageError("templates.interval_invalid", minutes=minutes)
    with app.db.transaction() as session:
        authorize(session, actor, Permission.MANAGE_TEMPLATES)
        row = session.get(AppSetting, SYNC_INTERVAL_KEY)
        if row is None:
            row = AppSetting(key=SYNC_INTERVAL_KEY, value=minutes)
            session.add(row)
        row.value = minutes
        row.updated_by = actor
        row.updated_at = app.clock.now()
        audit.record(
            session, audit.Event.SETTINGS_CHANGED, actor, setting=SYNC_INTERVAL_KEY, value=minutes
        )


def sync_due_templates(app: App) -> list[SyncReport]:
    """The periodic job: sync every WhatsApp Business channel whose last sync is older than
    the interval (``templates.sync_interval_minutes``, default hourly). Several workers may
    run it; a sync is an idempotent upsert."""
    now = app.clock.now()
    with app.db.reader() as session:
        due_before = now - sync_interval(session)
        names = list(
            session.scalars(
                select(Channel.name).where(
                    Channel.kind == ChannelKind.WA_BUSINESS.value,
                    Channel.enabled.is_(True),
                    or_(
                        Channel.templates_synced_at.is_(None),
                        Channel.templates_synced_at <= due_before,
                    ),
                )
            )
        )
    reports: list[SyncReport] = []
    for name in names:
        try:
            reports += sync_templates(app, name, actor=WORKER)
        except ConfigError as exc:
            reports.append(SyncReport(name, error=exc.message("en")))
    return reports
