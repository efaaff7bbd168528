"""The validation report: one row per input row, safe to open in Excel (SPEC §5)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hde_core.domain.reasons import Action
from hde_core.i18n import t
from hde_core.lists.limits import unique_names
from hde_core.lists.report import write_table
from hde_core.services.lists.validation import ValidationResult


def report_header(result: ValidationResult, lang: str | None = None) -> list[str]:
    ours = [t(f"lists.report.{k}", lang) for k in ("row",)]
    tail = [
        t(f"lists.report.{k}", lang)
        for k in ("recipient", "channel", "code", "field", "message", "action")
    ]
    # a list column called "Код" must not hide ours
    return unique_names(ours + list(result.loaded.headers) + tail, casefold=False)


def report_rows(result: ValidationResult, lang: str | None = None) -> Iterator[list[str]]:
    actions = {a: t(f"action.{a.value}", lang) for a in Action}
    for row in result.iter_rows():
        yield [
            str(row.row_number),
            *(row.values[h] for h in result.loaded.headers),
            row.recipient or "",
            row.channel or "",
            row.reason.value,
            row.field or "",
            row.message(lang),
            actions[row.action] if row.action else "",
        ]


def write_report(result: ValidationResult, path: Path, lang: str | None = None) -> None:
    """One row per input row: row number, original values, normalised recipient, channel,
    code, field, message and action. ``.csv`` or ``.xlsx``; written whole or not at all."""
    write_table(Path(path), report_header(result, lang), report_rows(result, lang))
