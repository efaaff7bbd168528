"""The wizard's step 6: the draft, its check (verdicts per row, reasons, cost) and its report."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from hde_core.bootstrap import App
from hde_core.domain.channels import ChannelKind
from hde_core.domain.reasons import Action, Reason
from hde_core.i18n import t
from hde_core.lists.engine import ACTIONS, REASONS
from hde_core.services import campaigns
from hde_core.services.bulk.cache import _Recent
from hde_core.services.bulk.uploads import (
    _LOADED,
    Upload,
    full_mapping,
)
from hde_core.services.lists import (
    LoadedList,
    ValidationResult,
    report_header,
    write_report,
)
from hde_core.services.lists.validation import reason_text
from hde_core.services.pricing import Estimate, estimate_templates

PAGE_SIZE = 50
#: How long a validation result is reused while the draft does not change.
CHECK_TTL_SECONDS = 300.0

_ELIGIBLE = REASONS.index(Reason.ELIGIBLE)
_TEMPLATE_ACTIONS = np.array(
    [ACTIONS.index(Action.TEMPLATE_THEN_HOLD), ACTIONS.index(Action.TEMPLATE_THEN_SEND)]
)


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
    duplicate_of = result.duplicate_of()
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
                reason_text(
                    reason,
                    lang,
                    result.required_fields[f] if f >= 0 else None,
                    int(duplicate_of[i]) or None,
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


def cost_note(found: Check, lang: str | None = None) -> str:
    """Why a run sends no paid template, in words that match what was picked: no WhatsApp
    Business in the run, or it is there and nobody needs a template on it."""
    wa = [c for c in found.result.channels if c.kind == ChannelKind.WA_BUSINESS]
    if not wa:
        return t("bulk.cost_note.no_wa", lang)
    names = ", ".join(c.name for c in wa)
    reached = sum(found.per_channel.get(c.name, 0) for c in wa)
    if not reached:
        return t("bulk.cost_note.wa_unused", lang, channel=names)
    return t("bulk.cost_note.windows_open", lang, channel=names, count=reached)


def money(value: Decimal) -> str:
    """A cost as the console shows it: two decimals at least, four at most."""
    text = f"{value:.4f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def forget_cached() -> None:
    """Drop cached lists and checks (tests; a team lead's "check again")."""
    _LOADED.clear()
    _CHECKS.clear()
