"""In a real browser (issue 16.3): the bulk wizard's message step shows the message of a
chosen row as its client gets it — row 1 an email in its wrapper, row 2 (no email) the
WhatsApp Business template with the row's name filled in, then the held text — and a test
send of row 1 reaches the team lead's own mailbox once, word for word, in no campaign."""

import pytest
from sqlalchemy import func, select

from hde_core.db.models import Campaign, Channel, WaTemplate
from hde_core.sandbox.smtp_sink import SmtpSink, list_mail, mail_dir, wait_for_mail
from hde_core.services.wa_settings import PARAMS_KEY
from tests.browser.conftest import sign_in
from tests.browser.test_bulk import choose, settle
from tests.browser.test_preview import received, shown
from tests.services.bulk_helpers import BODY, LIST, PHONE, SUBJECT, setup_bulk

pytestmark = pytest.mark.browser

TIMEOUT = 60_000


def test_wizard_previews_a_chosen_row_and_test_sends_it(page, console, tmp_path):
    app = console.app
    page.set_default_timeout(TIMEOUT)
    with SmtpSink(mail_dir(console.data_dir)) as sink:
        setup_bulk(app, tmp_path, sink.url)
        with app.db.transaction() as s:
            for tpl in s.scalars(select(WaTemplate)):
                tpl.body_text = "{{1}}, для вас есть новости."
                tpl.param_names = ["1"]
            wa = s.scalar(select(Channel).where(Channel.kind == "wa_business"))
            assert wa is not None  # its default template's parameter: the client's name
            wa.settings = {**(wa.settings or {}), PARAMS_KEY: {"1": "{{ contact.name }}"}}
        sign_in(page, console, "team_lead")
        page.get_by_role("link", name="Массовая рассылка").click()
        page.locator('input[type="file"]').set_input_files(str(LIST))
        page.get_by_text("Остальные колонки").wait_for(timeout=TIMEOUT)
        settle(page)
        choose(page, "телефон", PHONE)
        choose(
            page,
            "Канал или несколько каналов по порядку",
            "email (Почта)",
            "whatsapp-business (WhatsApp Business)",
        )
        page.get_by_label("Тема *", exact=True).fill(SUBJECT)
        page.get_by_label("Тема *", exact=True).press("Enter")
        page.get_by_label("Сообщение *", exact=True).fill(BODY)
        page.get_by_label("Сообщение *", exact=True).press("Control+Enter")
        settle(page)

        # row 1: an email, in the notification wrapper (here: the text alone) with its subject
        first = shown(page, "bulk_preview_0_text")
        assert first == "Здравствуйте, Анна Смирнова! Ваш заказ ждёт вас в городе Москва."
        assert shown(page, "bulk_preview_0_subject") == f"[#1] {SUBJECT}"

        # row 2 has no usable email: WhatsApp Business, template first, then the held text
        page.get_by_role("button", name="Следующая").click()
        settle(page)
        template = shown(page, "bulk_preview_0_text")
        assert template.endswith(", для вас есть новости.") and not template.startswith("{{")
        assert shown(page, "bulk_preview_1_text").startswith("Здравствуйте, ")
        page.get_by_text("Затем сообщение").first.wait_for()

        # back to the first row, and a test send of it to my own address
        page.get_by_role("button", name="Первая").click()
        settle(page)
        assert shown(page, "bulk_preview_0_text") == first
        page.get_by_label("Куда отправить тест").fill("lead@company.com")
        page.get_by_label("Куда отправить тест").press("Tab")
        settle(page)
        page.get_by_role("button", name="Отправить тест").dblclick()
        page.get_by_text("Тест отправлен: lead@company.com").wait_for(timeout=TIMEOUT)
        (mail,) = wait_for_mail(sink.directory, 1)
        assert mail.to_header == "lead@company.com"
        assert received(mail.text) == first
        settle(page)
        assert len(list_mail(sink.directory)) == 1
        with app.db.reader() as s:
            assert s.scalar(select(func.count()).select_from(Campaign)) == 0
    assert page.console_errors == []
