"""Provider limits, checked in one place before any call (issue 15.4).

Each adapter declares its limits as class attributes (``max_text_length`` …); these
functions apply them. The dispatcher's send path, list validation (a row-level
reason in the report) and a single ticket (a field error) all call them, so a text
the provider would refuse is caught at validation time, not by the provider.
"""

from __future__ import annotations

import re
from typing import TypeVar

T = TypeVar("T")

#: Reason codes (list report, ticket field errors, the outcome of a refused send).
TEXT_EMPTY = "text_empty"
TEXT_TOO_LONG = "text_too_long"

#: Meta refuses a template parameter with a new line, a tab or more than four spaces in
#: a row (132018). Its documentation asks senders to remove them, so we normalise.
_PARAM_BREAKS = re.compile(r"[\r\n\t]+")
_PARAM_SPACES = re.compile(r" {5,}")
_PARAM_FORBIDDEN = re.compile(r"[\r\n\t]| {5,}")


def too_long(length: T, max_length: int) -> T:
    """Whether a text of ``length`` characters is over the limit: the one comparison, for
    one length (a ticket, a send) or a whole list's array of lengths at once."""
    return length > max_length  # type: ignore[operator, return-value]


def text_problem(text: str, max_length: int) -> str | None:
    """``text_empty``, ``text_too_long`` or None."""
    if not text.strip():
        return TEXT_EMPTY
    if too_long(len(text), max_length):
        return TEXT_TOO_LONG
    return None


def template_param_problem(value: str) -> bool:
    """Whether a template body parameter has what Meta refuses (132018)."""
    return bool(_PARAM_FORBIDDEN.search(value))


def normalise_template_param(value: str) -> str:
    """A template parameter Meta accepts: line breaks and tabs become one space, runs of
    more than four spaces become four (an Excel cell with line breaks still sends)."""
    return _PARAM_SPACES.sub("    ", _PARAM_BREAKS.sub(" ", value)).strip()
