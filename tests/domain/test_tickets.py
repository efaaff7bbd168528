"""R4 (what a ticket needs), R6 and R7 (which notification goes out)."""

import pytest

from hde_core.domain.channels import ChannelKind
from hde_core.domain.tickets import (
    CustomFieldRule,
    NotificationKind,
    decide_notification,
    validate_ticket,
)

RULES = [CustomFieldRule("order_id", "Order", True), CustomFieldRule("city", "City", False)]


def codes(errors):
    return {(e.field, e.code) for e in errors}


def test_complete_ticket_has_no_errors():
    assert validate_ticket("Hi", "Body", "high", {"order_id": "42"}, RULES) == []


def test_every_problem_is_reported_at_once():
    errors = validate_ticket("  ", "", "asap", {"nope": "1", "order_id": " "}, RULES)
    assert codes(errors) == {
        ("subject", "required"),
        ("body", "required"),
        ("priority", "invalid_choice"),
        ("nope", "unknown_field"),
        ("order_id", "required"),
    }


def test_optional_field_may_be_empty():
    assert validate_ticket("s", "b", None, {"order_id": "1", "city": ""}, RULES) == []


ALL = [NotificationKind.TICKET_RECEIVED, NotificationKind.AGENT_INITIATED]


@pytest.mark.parametrize(
    ("kind", "send_email", "from_client", "enabled", "expected_kind", "skip", "applicable"),
    [
        # R6: email, flag on, template enabled -> email goes out
        (ChannelKind.EMAIL, True, False, ALL, NotificationKind.AGENT_INITIATED, None, True),
        # R7: "first message from client" picks the ticket-received template
        (ChannelKind.EMAIL, True, True, ALL, NotificationKind.TICKET_RECEIVED, None, True),
        # R6: flag off -> nothing
        (
            ChannelKind.EMAIL,
            False,
            False,
            ALL,
            NotificationKind.AGENT_INITIATED,
            "send_email_off",
            True,
        ),
        # R6: matching template disabled -> nothing
        (
            ChannelKind.EMAIL,
            True,
            True,
            [NotificationKind.AGENT_INITIATED],
            NotificationKind.TICKET_RECEIVED,
            "template_disabled",
            True,
        ),
        # R6: messengers ignore the email flag
        (ChannelKind.TELEGRAM, False, False, [], NotificationKind.AGENT_INITIATED, None, False),
        (
            ChannelKind.WA_BUSINESS,
            True,
            True,
            [],
            NotificationKind.TICKET_RECEIVED,
            "template_disabled",
            False,
        ),
        (ChannelKind.VIBER, False, True, ALL, NotificationKind.TICKET_RECEIVED, None, False),
    ],
)
def test_notification_decision(
    kind, send_email, from_client, enabled, expected_kind, skip, applicable
):
    d = decide_notification(kind, send_email, from_client, enabled)
    assert (d.kind, d.skip_reason, d.send_email_applicable) == (expected_kind, skip, applicable)
