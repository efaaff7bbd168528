"""The ru/en catalogue. Every user-facing string goes through :func:`t`.

Strings live in ``ru.toml`` and ``en.toml`` (same keys; a test checks it).
Russian is the default (``HDE_LANG``); a missing key falls back to English,
then to the key itself, so a forgotten string is visible but never crashes.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
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


#: Which face is speaking now ("console" or None), asked on every lookup: a face may say a
#: message its own way (``[console_face]`` holds the console's words for messages whose
#: command-line wording names flags such as ``--acknowledge-risk``, issue 16.8).
_face_probe: Callable[[], str | None] | None = None


def set_face_probe(probe: Callable[[], str | None] | None) -> None:
    """The console registers a probe that answers "console" inside its script runs (so the
    command line in the same process, e.g. in tests, keeps its own words)."""
    global _face_probe
    _face_probe = probe


def _lookup(key: str, lang: str) -> str | None:
    face = _face_probe() if _face_probe is not None else None
    if face:
        faced = f"{face}_face.{key}"
        text = catalogue(lang).get(faced) or catalogue("en").get(faced)
        if text:
            return text
    return catalogue(lang).get(key) or catalogue("en").get(key)


def t(key: str, lang: str | None = None, **params: Any) -> str:
    lang = lang if lang in LANGS else default_lang()
    text = _lookup(key, lang) or key
    if not params:
        return text
    said = {
        k: t(v.key, lang, **v.params) if isinstance(v, Phrase) else v for k, v in params.items()
    }
    return text.format_map(_SafeDict(said))
