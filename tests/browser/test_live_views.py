"""Live views in a real browser against ``hde demo`` (issue 16.5): a bulk run whose WhatsApp
Business messages are held until the clients reply. A team lead watches it in two tabs —
the wizard's progress and the campaigns page — and never reloads either: when the simulated
clients write back, the held messages go out, and both tabs show the run reach its end by
themselves; then the progress stops refreshing (its "refreshes by itself" line goes)."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from sqlalchemy import func, select

from hde_core.db.models import Channel, ContactIdentity, Message
from hde_core.services.bulk import drafts
from hde_core.services.campaigns import SendRequest, launch
from tests.browser.conftest import shot, sign_in

pytestmark = pytest.mark.browser

CHANNEL = "whatsapp-business"
#: The demo's two clients whose 24-hour window is closed (they wrote 30 h and 3 days ago).
CLIENTS = {"79161234567": "Игорь Петров", "79031112233": "Мария Иванова"}
ADDRESSES = [a for phone in CLIENTS for a in (phone, "+" + phone)]  # as stored, either way
LIST = "ФИО;Телефон\n" + "".join(f"{name};+{phone}\n" for phone, name in CLIENTS.items())


def wait_for(what: str, check, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def count(app, *where) -> int:  # type: ignore[no-untyped-def]
    with app.db.reader() as s:
        return int(s.scalar(select(func.count()).select_from(Message).where(*where)) or 0)


def test_progress_and_campaign_page_reach_the_end_by_themselves(demo_page, demo_console):
    app = demo_console.app
    page = demo_page
    page.set_default_timeout(60_000)  # two cores shared with the demo's services

    # the demo's clients have written in (their identities exist), then the run is launched
    # as the wizard launches it: the team lead's draft points at the campaign
    def identities() -> int:
        with app.db.reader() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(ContactIdentity)
                    .join(Channel, Channel.id == ContactIdentity.channel_id)
                    .where(Channel.name == CHANNEL, ContactIdentity.address.in_(ADDRESSES))
                )
                or 0
            )

    wait_for("the demo's WhatsApp clients", lambda: identities() == len(CLIENTS), 90)
    result = launch(
        app,
        SendRequest(
            source=LIST.encode("utf-8"),
            filename="live.csv",
            channels=[CHANNEL],
            subject="Заказ",
            body="{{ ФИО }}, ваш заказ готов.",
            name="Живая",
        ),
        "team_lead",
    )
    assert result.tickets_created == len(CLIENTS)
    drafts.mark_launched(app, "team_lead", result.campaign_key)

    sign_in(page, demo_console, "team_lead")
    campaigns_tab = page.context.new_page()
    campaigns_tab.set_default_timeout(60_000)
    sign_in(campaigns_tab, demo_console, "team_lead")
    campaigns_tab.get_by_role("link", name="Рассылки", exact=True).click()
    page.get_by_role("link", name="Массовая рассылка").click()
    page.get_by_text("9. Ход рассылки").wait_for()

    # templates out, the messages themselves held: the run waits for the clients
    page.get_by_text("ждут ответа клиента: 2").wait_for(timeout=90_000)
    page.get_by_text(re.compile(r"Обновляется само каждые \d+ с")).wait_for()
    campaigns_tab.get_by_text("Статус: идёт").wait_for()
    shot(page, "live-01-progress-waiting")

    # the clients write back (through the simulator's webhooks, as WhatsApp would)
    with app.db.reader() as s:
        sim = s.scalar(select(Channel.api_base).where(Channel.name == CHANNEL))
    for phone in CLIENTS:
        answer = httpx.post(
            f"{sim}/_control/users/{phone}/write", json={"text": "Да, жду"}, timeout=30
        )
        assert answer.status_code == 200, answer.text
    wait_for(
        "the held messages to be released and sent",
        lambda: (
            count(app, Message.status == "held") == 0
            and count(app, Message.status.in_(("queued", "sending", "retrying"))) == 0
        ),
    )

    # no reload: both tabs get there by themselves
    page.get_by_text("Отправлено 4 из 4").wait_for(timeout=60_000)
    expect_gone = page.get_by_text("ждут ответа клиента: 2")
    assert expect_gone.count() == 0
    # the periodic check marks the campaign done (every 30 s); both views follow
    campaigns_tab.get_by_text("Статус: завершена").wait_for(timeout=120_000)
    page.get_by_text(re.compile(re.escape(result.campaign_key) + r"\W*: завершена")).wait_for(
        timeout=60_000
    )
    # done: the progress no longer refreshes itself
    page.get_by_text(re.compile(r"Обновляется само каждые")).wait_for(state="detached")
    shot(page, "live-02-progress-done")
    shot(campaigns_tab, "live-03-campaign-done")
    assert page.console_errors == []
