"""The conversation loop in a real browser against ``hde demo`` (issue 17): a team lead
launches a small Telegram campaign; the simulated client answers it by pressing "Reply" on
our message (the simulator posts the signed webhook with the reply context, as Telegram
does); the team lead's campaign page shows the reply rate move by itself (no reload); the
reply is in the ticket on the tickets page; an agent answers it in the reply box, pressing
"Send" twice, and the client receives exactly one message."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from hde_core.db.models import Campaign, Channel, ContactIdentity, InboundMessage, Ticket
from hde_core.services.campaigns import SendRequest, launch
from hde_core.services.conversation import analytics
from tests.browser.conftest import shot, sign_in
from tests.browser.test_live_views import wait_for

pytestmark = pytest.mark.browser

#: The demo's first Telegram client (they press /start when the demo starts) and its bot.
CLIENT = "700000001"
BOT_ID = 100200300
ANSWER = "Добрый день! Заказ можно забрать сегодня до 20:00."


def metric(page, label: str):  # type: ignore[no-untyped-def]
    return page.locator('[data-testid="stMetric"]', has_text=label)


def test_a_reply_reaches_the_ticket_and_the_rate_and_the_agent_answers_once(
    demo_page, demo_console, browser
):
    app = demo_console.app
    page = demo_page
    page.set_default_timeout(60_000)  # two cores shared with the demo's services

    def identity() -> int:
        with app.db.reader() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(ContactIdentity)
                    .join(Channel, Channel.id == ContactIdentity.channel_id)
                    .where(Channel.name == "telegram", ContactIdentity.address == CLIENT)
                )
                or 0
            )

    wait_for("the demo's Telegram client", lambda: identity() == 1, 90)
    with app.db.reader() as s:
        sim = s.scalar(select(Channel.api_base).where(Channel.name == "telegram"))
    # the client will answer our message, pressing "Reply" on it, a few seconds after it
    config = httpx.post(
        f"{sim}/_control/config",
        json={"reply_probability": 1.0, "quote_probability": 1.0, "reply_delay_s": 6.0},
        timeout=30,
    )
    assert config.status_code == 200, config.text

    result = launch(
        app,
        SendRequest(
            source=f"ФИО;Telegram\nАнна Смирнова;{CLIENT}\n".encode(),
            filename="reply.csv",
            channels=["telegram"],
            subject="Заказ",
            body="{{ ФИО }}, ваш заказ готов.",
            name="Ответы",
        ),
        "team_lead",
    )
    assert result.tickets_created == 1

    sign_in(page, demo_console, "team_lead")
    page.get_by_role("link", name="Рассылки", exact=True).click()
    rate = metric(page, "Доля ответов")
    rate.wait_for()

    # the client answers; the campaign page shows it by itself (no reload, no click)
    def replied() -> bool:
        return analytics.campaign_replies(app, result.campaign_key)[-1].replied == 1

    wait_for("the client's reply", replied, 90)
    rate.get_by_text("100%").wait_for(timeout=60_000)
    metric(page, "Ответили").get_by_text("1", exact=True).wait_for()
    shot(page, "reply-01-campaign-rate")

    with app.db.reader() as s:
        ticket_id = s.scalar(
            select(Ticket.id)
            .join(Campaign, Campaign.id == Ticket.campaign_id)
            .where(Campaign.key == result.campaign_key)
        )
        said = s.scalar(select(InboundMessage.text).where(InboundMessage.ticket_id == ticket_id))
    assert ticket_id is not None and said

    # the reply is in the ticket: the team lead finds it on the tickets page and opens it
    page.get_by_role("link", name="Заявки", exact=True).click()
    page.get_by_text("клиент ответил").first.wait_for()
    page.goto(f"{demo_console.url}/tickets?ticket={ticket_id}")
    page.locator('[data-testid="stChatMessage"]', has_text=said).wait_for()
    shot(page, "reply-02-ticket")

    # an agent answers it in the reply box, in their own browser
    context = browser.new_context(viewport={"width": 1400, "height": 1800}, locale="ru-RU")
    agent = context.new_page()
    agent.set_default_timeout(60_000)
    sign_in(agent, demo_console, "agent")
    agent.goto(f"{demo_console.url}/tickets?ticket={ticket_id}")
    agent.locator('[data-testid="stChatMessage"]', has_text=said).wait_for()
    agent.get_by_label("Ответ").fill(ANSWER)
    agent.get_by_role("button", name="Отправить").dblclick()  # as impatient users do
    agent.locator('[data-testid="stChatMessage"]', has_text=ANSWER).wait_for()

    def received() -> list[str]:
        sent = httpx.get(f"{sim}/_control/bots/{BOT_ID}/sent", timeout=30).json()
        return [m.get("text") for m in sent if int(m["chat"]["id"]) == int(CLIENT)]

    wait_for("the answer to reach the client", lambda: ANSWER in received(), 60)
    agent.reload()  # F5 after sending does not send again
    agent.locator('[data-testid="stChatMessage"]', has_text=ANSWER).wait_for()
    agent.wait_for_timeout(3000)
    assert received().count(ANSWER) == 1
    shot(agent, "reply-03-answered")
    context.close()
