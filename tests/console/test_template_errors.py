"""A template typed by hand with a column name as people write it (`{{ Номер заказа }}`)
is explained in plain words with its fix (issue 16.4), on the ticket page and in the bulk
wizard, before the list is checked; no traceback is shown."""

from __future__ import annotations

import pytest

from hde_core.services import bulk
from hde_core.services.rendering import syntax_problem
from tests.console.conftest import run_page
from tests.console.test_bulk import compose, upload
from tests.console.test_new_ticket import fill
from tests.services.bulk_helpers import setup_bulk
from tests.services.helpers import provision_email

FIX = '{{ row["Номер заказа"] }}'


def test_the_core_names_the_placeholder_and_its_fix():
    problem = syntax_problem("Заказ {{ Номер заказа }} готов")
    assert problem is not None
    assert (problem.placeholder, problem.fix) == ("{{ Номер заказа }}", FIX)
    assert syntax_problem("Заказ " + FIX) is None
    other = syntax_problem("Заказ {{ x }")
    assert other is not None and other.placeholder is None


def test_ticket_page_explains_a_bad_placeholder(console_app, tmp_path, smtp_sink):
    provision_email(console_app, tmp_path, smtp_sink.url)
    at = run_page("pages/1_new_ticket.py", role="agent")
    at.text_input(key="nt_to").input("x@example.com").run()
    at.selectbox(key="nt_department").select("IT").run()
    fill(at, nt_subject="Заказ", nt_body="Заказ {{ Номер заказа }}", nt_field_order_id="1")
    at.button(key="nt_submit").click().run()
    assert not at.exception
    assert at.error[0].value == "Заявка не создана:"
    assert (
        "- Сообщение: подстановка {{ Номер заказа }} записана так, что её нельзя прочитать"
        f" (в имени колонки пробел или знак). Напишите так: {FIX}"
    ) in [m.value for m in at.markdown]


@pytest.fixture
def deployment(console_app, tmp_path, smtp_sink):
    bulk.forget_cached()
    setup_bulk(console_app, tmp_path, smtp_sink.url)
    yield console_app
    bulk.forget_cached()


def test_bulk_wizard_explains_a_bad_placeholder(deployment):
    at = compose(upload(run_page("pages/2_bulk.py", role="team_lead")))
    at.text_area(key="bulk_body").input("Ваш заказ {{ Номер заказа }}").run()
    assert not at.exception
    assert at.error[0].value == (
        "В поле «Сообщение» подстановка {{ Номер заказа }} записана так, что её нельзя"
        f" прочитать (в имени колонки пробел или знак). Напишите так: {FIX}"
    )
