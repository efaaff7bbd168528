"""Validating a list against channels: one code per row (SPEC §2), the bulk engine agreeing
with ``evaluate`` row by row, fallback channels (R9), duplicates, required fields."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from hde_core.db.models import Channel, ContactIdentity
from hde_core.domain.addresses import normalise_email, normalise_phone
from hde_core.domain.channels import ChannelKind
from hde_core.domain.eligibility import RecipientState, evaluate
from hde_core.domain.reasons import Reason
from hde_core.errors import InputError, NotFound
from hde_core.services.channels import channel_state
from hde_core.services.lists import load_list, validate_list
from hde_core.services.recipients import resolve_recipient
from tests.lists.helpers import (
    EXPECTED,
    FIXTURES,
    ORDER,
    add_channel,
    add_identity,
    codes,
    mixed_setup,
)

MIXED = FIXTURES / "mixed_utf8bom_semicolon.csv"


@pytest.mark.parametrize("channel", sorted(EXPECTED))
def test_mixed_list_gets_exactly_the_expected_code_per_row(app, clock, channel):
    mixed_setup(app, clock)
    result = validate_list(app, load_list(app, MIXED), channel, required_fields=[ORDER])
    assert codes(result) == EXPECTED[channel]
    missing = [r.field for r in result.iter_rows() if r.reason == Reason.MISSING_FIELD]
    assert missing == ([ORDER] if "missing_field" in EXPECTED[channel] else [])


def test_summary_is_the_spec_shape_with_counts(app, clock):
    mixed_setup(app, clock)
    result = validate_list(app, load_list(app, MIXED), "wab", required_fields=[ORDER])
    summary = result.summary()
    assert list(summary) == ["rows", "eligible", "actions", "reasons"]
    assert summary["rows"] == 9 and summary["eligible"] == 3
    assert summary["actions"] == {"send": 2, "template_then_hold": 1, "template_then_send": 0}
    assert summary["reasons"]["opted_out"] == 1 and "eligible" not in summary["reasons"]
    assert sum(summary["reasons"].values()) == 6


def test_rows_carry_recipient_identity_channel_and_original_values(app, clock):
    ids = mixed_setup(app, clock)
    rows = list(validate_list(app, load_list(app, MIXED), "wab").iter_rows())
    first = rows[0]
    assert (first.row_number, first.recipient, first.channel_id) == (1, "+79120000001", ids["wab"])
    assert first.identity_id is not None
    assert first.values["Телефон"] == "8 (912) 000-00-01"
    assert rows[1].values["Комментарий"] == "звонить после 18:00;\nлучше в WhatsApp"
    assert rows[3].identity_id is None  # never wrote: no identity
    assert rows[4].recipient is None  # 7.91234E+10 is never guessed


def test_fallback_list_takes_the_first_channel_the_row_is_eligible_on(app, clock):
    mixed_setup(app, clock)
    result = validate_list(app, load_list(app, MIXED), "wab,email")
    got = [(r.reason.value, r.channel) for r in result.iter_rows()]
    assert got == [
        ("eligible", "wab"),
        ("eligible", "wab"),
        ("opted_out", "wab"),  # eligible nowhere: the first channel's reason
        ("no_prior_contact", "wab"),
        ("invalid_phone", "wab"),  # and the email is opted out there
        ("eligible", "email"),  # no phone: reached by email
        ("duplicate", "wab"),
        ("eligible", "wab"),
        ("eligible", "wab"),
    ]


def test_a_later_row_is_duplicate_whatever_the_earlier_rows_code(app, clock):
    wab = add_channel(app, "wab", "wa_business", template=True, rules_ack=True)
    add_identity(app, wab, "+79121112233", clock, last_inbound=timedelta(hours=1), opted_out=True)
    data = "Телефон\n+7 912 111-22-33\n89121112233\n79121112233\n8 912 000 00 00\n".encode()
    result = validate_list(app, load_list(app, data, filename="d.csv"), "wab")
    assert codes(result) == ["opted_out", "duplicate", "duplicate", "no_prior_contact"]


def test_required_column_absent_from_the_list_is_missing_in_every_row(app, clock):
    mixed_setup(app, clock)
    result = validate_list(app, load_list(app, MIXED), "email", required_fields=["Город"])
    fields = {(r.reason.value, r.field) for r in result.iter_rows() if r.field}
    assert fields == {("missing_field", "Город")}


def test_a_list_without_a_column_for_any_channel_is_refused(app, clock):
    mixed_setup(app, clock)
    loaded = load_list(app, FIXTURES / "no_recipient_column.csv")
    with pytest.raises(InputError) as err:
        validate_list(app, loaded, ["wab", "email"])
    assert err.value.key == "lists.error.no_recipient_column"
    assert "--map phone=" in err.value.message("en")


def test_an_unknown_channel_is_named_with_the_known_ones(app, clock):
    mixed_setup(app, clock)
    with pytest.raises(NotFound) as err:
        validate_list(app, load_list(app, MIXED), "nope")
    assert "wab" in err.value.message("en")


def test_progress_reaches_the_total(app, clock):
    mixed_setup(app, clock)
    seen: list[tuple[int, int]] = []
    validate_list(
        app, load_list(app, MIXED), "wab,email", progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (18, 18) and [d for d, _ in seen] == sorted(d for d, _ in seen)


# --- the bulk engine is evaluate(), row by row ----------------------------------------


def _messy_list(rnd: random.Random, rows: int) -> tuple[bytes, list[str]]:
    numbers = [f"+7912{n:07d}" for n in range(40)]
    lines = ["Телефон;E-mail;Заказ"]
    for _ in range(rows):
        e164 = rnd.choice(numbers)
        digits = e164[2:]
        phone = rnd.choice(
            [
                e164,
                f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:8]}-{digits[8:]}",
                f"7{digits}",
                "",
                "7.91234E+10",
                "12345",
                f"тел. 8{digits}",
                f"+7 {digits} доб. 12",
            ]
        )
        email = rnd.choice([f"user{rnd.randrange(30)}@example.ru", "", "bad@", " X@Y.RU "])
        order = rnd.choice(["", "A-1", "  "])
        lines.append(f"{phone};{email};{order}")
    return ("\n".join(lines) + "\n").encode(), numbers


@pytest.mark.parametrize("channels", ["wab", "wab_send", "gray_on", "email", "wab,email"])
def test_bulk_verdicts_equal_evaluate_for_every_row(app, clock, channels):
    rnd = random.Random(7)
    ids = {
        "wab": add_channel(app, "wab", "wa_business", template=True, rules_ack=True),
        "wab_send": add_channel(
            app, "wab_send", "wa_business", template=True, rules_ack=True, send_after_template=True
        ),
        "gray_on": add_channel(app, "gray_on", "whatsapp", initiation=True),
        "email": add_channel(app, "email", "email"),
    }
    data, numbers = _messy_list(rnd, 400)
    for name in ("wab", "wab_send", "gray_on"):
        for number in numbers[::2]:
            add_identity(
                app,
                ids[name],
                number,
                clock,
                last_inbound=timedelta(hours=rnd.choice([1, 23.9, 24, 30, 24 * 10])),
                opted_out=rnd.random() < 0.2,
            )
    for k in range(0, 30, 3):
        add_identity(app, ids["email"], f"user{k}@example.ru", clock, opted_out=k % 2 == 0)
    result = validate_list(
        app, load_list(app, data, filename="m.csv"), channels, required_fields=["Заказ"]
    )
    expected = _one_by_one(app, data.decode(), channels.split(","), "Заказ")
    got = [
        (r.reason, r.action, r.field, r.channel, r.recipient, r.identity_id)
        for r in result.iter_rows()
    ]
    assert got == expected
    assert {g[0] for g in got} >= {Reason.ELIGIBLE, Reason.DUPLICATE}


def _one_by_one(app, text, channels, required):  # type: ignore[no-untyped-def]
    """The single-recipient path: reference normalisers, one query per row, evaluate()."""
    now = app.clock.now()
    rows = [line.split(";") for line in text.splitlines()[1:]]
    per_channel = []
    with app.db.reader() as s:
        for name in channels:
            channel = s.scalar(select(Channel).where(Channel.name == name))
            state = channel_state(s, channel)
            email = ChannelKind(channel.kind) == ChannelKind.EMAIL
            seen: set[str] = set()
            verdicts = []
            for phone, mail, order in rows:
                n = normalise_email(mail) if email else normalise_phone(phone, "RU")
                identity = (
                    s.scalar(
                        select(ContactIdentity).where(
                            ContactIdentity.channel_id == channel.id,
                            ContactIdentity.address == n.value,
                        )
                    )
                    if n.ok
                    else None
                )
                duplicate = n.ok and n.value in seen
                if n.ok:
                    seen.add(n.value)
                verdict = evaluate(
                    state,
                    RecipientState(
                        address=n.status,
                        has_written=bool(identity and identity.first_inbound_at),
                        opted_out=bool(identity and identity.opted_out_at),
                        last_inbound_at=identity.last_inbound_at if identity else None,
                        missing_field=required if not order.strip() else None,
                        duplicate=duplicate,
                    ),
                    now,
                )
                verdicts.append(
                    (
                        verdict.reason,
                        verdict.action,
                        verdict.field,
                        name,
                        n.value,
                        identity.id if identity else None,
                    )
                )
            per_channel.append(verdicts)
    out = []
    for i in range(len(rows)):
        options = [v[i] for v in per_channel]
        out.append(next((v for v in options if v[0] == Reason.ELIGIBLE), options[0]))
    return out


# --- Telegram and Viber: the same identity as a single ticket would find -------------


@pytest.mark.parametrize("kind", ["telegram", "viber"])
def test_messenger_rows_find_the_identity_a_single_ticket_would(app, clock, kind):
    channel_id = add_channel(app, "m", kind)
    hour = timedelta(hours=1)
    add_identity(
        app, channel_id, "555", clock, last_inbound=hour, username="ann_s", phone="+79123456789"
    )
    add_identity(app, channel_id, "AbC+def/123=", clock, last_inbound=hour, phone="+79990001122")
    add_identity(app, channel_id, "777", clock, last_inbound=hour, opted_out=True, username="bob")
    values = [
        "555",
        "@Ann_S",
        "https://t.me/ann_s",
        "+7 912 345-67-89",
        "8 (999) 000-11-22",
        "123456789",
        "@unknown_user",
        "AbC+def/123=",
        "@bob",
        "777",
        "not an id!",
        "",
    ]
    column = "telegram" if kind == "telegram" else "viber"
    data = (column + "\n" + "\n".join(f'"{v}"' for v in values) + "\n").encode()
    result = validate_list(app, load_list(app, data, filename="t.csv"), "m")
    with app.db.reader() as s:
        channel = s.get(Channel, channel_id)
        expected = []
        for v in values:
            r = resolve_recipient(s, channel, v, "RU")
            expected.append(
                (r.normalised.status, r.normalised.value, r.identity.id if r.identity else None)
            )
    got = [(_status(r), r.recipient, r.identity_id) for r in result.iter_rows()]
    assert got == expected


def _status(row):  # type: ignore[no-untyped-def]
    from hde_core.domain.eligibility import AddressStatus

    if row.reason in (Reason.MISSING_PHONE, Reason.MISSING_EMAIL):
        return AddressStatus.MISSING
    if row.reason in (Reason.INVALID_PHONE, Reason.INVALID_EMAIL):
        return AddressStatus.INVALID
    return AddressStatus.OK


def test_telegram_and_phone_columns_together_fall_back_to_the_phone(app, clock):
    channel_id = add_channel(app, "tg", "telegram")
    add_identity(
        app, channel_id, "555", clock, last_inbound=timedelta(hours=1), phone="+79123456789"
    )
    data = "Телефон;Telegram\n8 912 345 67 89;\n;555\n8 912 000 00 00;\n".encode()
    result = validate_list(app, load_list(app, data, filename="t.csv"), "tg")
    assert codes(result) == ["eligible:send", "duplicate", "no_prior_contact"]
