"""Audit details as sentences (issue 16.8): the trail of a real ticket, read in Russian and
English, says what happened in words — no ``key=value``, no codes."""

import re

import pytest

from hde_core.dispatch.immediate import initiate_ticket
from hde_core.services.audit import trail_rows
from hde_core.services.audit_words import actor_words, describe
from hde_core.services.tickets import TicketRequest
from tests.services.helpers import provision_email

RAW = re.compile(r"\b[a-z]+_[a-z_]+\b|\b\w+=\S")


@pytest.mark.unit
def test_a_created_ticket_reads_as_a_sentence():
    data = {
        "author": "agent",
        "channel": "email",
        "department": "First line",
        "priority": "normal",
        "recipient": "client@example.com",
        "send_email": True,
    }
    ru = describe("ticket_created", data, "ru")
    assert ru == (
        "Канал «email»; получатель client@example.com; отдел «First line»; "
        "приоритет: Обычный; пишем первыми (автор — агент); письмо клиенту: да."
    )
    en = describe("ticket_created", data, "en")
    assert "recipient client@example.com" in en and "email to the client: yes" in en


@pytest.mark.unit
def test_codes_are_said_in_words_and_unknown_facts_are_kept():
    said = describe("email_skipped", {"reason": "send_email_off", "template": "agent_initiated"})
    assert "send_email_off" not in said and "флаг «Отправить письмо» выключен" in said
    assert describe("message_retrying", {"error_class": "transient", "attempt": 2}, "ru") == (
        "Провайдер или сеть на время недоступны; попытка повторится; попытка 2."
    )
    # a fact nobody described yet is still shown, not lost
    assert describe("message_sent", {"new_fact": 5}, "en") == "New fact: 5."
    assert describe("user_signed_in", {}, "ru") == ""
    assert actor_words("dispatcher", "ru") == "система отправки"
    assert actor_words("lead", "ru") == "lead"


def test_the_trail_of_a_sent_email_has_no_raw_details(app, tmp_path, smtp_sink):
    provision_email(app, tmp_path, smtp_sink.url)
    result = initiate_ticket(
        app,
        TicketRequest(
            channel="email",
            to="client@example.com",
            subject="Ваш заказ",
            body="Заказ готов к выдаче.",
            fields={"order_id": "A-42"},
        ),
        "alice",
    )
    for lang in ("ru", "en"):
        rows = trail_rows(app, result.ticket_id, lang)
        assert len(rows) >= 3
        for row in rows:
            details = list(row.values())[-1]
            assert not RAW.search(details.replace("order_id", "")), details
    created = trail_rows(app, result.ticket_id, "ru")[0]
    assert "получатель client@example.com" in list(created.values())[-1]
