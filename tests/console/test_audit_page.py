"""Audit and delivery: a ticket's trail found by its number or by its client, and the
delivery charts of a period (R8)."""

import json

from tests.console.conftest import run_page
from tests.console.seed import seeded  # noqa: F401 - fixture

PAGE = "pages/7_audit.py"


def test_trail_of_a_ticket_by_number(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="viewer", lang="en")
    at.text_input(key="au_query").input(f"#{seeded.held_ticket}").run()
    assert not at.exception
    assert at.markdown[0].value.startswith(
        f"**Ticket #{seeded.held_ticket}** · Скидки · wa-business"
    )
    assert "Part of campaign black-friday." in [c.value for c in at.caption]
    messages = at.dataframe[0].value
    assert list(messages["Kind"]) == ["template", "text"]
    assert list(messages["Status"]) == ["delivered", "held"]
    trail = at.dataframe[1].value
    assert list(trail["What"]) == ["Ticket created", "Message queued", "Message queued"]
    assert set(trail["Who"]) == {"lead"}


def test_failed_message_explained_and_client_search(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="agent", lang="en")
    at.text_input(key="au_query").input("Анна").run()
    assert not at.exception
    picked = at.radio(key="au_pick")
    assert picked.value == seeded.failed_ticket
    messages = at.dataframe[0].value
    assert messages["Provider's answer"].iloc[0].startswith("The client cannot be reached here")


def test_unknown_ticket_and_link_from_the_campaign(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="viewer", lang="en")
    at.text_input(key="au_query").input("999").run()
    assert "There is no ticket #999" in at.warning[0].value
    at = run_page(PAGE, role="viewer", lang="en")
    at.query_params["ticket"] = str(seeded.failed_ticket)
    at.run()
    assert at.text_input(key="au_query").value == str(seeded.failed_ticket)
    assert at.markdown[0].value.startswith(f"**Ticket #{seeded.failed_ticket}**")


def test_delivery_charts_of_the_period(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="agent", lang="en")
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(figures) == 4
    funnel = {t["name"]: t["x"] for t in figures[0]["data"]}
    # the read message and the uncertain one; Telegram reports no delivery: it ends at "sent"
    assert funnel["telegram"] == [2, 1]
    days = {t["name"]: sum(t["y"]) for t in figures[1]["data"]}
    assert days["uncertain"] == 1 and days["held"] == 1
