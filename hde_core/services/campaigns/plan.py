"""Planning a bulk run (SPEC §4 ``hde send``): everything a launch checks before it
writes anything — the message, the list, the channels and one verdict per row (the bulk
wizard's check shows exactly this) — and the campaign key.

Placeholders ``{{ column }}`` (or ``{{ row["any column"] }}``) take each row's values in
the subject, the body and the template parameters; templates are compiled once per launch.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from hde_core.bootstrap import App
from hde_core.db.models import (
    Channel,
    CustomField,
    Department,
    NotificationTemplate,
    WaTemplate,
)
from hde_core.domain.channels import ChannelKind
from hde_core.domain.statuses import MessageStatus
from hde_core.domain.tickets import NotificationKind, Priority, decide_notification
from hde_core.errors import UsageError
from hde_core.services import rendering
from hde_core.services.channels import channel_by_name
from hde_core.services.lists import (
    LoadedList,
    ValidationResult,
    load_list,
    validate_list,
)

S = MessageStatus


#: Names a placeholder may use besides the list's columns.
CONTEXT_NAMES = frozenset({"row", "contact", "ticket", "agent"})


@dataclass
class SendRequest:
    source: Path | bytes
    channels: Sequence[str]
    subject: str | None
    body: str | None
    filename: str | None = None
    sheet: str | None = None
    mapping: Mapping[str, str] | None = None
    template: str | None = None
    #: WhatsApp Business template parameter → list column.
    params: Mapping[str, str] = field(default_factory=dict)
    campaign_key: str | None = None
    name: str | None = None
    scheduled_at: datetime | None = None
    department: str | None = None
    priority: str | None = None
    dry_run: bool = False


# -- rendering, compiled once per launch -------------------------------------------------


def render(source: str, context: Mapping[str, Any]) -> str:
    return rendering.compiled(source).render(context)


def render_email(subject: str, body: str, context: Mapping[str, Any]) -> rendering.RenderedEmail:
    """What :func:`rendering.render_email` gives, without compiling the template per row."""
    text, html = rendering.render_text_and_html(body, context)
    return rendering.RenderedEmail(
        subject=" ".join(render(subject, context).split()),
        text=text,
        html=rendering.html_email(html),
    )


def row_context(values: Mapping[str, str]) -> dict[str, Any]:
    """Placeholders of one row: each column by name, and ``row`` for any column name."""
    context: dict[str, Any] = {k: v for k, v in values.items() if k.isidentifier()}
    context["row"] = dict(values)
    return context


def placeholders(*sources: str | None) -> set[str]:
    names: set[str] = set()
    for source in sources:
        if source:
            names |= rendering.template_variables(source)
    return names


# -- planning ----------------------------------------------------------------------------


@dataclass
class ChannelPlan:
    channel: Channel
    kind: ChannelKind
    department: Department | None = None
    notification: NotificationTemplate | None = None
    template: WaTemplate | None = None  # wa_business: the campaign's or the default template


@dataclass
class Plan:
    request: SendRequest
    loaded: LoadedList
    channels: dict[int, ChannelPlan]
    required_fields: tuple[str, ...]
    key: str
    custom_fields: list[str]


def _check_syntax(what: str, source: str | None) -> None:
    if not source:
        return
    problem = rendering.syntax_problem(source)
    if problem is not None and problem.placeholder:
        raise UsageError(
            "campaigns.error.placeholder_name",
            what=what,
            placeholder=problem.placeholder,
            fix=problem.fix,
        )
    if problem is not None:
        raise UsageError(
            "campaigns.error.placeholder_syntax", what=what, line=problem.line, error=problem.error
        )


def plan_launch(
    app: App, req: SendRequest, progress: Callable[[int, int], None] | None = None
) -> tuple[Plan, ValidationResult]:
    """Everything a launch checks before it writes anything: the message, the list, the
    channels and one verdict per row (the bulk wizard's check shows exactly this)."""
    check_message(req)
    loaded = load_list(app, req.source, filename=req.filename, sheet=req.sheet, mapping=req.mapping)
    plan = plan_message(app, req, loaded)
    result = validate_plan(app, plan, loaded, progress=progress)
    plan.key = req.campaign_key or default_key(loaded, req, list(plan.channels))
    return plan, result


def check_message(req: SendRequest) -> None:
    """The message itself, before the list is read (a typo is explained first)."""
    if not (req.subject or "").strip():
        raise UsageError("campaigns.error.subject_required")
    if not (req.body or "").strip():
        raise UsageError("campaigns.error.body_required")
    if req.priority is not None and req.priority not in {p.value for p in Priority}:
        raise UsageError("campaigns.error.priority", choices=", ".join(p.value for p in Priority))
    _check_syntax("subject", req.subject)
    _check_syntax("body", req.body)
    if req.params and not req.template:
        raise UsageError("campaigns.error.params_without_template")


def plan_message(app: App, req: SendRequest, loaded: LoadedList) -> Plan:
    """The message against the list's columns, and each channel's plan (sender, notification
    template, WhatsApp template); the campaign key is left empty."""
    headers = set(loaded.headers)
    unknown = sorted(placeholders(req.subject, req.body) - headers - CONTEXT_NAMES)
    if unknown:
        raise UsageError(
            "campaigns.error.unknown_placeholder",
            name=unknown[0],
            headers=", ".join(loaded.headers),
        )
    for param, column in req.params.items():
        if column not in headers:
            raise UsageError(
                "campaigns.error.unknown_param_column",
                param=param,
                column=column,
                headers=", ".join(loaded.headers),
            )
    with app.db.reader() as session:
        plans: dict[int, ChannelPlan] = {}
        for name in _channel_names(req.channels):
            channel = channel_by_name(session, name)
            plans[channel.id] = _channel_plan(session, req, channel)
        custom = list(session.scalars(select(CustomField).order_by(CustomField.key)))
    required = sorted(placeholders(req.subject, req.body) & headers)
    required += [c for c in req.params.values() if c not in required]
    required += [f.key for f in custom if f.required and f.key not in required]
    custom_keys = [f.key for f in custom if f.key in headers]
    return Plan(req, loaded, plans, tuple(required), "", custom_keys)


def validate_plan(
    app: App,
    plan: Plan,
    loaded: LoadedList,
    progress: Callable[[int, int], None] | None = None,
) -> ValidationResult:
    """One verdict per row of ``loaded`` (the plan's list, or a slice of it)."""
    messengers = any(p.kind != ChannelKind.EMAIL for p in plan.channels.values())
    return validate_list(
        app,
        loaded,
        [p.channel.name for p in plan.channels.values()],
        required_fields=plan.required_fields,
        progress=progress,
        text_lengths=message_lengths(loaded, plan.request.body or "") if messengers else None,
    )


def ticket_text(req: SendRequest, values: Mapping[str, str]) -> tuple[str, str]:
    """A row's ticket subject and body: the request's, with the row's placeholders filled
    (what the launch stores and what the notification template then wraps)."""
    context = row_context(values)
    return (
        " ".join(render(req.subject or "", context).split()),
        render(req.body or "", context).strip(),
    )


def message_lengths(loaded: LoadedList, body: str) -> np.ndarray:
    """The length of each row's messenger text, rendered exactly as the launch renders the
    ticket body it sends; a body without placeholders is rendered once."""
    if not placeholders(body):
        return np.full(loaded.row_count, len(render(body, {}).strip()), dtype=np.int64)
    template = rendering.compiled(body)
    return np.fromiter(
        (
            len(template.render(row_context({k: str(v) for k, v in values.items()})).strip())
            for values in loaded.iter_rows()
        ),
        dtype=np.int64,
        count=loaded.row_count,
    )


def _channel_names(channels: Sequence[str]) -> list[str]:
    from hde_core.services.lists import parse_channels

    return parse_channels(channels)


def _channel_plan(session: Session, req: SendRequest, channel: Channel) -> ChannelPlan:
    kind = ChannelKind(channel.kind)
    plan = ChannelPlan(channel, kind)
    if kind == ChannelKind.EMAIL:
        if req.department:
            plan.department = session.scalar(
                select(Department).where(Department.name == req.department)
            )
            if plan.department is None:
                known = ", ".join(session.scalars(select(Department.name))) or "—"
                raise UsageError(
                    "campaigns.error.department_not_found", name=req.department, known=known
                )
        elif channel.department_id:
            plan.department = session.get(Department, channel.department_id)
        if plan.department is None:
            raise UsageError("campaigns.error.department_required", channel=channel.name)
        templates = {
            NotificationKind(t.kind): t
            for t in session.scalars(
                select(NotificationTemplate).where(NotificationTemplate.enabled.is_(True))
            )
        }
        decision = decide_notification(kind, True, False, templates)
        if decision.skip_reason:
            raise UsageError("campaigns.error.notification_disabled", channel=channel.name)
        plan.notification = templates[decision.kind]
    elif kind == ChannelKind.WA_BUSINESS:
        if req.template:
            name, _, language = req.template.partition(":")
            stmt = select(WaTemplate).where(
                WaTemplate.channel_id == channel.id,
                WaTemplate.name == name,
                WaTemplate.status == "APPROVED",
            )
            if language:
                stmt = stmt.where(WaTemplate.language == language)
            plan.template = session.scalars(stmt.limit(1)).first()
            if plan.template is None:
                raise UsageError(
                    "campaigns.error.template_not_approved",
                    template=req.template,
                    channel=channel.name,
                )
            missing = [p for p in plan.template.param_names if p not in req.params]
            if missing:
                raise UsageError(
                    "campaigns.error.template_params_missing",
                    template=req.template,
                    params=", ".join(missing),
                )
        elif channel.default_template_id:
            plan.template = session.get(WaTemplate, channel.default_template_id)
    return plan


def default_key(loaded: LoadedList, req: SendRequest, channel_ids: list[int]) -> str:
    """Same file, channels and message → same campaign (so a relaunch resumes it)."""
    digest = hashlib.sha256()
    source = req.source if isinstance(req.source, bytes) else Path(req.source).read_bytes()
    digest.update(source)
    digest.update(
        json.dumps(
            [
                channel_ids,
                req.subject,
                req.body,
                req.template,
                sorted(req.params.items()),
                req.department,
                loaded.mapping,
            ],
            ensure_ascii=False,
        ).encode()
    )
    return "c-" + digest.hexdigest()[:16]
