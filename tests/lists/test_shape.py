"""A note saved as .txt is not a contact list (issue 16.9): refused in plain words, while
real lists — one column or many, ragged rows, short headers with dots — still read."""

from __future__ import annotations

import pytest

from hde_core.errors import InputError
from hde_core.lists.reading import read_list

NOTES = {
    "two sentences": "Привет! Напоминаю, что отчёт нужно сдать до пятницы.\nСпасибо, Маша\n",
    "comma prose": "Привет, коллеги!\nЗавтра созвон в 10:00.\nНе забудьте отчёт, пожалуйста.\n",
    "one column": "Встреча с клиентом\n\nОбсудили поставку на декабрь\nответить до пятницы\n",
    "long line": (
        "Клиент позвонил утром и попросил перезвонить после обеда по поводу заказа\n"
        "Перезвонила в 15:00, договорились на вторник\n"
    ),
    "english": "Meeting notes. Call Anna back on Monday\nShe wants the December price list\n",
}

LISTS = {
    "one column email": ("email\nann@example.ru\nbob@example.ru\n", 2),
    "one column, no role in the header": ("Контакты\nann@example.ru\n+7 912 345-67-89\n", 2),
    "short headers with dots": ("ФИО;Эл. почта;Тел.\nАнна;a@b.ru;8 912 345 67 89\n", 1),
    "ragged rows": ("Телефон;E-mail;Имя\n89123456789;a@example.ru\n89123456780;b@x.ru;Б;x\n", 2),
    "a question in a header": ("Имя,Согласие?\nАнна,да\n", 1),
}


@pytest.mark.parametrize("text", NOTES.values(), ids=NOTES.keys())
def test_a_note_is_refused_in_plain_words(text):
    with pytest.raises(InputError) as refused:
        read_list(text.encode(), filename="заметка.txt")
    ru = refused.value.message("ru")
    assert ru.startswith("заметка.txt не похож на список контактов: его первая строка — текст")
    assert "ФИО;Email;Телефон" in ru  # says what a list looks like
    assert "does not look like a contact list" in refused.value.message("en")


@pytest.mark.parametrize(("text", "rows"), LISTS.values(), ids=LISTS.keys())
def test_real_lists_still_read(text, rows):
    assert read_list(text.encode(), filename="list.txt").table.num_rows == rows
