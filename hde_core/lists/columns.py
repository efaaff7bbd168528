"""Which column holds the email, the phone, the Telegram, the Viber id and the name.

Exports name their columns in Russian or English, with dots, dashes and decorations
("Эл. почта", "Моб. телефон", "E-mail", "Телефон (WhatsApp)"). A header is reduced to
lower-case words, then matched against synonyms: an exact synonym beats a header that
starts with a keyword, which beats one that merely contains it. Every other column stays a
custom field / template parameter under its own name.

A list's *shape* is its header row (order included, case and spacing ignored); a mapping
a team lead confirms is saved per shape, so the next export of the same shape maps itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

ROLES: tuple[str, ...] = ("email", "phone", "telegram", "viber", "name")

#: Whole-header synonyms (after :func:`simplify`).
EXACT: dict[str, frozenset[str]] = {
    "email": frozenset(
        {
            "email",
            "e mail",
            "mail",
            "email address",
            "e mail address",
            "почта",
            "эл почта",
            "электронная почта",
            "адрес электронной почты",
            "электронный адрес",
            "емейл",
            "имейл",
            "емэйл",
            "мейл",
        }
    ),
    "phone": frozenset(
        {
            "phone",
            "phone number",
            "telephone",
            "tel",
            "mobile",
            "mobile phone",
            "cell",
            "cell phone",
            "msisdn",
            "whatsapp",
            "телефон",
            "тел",
            "номер телефона",
            "мобильный",
            "мобильный телефон",
            "моб",
            "моб телефон",
            "сотовый",
            "сотовый телефон",
            "контактный телефон",
            "ватсап",
            "вотсап",
        }
    ),
    "telegram": frozenset(
        {
            "telegram",
            "tg",
            "telegram id",
            "telegram username",
            "телеграм",
            "телеграмм",
            "тг",
            "ник в телеграм",
        }
    ),
    "viber": frozenset({"viber", "viber id", "вайбер", "вибер"}),
    "name": frozenset(
        {
            "name",
            "full name",
            "fio",
            "contact",
            "contact name",
            "client",
            "customer",
            "фио",
            "ф и о",
            "имя",
            "имя клиента",
            "клиент",
            "контакт",
            "контактное лицо",
            "покупатель",
        }
    ),
}

#: Keywords for headers with decorations ("Телефон (моб.)", "Client e-mail").
KEYWORDS: dict[str, tuple[str, ...]] = {
    "email": ("email", "e mail", "почта"),
    "phone": ("телефон", "phone", "mobile", "мобильн"),
    "telegram": ("telegram", "телеграм"),
    "viber": ("viber", "вайбер"),
    "name": ("фио", "full name"),
}


def simplify(header: str) -> str:
    """Lower-case words only: "Эл. почта" → "эл почта", "E-mail" → "e mail"."""
    text = header.casefold().replace("ё", "е")
    return " ".join(re.findall(r"[\w]+", text)).replace("_", " ").strip()


def _score(role: str, header: str) -> int:
    simple = simplify(header)
    if not simple:
        return 0
    if simple in EXACT[role] or simple.replace(" ", "") in EXACT[role]:
        return 3
    if any(simple.startswith(k) for k in KEYWORDS[role]):
        return 2
    if any(k in simple for k in KEYWORDS[role]):
        return 1
    return 0


def suggest_mapping(headers: Sequence[str]) -> dict[str, str]:
    """Role → column, best matches first; a column serves one role, a role one column."""
    candidates = sorted(
        (
            (-_score(role, header), position, ROLES.index(role), role, header)
            for position, header in enumerate(headers)
            for role in ROLES
            if _score(role, header)
        )
    )
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for _, _, _, role, header in candidates:
        if role not in mapping and header not in used:
            mapping[role] = header
            used.add(header)
    return {role: mapping[role] for role in ROLES if role in mapping}


def shape_key(headers: Sequence[str]) -> str:
    """The list's shape: its header row, ignoring case and spacing (64 hex characters)."""
    canonical = "\x1f".join(" ".join(h.casefold().split()) for h in headers)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def usable_mapping(
    mapping: Mapping[str, object], headers: Sequence[str], saved_headers: Sequence[str] = ()
) -> dict[str, str]:
    """A saved mapping applied to a list of the same shape: columns are found by their
    position in the saved header row (the new export may spell them in another case);
    entries naming no known role or no existing column are dropped."""
    same_shape = len(saved_headers) == len(headers)
    out: dict[str, str] = {}
    for role, column in mapping.items():
        if role not in ROLES or not isinstance(column, str):
            continue
        if same_shape and column in saved_headers:
            out[role] = headers[list(saved_headers).index(column)]
        elif column in headers:
            out[role] = column
    return out
