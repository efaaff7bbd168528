"""The quoted-history rules, one per mail client habit."""

from __future__ import annotations

import pytest

from hde_core.mailin.quotes import html_to_text, strip_reply

CASES = {
    "gmail_en": "Sounds good, see you at 10.\n\nOn Mon, Dec 7, 2026 at 10:15 AM HDE <support@hde.example> wrote:\n> Hello!\n> When suits you?\n",
    "gmail_en_wrapped": "Sounds good, see you at 10.\n\nOn Mon, Dec 7, 2026 at 10:15 AM HDE Support <support@hde.example>\nwrote:\n> Hello!\n",
    "gmail_ru": "Sounds good, see you at 10.\n\nпн, 7 дек. 2026 г. в 10:15, HDE <support@hde.example>:\n> Здравствуйте!\n",
    "yandex": 'Sounds good, see you at 10.\n\n07.12.2026, 10:15, "HDE" <support@hde.example>:\n> Здравствуйте!\n',
    "mailru": "Sounds good, see you at 10.\n\nПонедельник, 7 декабря 2026, 10:15 +03:00 от HDE <support@hde.example>:\n> Здравствуйте!\n",
    "napisal": "Sounds good, see you at 10.\n\nHDE написал(а):\nЗдравствуйте!\n",
    "outlook_en": "Sounds good, see you at 10.\n\n-----Original Message-----\nFrom: HDE <support@hde.example>\nSent: Monday, December 7, 2026 10:15 AM\n\nHello!\n",
    "outlook_ru": "Sounds good, see you at 10.\n\n________________________________\nОт: HDE <support@hde.example>\nОтправлено: 7 декабря 2026 г. 10:15\nТема: Ваша заявка\n\nЗдравствуйте!\n",
    "outlook_block": "Sounds good, see you at 10.\n\nFrom: HDE <support@hde.example>\nSent: Monday, December 7, 2026 10:15 AM\nTo: Anna\n\nHello!\n",
    "signature": "Sounds good, see you at 10.\n-- \nAnna Petrova\nACME, +7 900 000-00-00\n",
    "iphone": "Sounds good, see you at 10.\n\nSent from my iPhone\n",
    "quotes_only": "> Hello!\nSounds good, see you at 10.\n",
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_only_the_new_text_is_kept(name: str) -> None:
    assert strip_reply(CASES[name]) == "Sounds good, see you at 10."


def test_a_message_that_is_all_quote_keeps_its_text() -> None:
    text = "> only a quote\n> nothing new"
    assert strip_reply(text) == text


def test_a_plain_message_is_left_alone() -> None:
    text = "Добрый день!\n\nЗаказ 15 получил, всё в порядке.\nСпасибо"
    assert strip_reply(text) == text


def test_html_to_text_keeps_paragraphs_and_drops_styles() -> None:
    html = "<style>.x{}</style><p>Первый</p><p>Второй<br>третий</p><script>alert(1)</script>"
    assert html_to_text(html) == "Первый\nВторой\nтретий"
