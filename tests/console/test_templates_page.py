"""The templates page: synced templates with status, category, language and parameters,
filters, "sync now" with its result and time, a preview with sample parameters (R11)."""

import pytest
from sqlalchemy import select

from hde_core.db.models import Channel
from hde_core.sandbox.server import HttpServer
from hde_core.sandbox.sim_meta import create_meta_simulator
from hde_core.sandbox.smtp_sink import free_port
from hde_core.services.authz import SYSTEM
from hde_core.services.provision import provision
from tests.channels.wa_helpers import APP_SECRET, PHONE_NUMBER_ID, WABA_ID
from tests.console.conftest import run_page
from tests.console.seed import seeded  # noqa: F401 - fixture

PAGE = "pages/5_templates.py"


def test_templates_with_status_filters_and_preview(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="viewer", lang="en")
    assert not at.exception
    table = at.dataframe[1].value
    assert list(table["Name"]) == ["black_friday", "hde_first_contact"]
    assert list(table["Status"]) == ["in review", "approved"]
    assert list(table["Category"]) == ["marketing", "utility"]
    assert list(table["Parameters"]) == ["1, 2", "1, 2"]
    assert "A team lead or an admin can sync templates." in [c.value for c in at.caption]

    at.multiselect(key="tp_f_status").select("approved").run()
    assert list(at.dataframe[1].value["Name"]) == ["hde_first_contact"]
    assert "1 of 2 template(s)." in [c.value for c in at.caption]
    # the preview: the body with sample values in place of {{1}} and {{2}}
    assert at.code[0].value == "Здравствуйте, Anna! По заявке №1024 есть новости."
    at.text_input(key="tp_param_wa-business · hde_first_contact:ru_1").input("Мария").run()
    assert at.code[0].value == "Здравствуйте, Мария! По заявке №1024 есть новости."


@pytest.mark.process
def test_sync_now_reports_what_came_and_when(console_app, tmp_path):
    server = HttpServer(create_meta_simulator(console_app.settings), "127.0.0.1", free_port())
    server.start()
    try:
        path = tmp_path / "wa.toml"
        path.write_text(
            f"""
[[channels]]
name = "wa"
kind = "wa_business"
provider = "meta_cloud"
api_base = "{server.url}"
[channels.credentials]
access_token = "sandbox-token"
phone_number_id = "{PHONE_NUMBER_ID}"
waba_id = "{WABA_ID}"
app_secret = "{APP_SECRET}"
""",
            encoding="utf-8",
        )
        provision(console_app, path, actor=SYSTEM)
        at = run_page(PAGE, role="team_lead", lang="en")
        assert list(at.dataframe[0].value["Last sync"]) == ["never"]
        at.button(key="tp_sync").click().run()
        assert not at.exception
    finally:
        server.stop()
    assert at.success[0].value.startswith("wa: ")
    assert "template(s) from the provider" in at.success[0].value
    assert list(at.dataframe[0].value["Last sync"]) != ["never"]
    names = set(at.dataframe[1].value["Name"])
    assert {"hde_first_contact", "order_update", "autumn_sale"} <= names
    with console_app.db.reader() as s:
        assert s.scalar(select(Channel.templates_synced_at).where(Channel.name == "wa"))


def test_sync_failure_is_said_in_plain_words(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="team_lead", lang="en")
    at.button(key="tp_sync").click().run()
    assert not at.exception
    assert at.error[0].value.startswith("wa-business: the templates could not be synced — ")


def test_no_whatsapp_business_channel(console_app):
    at = run_page(PAGE, role="agent", lang="en")
    assert "There are no WhatsApp Business channels" in at.info[0].value
