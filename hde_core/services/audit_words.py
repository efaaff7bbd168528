"""Audit events said as sentences (issue 16.8): what a team lead reads in a ticket's trail
instead of ``author=agent, channel=email, …``.

An event's data is a small dict written by the step that happened. Each key becomes a
clause in the reader's language (``audit_detail.<key>``, or ``audit_detail.<event>.<key>``
where one event means something else by it), in the order below; code values (an author,
a message kind, an error class, a role…) are said in words (``audit_value.<key>.<value>``
or the table the rest of the console uses for them). A key nobody described yet is still
shown, in plain form, so the trail never loses a fact.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hde_core.i18n import LANGS, catalogue, default_lang, t

#: Clause order: what happened to whom first, then how, then technical facts.
ORDER = (
    "channel",
    "recipient",
    "kind",
    "template",
    "mailbox",
    "department",
    "priority",
    "assignee",
    "author",
    "send_email",
    "row",
    "reason",
    "setting",
    "login",
    "role_before",
    "role",
    "active",
    "enabled",
    "risk_acknowledged",
    "key",
    "source",
    "channels",
    "was",
    "rows",
    "error_class",
    "code",
    "text",
    "attempt",
    "attempts_exhausted",
    "retry_in_seconds",
    "provider_message_id",
    "template_message_id",
    "ok",
    "detail",
    "previous",
    "url",
)

#: Where the words for a code value live when the rest of the console already says them.
VALUE_TABLES: dict[str, str] = {
    "priority": "priority",
    "role": "role",
    "role_before": "role",
    "error_class": "campaigns_page.error_class",
    "was": "campaign_status",
    "previous": "channel_status",
}


def _has(key: str, lang: str) -> bool:
    return key in catalogue(lang) or key in catalogue("en")


def _value(event: str, key: str, value: Any, lang: str) -> str:
    if isinstance(value, bool):
        return t("audit_value.yes" if value else "audit_value.no", lang)
    if isinstance(value, list | tuple):
        return ", ".join(_value(event, key, v, lang) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_value(event, key, v, lang)}" for k, v in value.items())
    text = str(value)
    for candidate in (
        f"audit_value.{event}.{key}.{text}",
        f"audit_value.{key}.{text}",
        f"{VALUE_TABLES.get(key, '')}.{text}",
    ):
        if _has(candidate, lang):
            return t(candidate, lang)
    return text


def _clause(event: str, key: str, value: Any, lang: str) -> str:
    said = _value(event, key, value, lang)
    for candidate in (f"audit_detail.{event}.{key}", f"audit_detail.{key}"):
        if _has(candidate, lang):
            return t(candidate, lang, value=said)
    return t("audit_detail.other", lang, name=key.replace("_", " "), value=said)


def describe(event: str, data: Mapping[str, Any], lang: str | None = None) -> str:
    """The details of one event as a sentence ("" when it has none)."""
    lang = lang if lang in LANGS else default_lang()
    keys = [k for k in ORDER if k in data] + sorted(k for k in data if k not in ORDER)
    clauses = [_clause(event, k, data[k], lang) for k in keys if data[k] not in (None, "")]
    if not clauses:
        return ""
    sentence = "; ".join(clauses)
    return sentence[0].upper() + sentence[1:] + ("" if sentence.endswith(".") else ".")


def actor_words(actor: str, lang: str | None = None) -> str:
    """Who did it: a person's login as it is, the product's own parts in words."""
    lang = lang if lang in LANGS else default_lang()
    key = f"audit_value.actor.{actor}"
    return t(key, lang) if _has(key, lang) else actor
