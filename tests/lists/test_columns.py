"""Column mapping by Russian/English header synonyms, and mappings saved per list shape."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hde_core.db.models import ListMapping
from hde_core.lists.columns import shape_key, suggest_mapping
from hde_core.services.lists import load_list, save_mapping


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["ФИО", "Телефон", "E-mail"], {"email": "E-mail", "phone": "Телефон", "name": "ФИО"}),
        (["Имя", "Тел.", "Эл. почта"], {"email": "Эл. почта", "phone": "Тел.", "name": "Имя"}),
        (
            ["Name", "Mobile phone", "Email address"],
            {"email": "Email address", "phone": "Mobile phone", "name": "Name"},
        ),
        (
            ["Контакт", "Моб. телефон", "почта"],
            {"email": "почта", "phone": "Моб. телефон", "name": "Контакт"},
        ),
        (
            ["Мобильный", "Telegram", "Viber ID"],
            {"phone": "Мобильный", "telegram": "Telegram", "viber": "Viber ID"},
        ),
        (["Телефон (WhatsApp)", "Рабочий телефон"], {"phone": "Телефон (WhatsApp)"}),
        (["Номер заказа", "Почтовый индекс", "Город"], {}),
        (["e_mail", "TG", "Вайбер"], {"email": "e_mail", "telegram": "TG", "viber": "Вайбер"}),
        (
            ["Клиент", "Имя пользователя в Телеграм"],
            {"name": "Клиент", "telegram": "Имя пользователя в Телеграм"},
        ),
    ],
)
def test_headers_map_to_roles_by_synonyms(headers, expected):
    assert suggest_mapping(headers) == expected


def test_shape_ignores_case_and_spacing_but_not_order():
    assert shape_key(["ФИО", "Телефон"]) == shape_key([" фио ", "ТЕЛЕФОН"])
    assert shape_key(["ФИО", "Телефон"]) != shape_key(["Телефон", "ФИО"])
    assert len(shape_key(["a"])) == 64


def test_a_saved_mapping_maps_the_next_list_of_the_same_shape(app):
    first = "Контакт;Куда писать;Сотовый\nАнна;ann@example.ru;89120000001\n".encode()
    loaded = load_list(app, first, filename="march.csv")
    assert loaded.mapping == {"phone": "Сотовый", "name": "Контакт"}
    save_mapping(app, loaded, {"email": "Куда писать", "phone": "Сотовый"}, "lead")
    with app.db.reader() as s:
        row = s.scalar(select(ListMapping))
        assert (row.updated_by, row.mapping) == (
            "lead",
            {"email": "Куда писать", "phone": "Сотовый"},
        )
    second = "контакт;КУДА ПИСАТЬ;Сотовый\nБорис;bob@example.ru;89120000002\n".encode()
    again = load_list(app, second, filename="april.csv")
    assert again.mapping_source == "saved"
    assert again.mapping == {"email": "КУДА ПИСАТЬ", "phone": "Сотовый"}


def test_saving_again_replaces_the_mapping(app):
    data = b"A;B\nann@example.ru;89120000001\n"
    loaded = load_list(app, data, filename="x.csv")
    save_mapping(app, loaded, {"email": "A"}, "lead")
    save_mapping(app, loaded, {"phone": "B"}, "boss")
    with app.db.reader() as s:
        rows = s.scalars(select(ListMapping)).all()
    assert [(r.mapping, r.updated_by) for r in rows] == [({"phone": "B"}, "boss")]
    assert load_list(app, data, filename="x.csv").mapping == {"phone": "B"}
