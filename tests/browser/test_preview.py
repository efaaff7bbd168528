"""In a real browser (issue 16.3): the preview on the new-ticket page is what the client
receives, character for character — the email in its notification wrapper as the SMTP sink
got it, the Telegram text as the simulated bot API got it — and a test send reaches the
agent's own mailbox once, in no campaign."""

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from hde_core.db.models import Campaign, Channel, Contact, ContactIdentity, Ticket
from hde_core.sandbox.sim_telegram import TelegramSimulator
from hde_core.sandbox.smtp_sink import SmtpSink, list_mail, mail_dir, wait_for_mail
from hde_core.services.authz import SYSTEM
from hde_core.services.provision import provision
from tests.browser.conftest import settled, sign_in
from tests.channels.messengers import control, running
from tests.lists.helpers import add_identity
from tests.services.helpers import provision_email

pytestmark = pytest.mark.browser

TIMEOUT = 30_000


def received(part: str) -> str:
    """A MIME part as its reader sees it: SMTP's CRLF line ends and final newline aside."""
    return part.replace("\r\n", "\n").rstrip("\n")


def shown(page, key: str) -> str:  # type: ignore[no-untyped-def]
    """The text of a preview element, as the browser shows it."""
    element = page.locator(f".st-key-{key} [data-testid='stText']").first
    element.wait_for(timeout=TIMEOUT)
    return str(element.inner_text())


def write_ticket(page, body: str) -> None:  # type: ignore[no-untyped-def]
    page.get_by_label("Тема *").fill("Ваш заказ готов")
    page.get_by_label("Сообщение *").fill(body)
    page.get_by_label("Сообщение *").press("Tab")


def test_email_preview_is_the_email_received_and_a_test_send_goes_to_me_once(
    page, console, tmp_path
):
    with SmtpSink(mail_dir(console.data_dir)) as sink:
        provision_email(console.app, tmp_path, sink.url)
        sign_in(page, console, "agent")
        page.get_by_role("link", name="Новая заявка").click()
        page.get_by_label("Почта или телефон").fill("client@example.com")
        page.get_by_label("Почта или телефон").press("Enter")
        page.get_by_label("Имя клиента (необязательно)").fill("Анна")
        page.get_by_text("Получатель: client@example.com").wait_for(timeout=TIMEOUT)
        page.get_by_label("Order number *").fill("A-1")
        write_ticket(page, "Заказ можно забрать\nс 10 до 20 часов.")
        settled(page)
        # the notification wrapper greets; the agent's text sits inside it, once
        text = shown(page, "nt_preview_0_text")
        assert text.startswith("Hello Анна! Заказ можно забрать")
        assert text.count("Hello") == 1
        assert shown(page, "nt_preview_0_subject") == "[#1] Ваш заказ готов"

        # a test send to my own address first: the same email, once, whatever the clicks
        page.get_by_label("Куда отправить тест").fill("agent@company.com")
        page.get_by_label("Куда отправить тест").press("Tab")
        settled(page)
        page.get_by_role("button", name="Отправить тест").dblclick()
        page.get_by_text("Тест отправлен: agent@company.com").wait_for(timeout=TIMEOUT)
        (test_mail,) = wait_for_mail(sink.directory, 1)
        assert test_mail.to_header == "agent@company.com"
        assert test_mail.subject == "[#1] Ваш заказ готов"
        assert received(test_mail.text) == text
        settled(page)

        # the ticket itself: the preview now shows the next number, and is what the client gets
        text = shown(page, "nt_preview_0_text")
        subject = shown(page, "nt_preview_0_subject")
        assert subject == "[#2] Ваш заказ готов"
        page.get_by_role("button", name="Создать и отправить").click()
        page.get_by_text("Заявка №2 создана").wait_for(timeout=TIMEOUT)
        mails = wait_for_mail(sink.directory, 2)
        (mail,) = [m for m in mails if m.to_header == "client@example.com"]
        assert mail.subject == subject
        assert received(mail.text) == text
        assert len(list_mail(sink.directory)) == 2
        with console.app.db.reader() as s:
            assert s.scalar(select(func.count()).select_from(Campaign)) == 0
            assert s.scalar(select(func.count()).where(Ticket.campaign_id.is_not(None))) == 0
    assert page.console_errors == []


def test_telegram_preview_is_the_text_the_bot_api_received(page, console, tmp_path):
    app = console.app
    with running(TelegramSimulator()) as sim:
        token = "7301:PREVIEW-TOKEN-0001abcdef"
        assert httpx.post(f"{sim}/bot{token}/getMe", timeout=10).status_code == 200
        path = tmp_path / "tg.toml"
        path.write_text(
            f'[[channels]]\nname = "telegram"\nkind = "telegram"\napi_base = "{sim}"\n'
            f'credentials = {{ bot_token = "{token}" }}\nwebhook_secret = "tg-secret"\n',
            encoding="utf-8",
        )
        provision(app, path, actor=SYSTEM)
        control(sim, "users/555001/write", bot_id=7301, first_name="Анна")
        with app.db.reader() as s:
            channel_id = s.scalar(select(Channel.id).where(Channel.name == "telegram"))
        identity_id = add_identity(
            app, channel_id, "555001", app.clock, last_inbound=timedelta(hours=1)
        )
        with app.db.transaction() as s:
            identity = s.get(ContactIdentity, identity_id)
            assert identity is not None
            s.get(Contact, identity.contact_id).name = "Анна Петрова"  # type: ignore[union-attr]

        sign_in(page, console, "agent")
        page.get_by_role("link", name="Новая заявка").click()
        page.get_by_label("Найти клиента").fill("Анна")
        page.get_by_label("Найти клиента").press("Enter")
        page.get_by_text("Анна Петрова — telegram: 555001").click()
        settled(page)
        write_ticket(page, "{{ contact.name }}, ваш заказ готов.\nЖдём вас!")
        settled(page)
        text = shown(page, "nt_preview_0_text")
        assert text == "Анна Петрова, ваш заказ готов.\nЖдём вас!"
        page.get_by_role("button", name="Создать и отправить").click()
        page.get_by_text("Заявка №1 создана").wait_for(timeout=TIMEOUT)
        sent = httpx.get(f"{sim}/_control/bots/7301/sent", timeout=10).json()
        assert [m["text"] for m in sent] == [text]
    assert page.console_errors == []
