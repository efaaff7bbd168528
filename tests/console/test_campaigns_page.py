"""The campaigns page: charts drawn from the campaign's own figures, each recipient's status
with the provider's error in plain words, filters, an Excel-safe export, pause/resume."""

import csv
import io
import json

from hde_core.services.campaigns import campaign_report
from tests.console.conftest import run_page
from tests.console.seed import seeded  # noqa: F401 - fixture

PAGE = "pages/3_campaigns.py"


def test_campaign_charts_show_its_funnel_statuses_failures_and_times(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="agent", lang="en")
    assert not at.exception
    figures = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(figures) == 4
    funnel, over_time, failures, times = figures
    stages = {trace["name"]: trace["x"] for trace in funnel["data"]}
    # queued → sent → delivered → read per channel: each stage counts those that got that far;
    # email and Telegram cannot report delivery: their funnel ends at "sent" and says so
    assert stages == {"email": [1, 1], "telegram": [1, 1], "wa-business": [3, 1, 1, 0]}
    assert funnel["data"][2]["y"] == ["queued", "sent", "delivered", "read"]
    titles = [a["text"] for a in funnel["layout"]["annotations"]]
    assert titles == ["email · no delivery data", "telegram · no delivery data", "wa-business"]
    # each of the five messages once, under the furthest status it reached
    per_status = {t["name"]: sum(t["y"]) for t in over_time["data"]}
    assert per_status == {"read": 1, "delivered": 1, "sent": 1, "held": 1, "failed": 1}
    assert failures["data"][0]["y"] == ["not reachable (code 131026)"]
    assert failures["data"][0]["x"] == [1]
    minutes = {t["name"]: t["y"] for t in times["data"]}
    assert minutes["to read"] == [12.0, 0]  # telegram read after 12 minutes; wa-business never


def test_each_recipient_with_the_providers_error_in_plain_words(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="viewer")
    assert not at.exception
    table = at.dataframe[1].value
    assert list(table["Статус"]) == [
        "доставлено",
        "ждёт ответа",
        "прочитано",
        "ошибка",
        "отправлено",
    ]
    failed = table[table["Статус"] == "ошибка"].iloc[0]
    assert failed["Получатель"] == "79120000001"
    assert failed["Ответ провайдера"] == (
        "До клиента здесь не дойти (нет аккаунта, заблокировал нас или отписался) "
        "(131026 Message undeliverable)"
    )
    assert "Показано 5 из 5." in [c.value for c in at.caption]

    at.multiselect(key="cp_status").select("failed").run()
    assert list(at.dataframe[1].value["#"]) == [4]
    at.multiselect(key="cp_status").unselect("failed").run()
    at.text_input(key="cp_search").input("мария").run()
    assert list(at.dataframe[1].value["Имя"]) == ["Мария Иванова"] * 2


def test_export_is_safe_to_open_in_excel(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="viewer", lang="en")
    at.button(key="cp_export").click().run()
    assert not at.exception
    _, fmt, data = at.session_state["cp_export_file"]
    assert fmt == "csv" and data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel reads Cyrillic
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:4] == ["message_id", "ticket_id", "Channel", "Recipient"]
    assert len(rows) == 6
    names = {r[4] for r in rows[1:]}
    assert '\'=HYPERLINK("http://evil.example")' in names  # a formula stays text
    assert any("131026 Message undeliverable" in r[8] for r in rows)
    assert at.get("download_button")


def test_team_lead_pauses_and_resumes_the_campaign(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="team_lead", lang="en")
    at.button(key="cp_pause").click().run()
    assert not at.exception
    assert "The campaign is paused" in at.success[0].value
    assert campaign_report(console_app, seeded.campaign_key).status == "paused"
    at.button(key="cp_resume").click().run()
    assert campaign_report(console_app, seeded.campaign_key).status == "running"
    assert at.button(key="cp_cancel").disabled  # not before the confirmation
    at.checkbox(key="cp_cancel_sure").check().run()
    at.button(key="cp_cancel").click().run()
    assert "1 unsent message(s) will never be sent" in at.success[0].value
    assert campaign_report(console_app, seeded.campaign_key).messages["cancelled"] == 1


def test_no_campaign_yet_says_how_to_start_one(console_app):
    at = run_page(PAGE, role="agent", lang="en")
    assert not at.exception
    assert "No campaigns yet" in at.info[0].value
