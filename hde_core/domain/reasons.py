"""Eligibility reason codes (SPEC §2): stable and machine-readable.

A contact checked against a channel gets ``eligible`` with an :class:`Action`,
or exactly one reason. When several apply, the first in :data:`REASON_PRIORITY`
wins.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    ELIGIBLE = "eligible"
    MISSING_EMAIL = "missing_email"
    INVALID_EMAIL = "invalid_email"
    MISSING_PHONE = "missing_phone"
    INVALID_PHONE = "invalid_phone"
    NO_PRIOR_CONTACT = "no_prior_contact"
    OPTED_OUT = "opted_out"
    INITIATION_DISABLED = "initiation_disabled"
    NO_DEFAULT_TEMPLATE = "no_default_template"
    MISSING_FIELD = "missing_field"
    DUPLICATE = "duplicate"
    CHANNEL_UNAVAILABLE = "channel_unavailable"
    #: The row holds bytes that are not text (a NUL byte, or bytes invalid in the file's
    #: encoding): refused on its own, the rest of the list is judged (SPEC §5).
    UNREADABLE_ROW = "unreadable_row"
    #: The message rendered for the row is longer than the channel's provider takes
    #: (issue 15.4): refused at validation, never sent to be refused by the provider.
    TEXT_TOO_LONG = "text_too_long"


class Action(StrEnum):
    SEND = "send"
    TEMPLATE_THEN_HOLD = "template_then_hold"
    TEMPLATE_THEN_SEND = "template_then_send"


R = Reason

#: Order of precedence when several reasons apply (SPEC §2).
REASON_PRIORITY: tuple[Reason, ...] = (
    R.CHANNEL_UNAVAILABLE,
    R.INITIATION_DISABLED,
    R.UNREADABLE_ROW,
    R.MISSING_EMAIL,
    R.MISSING_PHONE,
    R.INVALID_EMAIL,
    R.INVALID_PHONE,
    R.DUPLICATE,
    R.MISSING_FIELD,
    R.TEXT_TOO_LONG,
    R.OPTED_OUT,
    R.NO_PRIOR_CONTACT,
    R.NO_DEFAULT_TEMPLATE,
)

_RANK = {reason: i for i, reason in enumerate(REASON_PRIORITY)}


def first_reason(reasons: list[Reason] | set[Reason]) -> Reason:
    """The reason a row gets when several apply; ``eligible`` when none do."""
    if not reasons:
        return R.ELIGIBLE
    return min(reasons, key=_RANK.__getitem__)
