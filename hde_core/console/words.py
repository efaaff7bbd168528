"""Plain words for the codes the console would otherwise show (issue 16.8): a provider, a
credential's field, a template's status and category, a file's encoding. An unknown code is
shown as it is rather than as a missing catalogue key."""

from __future__ import annotations

from hde_core.console import current_lang
from hde_core.i18n import catalogue, t


def say(table: str, code: object) -> str:
    """``words.<table>.<code>`` in the user's language, else the code itself."""
    key = f"words.{table}.{code}"
    lang = current_lang()
    if key in catalogue(lang) or key in catalogue("en"):
        return t(key, lang)
    return str(code)


def provider(code: str) -> str:
    return say("provider", code)


def credential(field: str) -> str:
    return say("credential", field)


def template_status(status: str) -> str:
    return say("template_status", status)


def template_category(category: str) -> str:
    return say("template_category", category)


def encoding(codec: str | None) -> str:
    return say("encoding", (codec or "").lower()) if codec else "—"
