"""Can this recipient be written to on this channel, and how (SPEC §2, R3, R10–R12, R14, R15)?

One pure function decides for one recipient; the single-ticket service and the
bulk list engine both use it (the bulk engine may vectorise, but must give the
same verdict row by row).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hde_core.domain.channels import ChannelKind, requires_prior_contact
from hde_core.domain.reasons import Action, Reason, first_reason
from hde_core.domain.window import decide_wa_business, window_is_open


class AddressStatus(StrEnum):
    OK = "ok"
    MISSING = "missing"
    INVALID = "invalid"


@dataclass(frozen=True)
class ChannelState:
    kind: ChannelKind
    enabled: bool = True
    connected: bool = True  # False when the provider rejected our credentials (R14)
    #: R10: a team lead enabled initiation AND acknowledged the ban risk.
    initiation_allowed: bool = False
    #: R11: an APPROVED default template is chosen and the rules are acknowledged.
    has_approved_default_template: bool = False
    rules_acknowledged: bool = False
    send_after_template: bool = False

    @property
    def available(self) -> bool:
        return self.enabled and self.connected


@dataclass(frozen=True)
class RecipientState:
    address: AddressStatus = AddressStatus.OK
    has_written: bool = False  # R3: wrote to this channel at least once
    opted_out: bool = False  # R15
    last_inbound_at: datetime | None = None  # R12
    missing_field: str | None = None  # first empty required field / template parameter
    duplicate: bool = False  # same recipient earlier in the same list
    unreadable: bool = False  # the list row holds bytes that are not text
    text_too_long: bool = False  # the row's message is longer than the channel takes


@dataclass(frozen=True)
class Verdict:
    reason: Reason
    action: Action | None = None
    field: str | None = None  # for missing_field

    @property
    def eligible(self) -> bool:
        return self.reason == Reason.ELIGIBLE


def _address_reasons(kind: ChannelKind, status: AddressStatus) -> list[Reason]:
    if status == AddressStatus.OK:
        return []
    if kind == ChannelKind.EMAIL:
        return [Reason.MISSING_EMAIL if status == AddressStatus.MISSING else Reason.INVALID_EMAIL]
    return [Reason.MISSING_PHONE if status == AddressStatus.MISSING else Reason.INVALID_PHONE]


def evaluate(channel: ChannelState, recipient: RecipientState, now: datetime) -> Verdict:
    """Exactly one verdict: ``eligible`` with an action, or the first reason by SPEC §2 order."""
    reasons: list[Reason] = []
    if not channel.available:
        reasons.append(Reason.CHANNEL_UNAVAILABLE)
    if channel.kind == ChannelKind.WHATSAPP and not channel.initiation_allowed:
        reasons.append(Reason.INITIATION_DISABLED)
    if recipient.unreadable:
        reasons.append(Reason.UNREADABLE_ROW)
    reasons += _address_reasons(channel.kind, recipient.address)
    if recipient.duplicate:
        reasons.append(Reason.DUPLICATE)
    if recipient.missing_field:
        reasons.append(Reason.MISSING_FIELD)
    if recipient.text_too_long:
        reasons.append(Reason.TEXT_TOO_LONG)
    if recipient.opted_out:
        reasons.append(Reason.OPTED_OUT)
    if requires_prior_contact(channel.kind) and not recipient.has_written:
        reasons.append(Reason.NO_PRIOR_CONTACT)

    action = Action.SEND
    if channel.kind == ChannelKind.WA_BUSINESS:
        decision = decide_wa_business(
            window_open=window_is_open(recipient.last_inbound_at, now),
            has_approved_default_template=channel.has_approved_default_template,
            rules_acknowledged=channel.rules_acknowledged,
            send_after_template=channel.send_after_template,
        )
        if decision.reason:
            reasons.append(decision.reason)
        elif decision.action:
            action = decision.action

    reason = first_reason(reasons)
    if reason != Reason.ELIGIBLE:
        field = recipient.missing_field if reason == Reason.MISSING_FIELD else None
        return Verdict(reason, None, field)
    return Verdict(Reason.ELIGIBLE, action)
