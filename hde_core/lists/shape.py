"""What makes a text file a contact list, and not a note saved as ``.txt`` (issue 16.9).

A CSV has no signature, so any text "parses": a note of three sentences becomes a list of
two rows under a header "Привет! Напоминаю". We call a text file a list when its first line
is a header row:

1. no header cell reads like prose — two sentences in one cell, an exclamation ("коллеги!"),
   a question or a full stop after a few words, a cell of more than eight words or 80
   characters (column names are short: "Эл. почта", "Тел.", "Согласие?");
2. a file of one column (no delimiter on the header line) is a list only when its header
   names a contact column (email, phone, Telegram, Viber) or most of its first values are
   contacts (addresses, phone numbers, @usernames): "email⏎ann@example.ru" is a list,
   "Встреча с клиентом⏎Обсудили поставку" is not.

Everything else about a list (ragged rows, blank cells, damaged bytes) stays the
reader's business: a row with a field too few or too many is still a row.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

from hde_core.lists.columns import suggest_mapping

CONTACT_ROLES = frozenset({"email", "phone", "telegram", "viber"})
#: How many first values of a one-column file are looked at.
SAMPLE_VALUES = 50
MAX_HEADER_WORDS = 8
MAX_HEADER_CHARS = 80

_TWO_SENTENCES = re.compile(r"[.!?…]\s+[A-ZА-ЯЁ]")
_EXCLAIMS = re.compile(r"[!?…]\s*$")
_CONTACT = re.compile(
    r"^\s*(?:[^\s@]+@[^\s@]+\.[^\s@]+|\+?[\d\s()\-.]{6,}\d|@?[A-Za-z][\w]{3,31})\s*$"
)
_DIGITS = re.compile(r"\d")


def prose_cell(cell: str) -> bool:
    """A header cell that reads like a sentence, not like a column name."""
    text = cell.strip()
    words = text.split()
    if len(text) > MAX_HEADER_CHARS or len(words) > MAX_HEADER_WORDS:
        return True
    if _TWO_SENTENCES.search(text):
        return True
    if text.endswith("!") or len(words) >= 2 and _EXCLAIMS.search(text):
        return True
    return len(words) >= 3 and text.endswith(".")


def _contact(value: str) -> bool:
    match = _CONTACT.match(value)
    if match is None:
        return False
    text = value.strip()
    if "@" in text or text.startswith("@"):
        return True
    return len(_DIGITS.findall(text)) >= 7 or text.isascii() and not text.isdigit()


def is_a_list(headers: Sequence[str], sample: str, delimiter: str) -> bool:
    """Whether a text file with these ``headers`` (its first line split by ``delimiter``)
    and this ``sample`` (its beginning, decoded) is a contact list by the rules above."""
    if any(prose_cell(h) for h in headers):
        return False
    if len(headers) > 1:
        return True
    if CONTACT_ROLES & set(suggest_mapping(headers)):
        return True
    rows = csv.reader(io.StringIO(sample), delimiter=delimiter)
    next(rows, None)  # the header
    values = []
    for row in rows:
        if row and row[0].strip():
            values.append(row[0])
        if len(values) >= SAMPLE_VALUES:
            break
    return bool(values) and sum(map(_contact, values)) * 2 > len(values)
