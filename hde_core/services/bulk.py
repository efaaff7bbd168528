"""The bulk outreach wizard's side of the core (issue 7 §4; SPEC §5, R9, R13), up to the
launch (which is :mod:`hde_core.services.bulk_runs`).

The console's wizard page only draws what these functions return, so a 100,000-row list
never travels to the browser row by row and never sits in a user's session:

- an upload is saved under ``data/uploads/<id>/``; the session keeps its path only;
- reading, mapping and validation are the list engine's (whole columns at once), and the
  verdicts are :mod:`hde_core.services.campaigns` planning's own — the very rows a launch
  would create; the last few results stay in this process for a short while, keyed by the
  wizard's draft, so redrawing the page does not compute them again;
- the page asks for counts per reason, one page of rows, the cost of the template messages
  and a report file written on demand.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import pyarrow as pa
from sqlalchemy import select

from hde_core.bootstrap import App
from hde_core.db.models import Channel, Department, WaTemplate
from hde_core.domain.channels import ChannelKind
from hde_core.domain.reasons import Action, Reason
from hde_core.errors import InputError
from hde_core.i18n import t
from hde_core.lists.columns import ROLES
from hde_core.lists.engine import ACTIONS, REASONS
from hde_core.services import campaigns
from hde_core.services.channels import channel_state
from hde_core.services.lists import (
    LoadedList,
    ValidationResult,
    load_list,
    report_header,
    save_mapping,
    write_report,
)
from hde_core.services.pricing import Estimate, estimate_templates
from hde_core.services.rendering import SyntaxProblem, syntax_problem
from hde_core.services.templates import render_template_preview

UPLOADS_DIR = "uploads"
#: Uploaded lists (and their reports) older than this go when a new list is uploaded.
KEEP_UPLOADS_SECONDS = 7 * 86400
PREVIEW_ROWS = 20
PAGE_SIZE = 50
#: How long a validation result is reused while the draft does not change.
CHECK_TTL_SECONDS = 300.0

_ELIGIBLE = REASONS.index(Reason.ELIGIBLE)
_TEMPLATE_ACTIONS = np.array(
    [ACTIONS.index(Action.TEMPLATE_THEN_HOLD), ACTIONS.index(Action.TEMPLATE_THEN_SEND)]
)


# -- a small in-process cache (results are big: they never go into a session) ------------

K = TypeVar("K")
V = TypeVar("V")


class _Recent(Generic[K, V]):
    """The last ``size`` values, each for ``ttl`` seconds; safe across the console's threads."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size, self.ttl = size, ttl
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or time.monotonic() - item[0] > self.ttl:
                self._items.pop(key, None)
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: K, value: V) -> V:
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


# -- 1. upload ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """A list saved on the server; the session keeps this (a path), never the rows."""

    id: str
    name: str
    path: str
    size: int


def uploads_dir(app: App) -> Path:
    return app.settings.data_dir / UPLOADS_DIR


def store_upload(app: App, name: str, data: bytes) -> Upload:
    """Save an uploaded list (whole or not at all). Raises :class:`InputError` when it is over
    ``HDE_UPLOAD_LIMIT_MB``; old uploads are cleared out on the way."""
    limit = app.settings.upload_limit_mb
    if len(data) > limit * 1024 * 1024:
        raise InputError(
            "lists.error.too_large", name=name, size=f"{len(data) / 1024 / 1024:.0f}", limit=limit
        )
    root = uploads_dir(app)
    root.mkdir(parents=True, exist_ok=True)
    prune_uploads(root)
    upload_id = uuid.uuid4().hex
    folder = root / upload_id
    folder.mkdir()
    path = folder / safe_file_name(name)
    partial = folder / ".partial"
    partial.write_bytes(data)
    os.replace(partial, path)
    return Upload(upload_id, name, str(path), len(data))


def safe_file_name(name: str) -> str:
    """The file's own name without folders or characters a file system may refuse."""
    base = re.sub(r"[^\w.\- ()]+", "_", Path(name.replace("\\", "/")).name).strip(" .")
    return (base or "list.csv")[-120:]


def prune_uploads(root: Path, older_than: float = KEEP_UPLOADS_SECONDS) -> int:
    """Remove upload folders older than ``older_than`` seconds; returns how many."""
    cutoff = time.time() - older_than
    removed = 0
    for folder in root.iterdir() if root.is_dir() else ():
        try:
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


# -- 2. preview and 3. mapping -----------------------------------------------------------


@dataclass(frozen=True)
class ListFacts:
    """What the preview shows about a list as read."""

    name: str
    format: str  # "csv" | "xlsx"
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    rows: int
    headers: tuple[str, ...]
    #: role → column: this shape's saved mapping, else the one suggested by the headers.
    mapping: dict[str, str]
    mapping_source: str  # "saved" | "suggested"


_LOADED: _Recent[tuple[str, tuple[tuple[str, str], ...]], LoadedList] = _Recent(4, 600.0)


def full_mapping(mapping: Mapping[str, str | None]) -> tuple[tuple[str, str], ...]:
    """Every role, ``""`` for a role with no column: one hashable form of a mapping."""
    return tuple((role, mapping.get(role) or "") for role in ROLES)


def inspect_upload(app: App, upload: Upload) -> ListFacts:
    """Read the list (encoding and delimiter detected) and map its columns. Raises
    :class:`InputError` in plain words for a file that is not a contact list."""
    loaded = load_list(app, Path(upload.path), filename=upload.name)
    _LOADED.put((upload.path, full_mapping(loaded.mapping)), loaded)
    return ListFacts(
        name=upload.name,
        format=loaded.format,
        encoding=loaded.encoding,
        delimiter=loaded.delimiter,
        sheet=loaded.sheet,
        rows=loaded.row_count,
        headers=tuple(loaded.headers),
        mapping=dict(loaded.mapping),
        mapping_source="saved" if loaded.mapping_source.startswith("saved") else "suggested",
    )


def loaded_list(app: App, upload: Upload, mapping: Mapping[str, str | None]) -> LoadedList:
    key = (upload.path, full_mapping(mapping))
    found = _LOADED.get(key)
    if found is None:
        found = load_list(app, Path(upload.path), filename=upload.name, mapping=dict(key[1]))
        _LOADED.put(key, found)
    return found


def preview_rows(
    app: App, upload: Upload, mapping: Mapping[str, str | None], limit: int = PREVIEW_ROWS
) -> list[dict[str, str]]:
    """The first rows, as read (every cell text)."""
    loaded = loaded_list(app, upload, mapping)
    return [{k: str(v) for k, v in row.items()} for row in loaded.table.slice(0, limit).to_pylist()]


def remember_mapping(
    app: App, upload: Upload, mapping: Mapping[str, str | None], actor: str
) -> None:
    """Save the confirmed mapping: the next list of this shape maps itself."""
    loaded = loaded_list(app, upload, mapping)
    save_mapping(app, loaded, {r: c for r, c in full_mapping(mapping) if c}, actor)


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


# -- 6. the draft and its check (validation report and cost) ------------------------------


@dataclass(frozen=True)
class Draft:
    """Everything the wizard collected; small and hashable (it may sit in a session)."""

    upload: Upload
    mapping: tuple[tuple[str, str], ...]
    channels: tuple[str, ...]
    subject: str
    body: str
    department: str | None = None
    priority: str | None = None
    template: str | None = None  # NAME:LANG; None: each channel's default template
    params: tuple[tuple[str, str], ...] = ()

    @property
    def fingerprint(self) -> str:
        data = [
            self.upload.path,
            self.mapping,
            self.channels,
            self.subject,
            self.body,
            self.department,
            self.priority,
            self.template,
            self.params,
        ]
        return hashlib.sha256(json.dumps(data, ensure_ascii=False).encode()).hexdigest()[:16]

    def request(self, **extra: Any) -> campaigns.SendRequest:
        return campaigns.SendRequest(
            source=Path(self.upload.path),
            filename=self.upload.name,
            channels=list(self.channels),
            subject=self.subject,
            body=self.body,
            mapping=dict(self.mapping),
            template=self.template,
            params=dict(self.params),
            department=self.department,
            priority=self.priority,
            **extra,
        )


def make_draft(
    upload: Upload,
    mapping: Mapping[str, str | None],
    channels: Sequence[str],
    subject: str,
    body: str,
    *,
    department: str | None = None,
    priority: str | None = None,
    template: str | None = None,
    params: Mapping[str, str] | None = None,
) -> Draft:
    return Draft(
        upload=upload,
        mapping=full_mapping(mapping),
        channels=tuple(channels),
        subject=subject,
        body=body,
        department=department or None,
        priority=priority or None,
        template=template or None,
        params=tuple(sorted((params or {}).items())) if template else (),
    )


@dataclass
class Check:
    """A draft's validation (every row's verdict) and what it will cost."""

    draft: Draft
    #: The campaign key a launch of this draft gets (same file, channels, message → same).
    key: str
    result: ValidationResult
    summary: dict[str, Any]
    #: Eligible rows per channel name (R9: the first eligible channel of the list wins).
    per_channel: dict[str, int]
    template_messages: int
    estimate: Estimate

    @property
    def loaded(self) -> LoadedList:
        return self.result.loaded


_CHECKS: _Recent[str, Check] = _Recent(4, CHECK_TTL_SECONDS)


def check(app: App, draft: Draft) -> Check:
    """Validate the draft exactly as a launch would (same planning, same verdicts). Raises
    :class:`UsageError`/:class:`InputError` in plain words for a draft that cannot be sent
    (an unknown placeholder, a template not approved, no column to reach a channel by …)."""
    found = _CHECKS.get(draft.fingerprint)
    if found is not None:
        return found
    plan, result = campaigns.plan_launch(app, draft.request())
    eligible = result.reason_codes == _ELIGIBLE
    per_channel_counts = np.bincount(result.chosen[eligible], minlength=len(result.channels))
    template_rows = eligible & np.isin(result.action_codes, _TEMPLATE_ACTIONS)
    items: list[tuple[str, str]] = []
    for index, info in enumerate(result.channels):
        rows = np.flatnonzero(template_rows & (result.chosen == index))
        if not len(rows):
            continue
        template = plan.channels[info.id].template
        category = template.category if template is not None else "unknown"
        phones = result.recipients[index].values.take(pa.array(rows)).to_pylist()
        items += [(str(p), category) for p in phones]
    with app.db.reader() as session:
        estimate = estimate_templates(session, items)
    found = Check(
        draft=draft,
        key=plan.key,
        result=result,
        summary=result.summary(),
        per_channel={
            info.name: int(per_channel_counts[i]) for i, info in enumerate(result.channels)
        },
        template_messages=int(np.count_nonzero(template_rows)),
        estimate=estimate,
    )
    return _CHECKS.put(draft.fingerprint, found)


@dataclass(frozen=True)
class ReasonLine:
    code: str
    field: str | None
    count: int
    text: str  # in plain words


def reason_lines(found: Check, lang: str | None = None) -> list[ReasonLine]:
    """Rows that will not be sent, counted per reason (``missing_field`` per field), most
    frequent first."""
    result = found.result
    counts = np.bincount(result.reason_codes, minlength=len(REASONS))
    lines: list[ReasonLine] = []
    missing = REASONS.index(Reason.MISSING_FIELD)
    for code, reason in enumerate(REASONS):
        if code == _ELIGIBLE or not counts[code]:
            continue
        if code == missing:
            fields = result.field_codes[result.reason_codes == missing]
            per_field = np.bincount(fields[fields >= 0], minlength=len(result.required_fields))
            for i, name in enumerate(result.required_fields):
                if per_field[i]:
                    text = t("reason.missing_field", lang, field=name)
                    lines.append(ReasonLine(reason.value, name, int(per_field[i]), text))
            continue
        lines.append(
            ReasonLine(reason.value, None, int(counts[code]), t(f"reason.{reason.value}", lang))
        )
    lines.sort(key=lambda line: (-line.count, line.code, line.field or ""))
    return lines


@dataclass(frozen=True)
class ActionLine:
    action: str
    count: int
    text: str


def action_lines(found: Check, lang: str | None = None) -> list[ActionLine]:
    """Rows that will be sent, counted per action (send / template first …)."""
    actions = found.result.action_codes[found.result.reason_codes == _ELIGIBLE]
    counts = np.bincount(actions[actions >= 0], minlength=len(ACTIONS))
    return [
        ActionLine(a.value, int(counts[i]), t(f"action.{a.value}", lang))
        for i, a in enumerate(ACTIONS)
        if counts[i]
    ]


SHOW_ALL, SHOW_ELIGIBLE, SHOW_PROBLEMS = "all", "eligible", "problems"


def show_options(found: Check) -> list[str]:
    """Row filters for the report table: all, eligible, problems, then each reason present."""
    present = [line.code for line in reason_lines(found)]
    return [SHOW_ALL, SHOW_ELIGIBLE, SHOW_PROBLEMS, *dict.fromkeys(present)]


@dataclass(frozen=True)
class RowsPage:
    columns: list[str]
    rows: list[list[str]]
    page: int  # 1-based, clamped to what exists
    pages: int
    matching: int  # rows that pass the filter

    def records(self) -> list[dict[str, str]]:
        """The page as table records (column names are unique: see ``report_header``)."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def rows_page(
    found: Check,
    show: str = SHOW_ALL,
    page: int = 1,
    size: int = PAGE_SIZE,
    lang: str | None = None,
) -> RowsPage:
    """One page of the report table: only these rows are materialised."""
    result = found.result
    codes = result.reason_codes
    if show == SHOW_ELIGIBLE:
        index = np.flatnonzero(codes == _ELIGIBLE)
    elif show == SHOW_PROBLEMS:
        index = np.flatnonzero(codes != _ELIGIBLE)
    elif show == SHOW_ALL:
        index = np.arange(len(codes))
    else:
        index = np.flatnonzero(codes == REASONS.index(Reason(show)))
    pages = max(1, math.ceil(len(index) / size))
    page = min(max(1, page), pages)
    chosen = index[(page - 1) * size : page * size]
    header = report_header(result, lang)
    n_cols = len(result.loaded.headers)
    # what a team lead reads first: the row, the verdict, where it goes; then the list's own
    # columns (the report's names: row, list…, recipient, channel, code, field, message, action)
    order = [0, n_cols + 5, n_cols + 6, n_cols + 1, n_cols + 2, *range(1, n_cols + 1)]
    columns = [header[i] for i in order]
    values = result.loaded.table.take(pa.array(chosen, type=pa.int64())).to_pylist()
    actions = {a: t(f"action.{a.value}", lang) for a in Action}
    rows: list[list[str]] = []
    for i, row in zip(chosen.tolist(), values, strict=True):
        c = int(result.chosen[i])
        reason = REASONS[int(codes[i])]
        f = int(result.field_codes[i])
        a = int(result.action_codes[i])
        recipient = result.recipients[c].values[i].as_py()
        rows.append(
            [
                str(i + 1),
                t(
                    f"reason.{reason.value}",
                    lang,
                    field=result.required_fields[f] if f >= 0 else "",
                ),
                actions[ACTIONS[a]] if a >= 0 else "",
                recipient or "",
                result.channels[c].name,
                *(str(row[h]) for h in result.loaded.headers),
            ]
        )
    return RowsPage(columns, rows, page, pages, len(index))


def validation_report(app: App, draft: Draft, fmt: str, lang: str | None = None) -> Path:
    """Write the validation report (one row per input row, safe for Excel) next to the
    upload; ``fmt`` is ``csv`` or ``xlsx``."""
    found = check(app, draft)
    path = Path(draft.upload.path).parent / f"report-{draft.fingerprint}-{lang or 'ru'}.{fmt}"
    write_report(found.result, path, lang)
    return path


def report_file_name(upload: Upload, fmt: str, what: str = "report") -> str:
    return f"{Path(safe_file_name(upload.name)).stem}-{what}.{fmt}"


def money(value: Decimal) -> str:
    """A cost as the console shows it: two decimals at least, four at most."""
    text = f"{value:.4f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def forget_cached() -> None:
    """Drop cached lists and checks (tests; a team lead's "check again")."""
    _LOADED.clear()
    _CHECKS.clear()
