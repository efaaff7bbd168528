"""Telegram rows in a bulk list resolve like a single ticket (issue 15.7)."""

from __future__ import annotations

from datetime import timedelta

from hde_core.db.models import Channel
from hde_core.services.lists import load_list, validate_list
from hde_core.services.recipients import resolve_recipient
from tests.lists.helpers import add_channel, add_identity, codes


def test_a_username_row_is_sent_to_the_clients_chat_id(app, clock):
    channel_id = add_channel(app, "tg", "telegram")
    hour = timedelta(hours=1)
    add_identity(app, channel_id, "4444444", clock, last_inbound=hour, username="client4")
    add_identity(app, channel_id, "2222222", clock, last_inbound=hour, username="client2")
    data = b"Telegram\n@client4\nhttps://t.me/Client2\n"
    result = validate_list(app, load_list(app, data, filename="t.csv"), "tg")
    rows = list(result.iter_rows())
    assert codes(result) == ["eligible:send", "eligible:send"]
    assert [r.recipient for r in rows] == ["4444444", "2222222"]  # never the literal @name
    with app.db.reader() as s:  # the single ticket resolves to the same chat id
        channel = s.get(Channel, channel_id)
        assert resolve_recipient(s, channel, "@client4", "RU").normalised.value == "4444444"


def test_a_phone_column_value_is_a_phone_never_a_chat_id(app, clock):
    """ "12345" in the phone column is an invalid phone, not one chat id 24 rows share."""
    channel_id = add_channel(app, "tg", "telegram")
    hour = timedelta(hours=1)
    add_identity(app, channel_id, "555", clock, last_inbound=hour, phone="+79123456789")
    add_identity(app, channel_id, "12345", clock, last_inbound=hour)  # even a real chat id
    data = ("Телефон\n" + "12345\n" * 24 + "8 912 345 67 89\n").encode()
    result = validate_list(app, load_list(app, data, filename="t.csv"), "tg")
    assert codes(result) == ["invalid_phone"] * 24 + ["eligible:send"]
    assert list(result.iter_rows())[-1].recipient == "555"  # the shared phone's chat


def test_a_telegram_column_number_is_still_a_chat_id(app, clock):
    channel_id = add_channel(app, "tg", "telegram")
    add_identity(app, channel_id, "12345", clock, last_inbound=timedelta(hours=1))
    data = "Telegram;Телефон\n12345;\n;12345\n".encode()
    result = validate_list(app, load_list(app, data, filename="t.csv"), "tg")
    assert codes(result) == ["eligible:send", "invalid_phone"]
