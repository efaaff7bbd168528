"""Plain words from adapters that a service can say again in the deployment's language.

Adapters explain provider answers for people ("Telegram refused the bot token …").
They do not know the app's language, so they return :class:`Words`: a string rendered
in the default language that still knows its catalogue key, so services that do know
(``app.lang``) render it again with :func:`in_language`.
"""

from __future__ import annotations

from typing import Any

from hde_core import i18n


class Words(str):
    key: str
    params: dict[str, Any]

    def __new__(cls, key: str, **params: Any) -> Words:
        text = super().__new__(cls, i18n.t(key, **params))
        text.key = key
        text.params = params
        return text

    def render(self, lang: str | None) -> str:
        return i18n.t(self.key, lang=lang, **self.params)


def in_language(text: str, lang: str | None) -> str:
    return text.render(lang) if isinstance(text, Words) else str(text)


def t(key: str, **params: Any) -> Words:
    """Like :func:`hde_core.i18n.t` (same catalogue, same default language), but the
    result remembers its key so a service can render it in the app's language."""
    return Words(key, **params)
