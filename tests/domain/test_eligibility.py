"""SPEC §2: exactly one code per recipient, by precedence; actions for the window."""

from datetime import UTC, datetime, timedelta

import pytest

from hde_core.domain.channels import ChannelKind
from hde_core.domain.eligibility import AddressStatus, ChannelState, RecipientState, evaluate
from hde_core.domain.reasons import REASON_PRIORITY, Action, Reason, first_reason

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_priority_order_matches_spec():
    assert [r.value for r in REASON_PRIORITY] == [
        "channel_unavailable",
        "initiation_disabled",
        "unreadable_row",
        "missing_email",
        "missing_phone",
        "invalid_email",
        "invalid_phone",
        "duplicate",
        "missing_field",
        "text_too_long",
        "opted_out",
        "no_prior_contact",
        "no_default_template",
    ]
    assert first_reason({Reason.NO_PRIOR_CONTACT, Reason.DUPLICATE}) == Reason.DUPLICATE
    assert first_reason(set()) == Reason.ELIGIBLE
    assert first_reason({Reason.TEXT_TOO_LONG, Reason.OPTED_OUT}) == Reason.TEXT_TOO_LONG
    assert first_reason({Reason.TEXT_TOO_LONG, Reason.MISSING_FIELD}) == Reason.MISSING_FIELD


def test_text_too_long_refuses_the_row():  # issue 15.4
    state = ChannelState(ChannelKind.TELEGRAM)
    ok = evaluate(state, RecipientState(has_written=True), NOW)
    long = evaluate(state, RecipientState(has_written=True, text_too_long=True), NOW)
    assert ok.reason == Reason.ELIGIBLE
    assert (long.reason, long.action) == (Reason.TEXT_TOO_LONG, None)


def test_email_to_anyone_valid():  # R2
    v = evaluate(ChannelState(ChannelKind.EMAIL), RecipientState(), NOW)
    assert (v.reason, v.action) == (Reason.ELIGIBLE, Action.SEND)


@pytest.mark.parametrize("kind", [ChannelKind.TELEGRAM, ChannelKind.VIBER, ChannelKind.WA_BUSINESS])
def test_messengers_need_prior_contact(kind):  # R3
    v = evaluate(ChannelState(kind), RecipientState(has_written=False), NOW)
    assert v.reason == Reason.NO_PRIOR_CONTACT


def test_everything_wrong_gives_the_first_reason():
    channel = ChannelState(ChannelKind.WHATSAPP, enabled=False)
    recipient = RecipientState(address=AddressStatus.INVALID, duplicate=True, opted_out=True)
    assert evaluate(channel, recipient, NOW).reason == Reason.CHANNEL_UNAVAILABLE
    channel = ChannelState(ChannelKind.WHATSAPP)
    assert evaluate(channel, recipient, NOW).reason == Reason.INITIATION_DISABLED  # R10
    channel = ChannelState(ChannelKind.WHATSAPP, initiation_allowed=True)
    assert evaluate(channel, recipient, NOW).reason == Reason.INVALID_PHONE


def test_missing_field_names_the_field():
    v = evaluate(ChannelState(ChannelKind.EMAIL), RecipientState(missing_field="order_id"), NOW)
    assert (v.reason, v.field) == (Reason.MISSING_FIELD, "order_id")


def test_opt_out_beats_no_prior_contact():  # R15
    v = evaluate(ChannelState(ChannelKind.TELEGRAM), RecipientState(opted_out=True), NOW)
    assert v.reason == Reason.OPTED_OUT


@pytest.mark.parametrize(
    ("hours_ago", "template", "ack", "after", "expected"),
    [
        (1, False, False, False, (Reason.ELIGIBLE, Action.SEND)),  # window open: free-form
        (23.9, False, False, False, (Reason.ELIGIBLE, Action.SEND)),
        (24.1, True, True, False, (Reason.ELIGIBLE, Action.TEMPLATE_THEN_HOLD)),
        (48, True, True, True, (Reason.ELIGIBLE, Action.TEMPLATE_THEN_SEND)),
        (48, True, False, False, (Reason.NO_DEFAULT_TEMPLATE, None)),  # rules not acknowledged
        (48, False, True, False, (Reason.NO_DEFAULT_TEMPLATE, None)),
    ],
)
def test_wa_business_window(hours_ago, template, ack, after, expected):  # R11, R12
    channel = ChannelState(
        ChannelKind.WA_BUSINESS,
        has_approved_default_template=template,
        rules_acknowledged=ack,
        send_after_template=after,
    )
    recipient = RecipientState(has_written=True, last_inbound_at=NOW - timedelta(hours=hours_ago))
    v = evaluate(channel, recipient, NOW)
    assert (v.reason, v.action) == expected
