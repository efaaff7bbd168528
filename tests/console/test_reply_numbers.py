"""Issue 17.6 on the console: the overview says how many clients replied today and how many
tickets wait for an agent's answer; a campaign's page shows its replied count and reply rate
inside its live part (so they update without a reload)."""

from __future__ import annotations

import pytest

from tests.console.conftest import run_page
from tests.conversation.world import world

CAMPAIGNS = "pages/3_campaigns.py"


@pytest.fixture
def w(console_app, tmp_path):
    with world(console_app, tmp_path) as built:
        yield built


def test_a_reply_shows_on_the_overview_and_in_the_campaigns_reply_rate(console_app, w):
    cid = w.campaign("spring", owner="team_lead")
    _, ref = w.ticket("telegram", campaign_id=cid)
    w.ticket("viber", campaign_id=cid)

    at = run_page("app.py", role="viewer")
    assert not at.exception
    before = {m.label: m.value for m in at.metric}
    assert (before["Ответов сегодня"], before["Заявок ждут ответа"]) == ("0", "0")
    at = run_page(CAMPAIGNS, role="viewer")
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Ответили"], shown["Доля ответов"]) == ("0", "0%")

    assert w.reply("telegram", "Да, интересно", context=ref).status_code == 200

    at = run_page("app.py", role="viewer")
    assert not at.exception
    after = {m.label: m.value for m in at.metric}
    assert (after["Ответов сегодня"], after["Заявок ждут ответа"]) == ("1", "1")
    at = run_page(CAMPAIGNS, role="viewer", lang="en")
    assert not at.exception
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Replied"], shown["Reply rate"]) == ("1", "50%")  # one of two clients
