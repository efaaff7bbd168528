"""The ru/en catalogue. Every user-facing string goes through :func:`t`.

Strings live in ``ru.toml`` and ``en.toml`` (same keys; a test checks it).
Russian is the default (``HDE_LANG``); a missing key falls back to English,
then to the key itself, so a forgotten string is visible but never crashes.
"""

from __future__ import annotations

import os
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

LANGS = ("ru", "en")
_DIR = Path(__file__).resolve().parent


def _flatten(prefix: str, node: dict[str, Any], out: dict[str, str]) -> None:
    for key, value in node.items():
        full = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            _flatten(full, value, out)
        else:
            out[full] = str(value)


@cache
def catalogue(lang: str) -> dict[str, str]:
    with open(_DIR / f"{lang}.toml", "rb") as fh:
        data = tomllib.load(fh)
    out: dict[str, str] = {}
    _flatten("", data, out)
    return out


def default_lang() -> str:
    lang = os.environ.get("HDE_LANG", "ru").strip().lower()
    return lang if lang in LANGS else "ru"


class _SafeDict(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class Phrase:
    """A parameter said in the language of the message it goes into (``t`` renders it):
    ``t("x", names=Phrase("lists.names_more", names="a, b", count=3))``."""

    def __init__(self, key: str, **params: Any) -> None:
        self.key = key
        self.params = params

    def __str__(self) -> str:
        return t(self.key, "en", **self.params)


def t(key: str, lang: str | None = None, **params: Any) -> str:
    lang = lang if lang in LANGS else default_lang()
    text = catalogue(lang).get(key) or catalogue("en").get(key) or key
    if not params:
        return text
    said = {
        k: t(v.key, lang, **v.params) if isinstance(v, Phrase) else v for k, v in params.items()
    }
    return text.format_map(_SafeDict(said))
