"""Why a settings form cannot be saved: one plain-words problem per field, and the
audit row every settings change writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from hde_core.errors import InputError
from hde_core.i18n import t
from hde_core.services import audit

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
    "imap_url",
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
