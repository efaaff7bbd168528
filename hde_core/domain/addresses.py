"""Normalisation of recipients (SPEC §2): phones to E.164, emails trimmed with the domain
lower-cased (IDN allowed), messenger ids cleaned.

These are the reference implementations for one value; the bulk list engine may
cache or vectorise them but must agree with them on every value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from hde_core.domain.eligibility import AddressStatus

# Excel turns long numbers into floats: 7.91234E+10 has lost digits; never guess them.
_SCIENTIFIC = re.compile(r"^\s*[+-]?\d+(?:[.,]\d+)?[eE][+-]?\d+\s*$")
_TELEGRAM_USERNAME = re.compile(r"^@?([A-Za-z][A-Za-z0-9_]{3,31})$")
_TELEGRAM_LINK = re.compile(
    r"^(?:https?://)?(?:t\.me|telegram\.me)/([A-Za-z][A-Za-z0-9_]{3,31})/?$"
)


@dataclass(frozen=True)
class Normalised:
    status: AddressStatus
    value: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == AddressStatus.OK


MISSING = Normalised(AddressStatus.MISSING)
INVALID = Normalised(AddressStatus.INVALID)


def _blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, float) and raw != raw) or not str(raw).strip()


def normalise_phone(raw: object, region: str = "RU") -> Normalised:
    """E.164 (``+79123456789``) or a missing/invalid verdict."""
    if _blank(raw):
        return MISSING
    if isinstance(raw, float):
        # A spreadsheet cell typed as a number: exact when integral, otherwise digits are lost.
        if not raw.is_integer():
            return INVALID
        raw = int(raw)
    text = str(raw).strip()
    if _SCIENTIFIC.match(text):
        return INVALID
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return INVALID
    if not phonenumbers.is_valid_number(number):
        return INVALID
    return Normalised(
        AddressStatus.OK, phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    )


def normalise_email(raw: object, check_deliverability: bool = False) -> Normalised:
    """Trimmed, domain lower-cased, Unicode (IDN) kept; syntax checked, DNS only on request."""
    if _blank(raw):
        return MISSING
    text = str(raw).strip()
    try:
        result = validate_email(text, check_deliverability=check_deliverability)
    except EmailNotValidError:
        return INVALID
    return Normalised(AddressStatus.OK, result.normalized)


def normalise_telegram(raw: object) -> Normalised:
    """A numeric chat id (``123456789``) or a username (``@ann`` / ``t.me/ann`` → ``@ann``)."""
    if _blank(raw):
        return MISSING
    text = str(raw).strip()
    if re.fullmatch(r"-?\d{1,20}", text):
        return Normalised(AddressStatus.OK, text)
    match = _TELEGRAM_USERNAME.match(text) or _TELEGRAM_LINK.match(text)
    if match:
        return Normalised(AddressStatus.OK, "@" + match.group(1).lower())
    return INVALID


def normalise_viber(raw: object) -> Normalised:
    """Viber user ids are opaque base64-like strings given by the webhook."""
    if _blank(raw):
        return MISSING
    text = str(raw).strip()
    if re.fullmatch(r"[A-Za-z0-9+/=_-]{6,64}", text):
        return Normalised(AddressStatus.OK, text)
    return INVALID


def phone_to_wa_id(e164: str) -> str:
    """WhatsApp addresses numbers without the plus sign."""
    return e164.lstrip("+")
