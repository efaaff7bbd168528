"""The WhatsApp 24-hour customer-service window (R12) and what it means for a send."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from hde_core.domain.reasons import Action, Reason

WINDOW = timedelta(hours=24)


def window_closes_at(last_inbound_at: datetime | None) -> datetime | None:
    return None if last_inbound_at is None else last_inbound_at + WINDOW


def window_is_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    closes = window_closes_at(last_inbound_at)
    return closes is not None and now < closes


@dataclass(frozen=True)
class WindowDecision:
    action: Action | None
    reason: Reason | None  # set when the message cannot be sent at all


def decide_wa_business(
    window_open: bool,
    has_approved_default_template: bool,
    rules_acknowledged: bool,
    send_after_template: bool,
) -> WindowDecision:
    """Inside the window: send. Outside: the default template first, then hold or send."""
    if window_open:
        return WindowDecision(Action.SEND, None)
    if not (has_approved_default_template and rules_acknowledged):
        return WindowDecision(None, Reason.NO_DEFAULT_TEMPLATE)
    action = Action.TEMPLATE_THEN_SEND if send_after_template else Action.TEMPLATE_THEN_HOLD
    return WindowDecision(action, None)
