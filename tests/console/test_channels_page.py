"""Channels and settings: a channel saved, masked and checked (R14); bad input explained;
R10, R11/R12; departments with masked SMTP URLs; custom fields; notification templates
with a preview; prices (R13); the opt-out list (R15)."""

import pytest
from sqlalchemy import select

from hde_core.db.models import Channel, CustomField, Department, Price
from hde_core.sandbox.sim_telegram import TelegramSimulator
from hde_core.security.crypto import SecretBox
from hde_core.services.wa_settings import get_wa_settings
from tests.channels.messengers import running
from tests.console.conftest import run_page
from tests.console.seed import SMTP_PASSWORD, seeded  # noqa: F401 - fixture

PAGE = "pages/4_channels.py"
TOKEN = "777000:AAH-console-test-token-9f8e"


def channel(app, name):
    with app.db.reader() as s:
        row = s.scalar(select(Channel).where(Channel.name == name))
        s.expunge_all()
        return row


def table(at, column: str):
    """The dataframe that has ``column``."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def page_text(at) -> str:
    parts = []
    for kind in ("markdown", "caption", "success", "error", "warning", "info", "text", "code"):
        parts += [str(e.value) for e in at.get(kind)]
    for w in at.text_input:
        parts += [str(w.value), str(w.placeholder)]
    for df in at.dataframe:
        parts.append(df.value.to_string())
    return "\n".join(parts)


@pytest.mark.process
def test_admin_creates_a_channel_sees_it_connected_and_never_sees_the_token_again(console_app):
    with running(TelegramSimulator()) as sim:
        at = run_page(PAGE, role="admin", lang="en")
        at.selectbox(key="ch_kind").select("telegram").run()
        at.text_input(key="ch_name_new").input("support-bot")
        at.text_input(key="ch_api_base_new_telegram").input(sim)
        at.text_input(key="ch_cred_new_telegram_bot_token").input(TOKEN)
        at.text_input(key="ch_secret_new_telegram").input("hook-secret-1")
        at.number_input(key="ch_rate_new_telegram").set_value(12.0)
        at.button(key="ch_save_new_telegram").click().run()
        assert not at.exception
    assert at.success[0].value.startswith("Channel support-bot created.")
    assert "Channel 'support-bot': connected — @hde_sandbox_777000_bot" in at.success[0].value
    assert "Connected (checked" in at.success[1].value
    channels = table(at, "Rate, burst").set_index("Name")
    assert channels.loc["support-bot", "Status"] == "Connected"
    assert channels.loc["support-bot", "Rate, burst"] == "12 a second, bursts of up to 30"
    # masked from now on: only the tail, never the token, not even in the form's state
    assert at.text_input(key="ch_cred_support-bot_bot_token").placeholder == "••••9f8e"
    assert at.text_input(key="ch_cred_support-bot_bot_token").value == ""
    assert TOKEN not in page_text(at)
    row = channel(console_app, "support-bot")
    assert TOKEN not in row.credentials_enc and row.connection_status == "connected"
    assert console_app.secrets.decrypt_json(row.credentials_enc) == {"bot_token": TOKEN}


def test_editing_without_retyping_keeps_the_credentials(console_app, seeded):  # noqa: F811
    before = channel(console_app, "telegram")
    at = run_page(PAGE, role="admin", lang="en", ch_pick="telegram")
    assert at.text_input(key="ch_cred_telegram_bot_token").placeholder == "••••abcd"
    at.number_input(key="ch_burst_telegram").set_value(7)
    at.button(key="ch_save_telegram").click().run()
    assert not at.exception
    after = channel(console_app, "telegram")
    assert after.burst == 7
    assert console_app.secrets.decrypt_json(
        after.credentials_enc
    ) == console_app.secrets.decrypt_json(before.credentials_enc)
    # the seeded channel points at a closed port: the check says so in plain words
    assert "Channel telegram saved." in at.error[0].value
    # (a check's answer is stored in HDE_LANG, Russian by default, for every reader)
    assert "not connected — Провайдер недоступен: ConnectError" in at.error[0].value


def test_bad_input_is_explained_per_field_and_nothing_is_created(console_app):
    at = run_page(PAGE, role="admin")
    at.selectbox(key="ch_kind").select("viber").run()
    at.text_input(key="ch_name_new").input("мой канал")
    at.text_input(key="ch_api_base_new_viber").input("ftp://example.com")
    at.button(key="ch_save_new_viber").click().run()
    assert not at.exception
    message = at.error[0].value
    assert message.startswith("Не сохранено: нужно исправить полей — 2.")
    assert "Название: от 1 до 100 латинских букв" in message
    assert "Адрес API: должен начинаться с http:// или https://." in message
    with console_app.db.reader() as s:
        assert s.scalars(select(Channel)).all() == []


def test_team_lead_checks_a_channel_now_and_reads_the_error(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="team_lead", lang="en", ch_pick="whatsapp")
    assert "Only an admin can change a channel's credentials" in page_text(at)
    at.button(key="ch_check_whatsapp").click().run()
    assert not at.exception
    assert "Channel 'whatsapp': not connected — Провайдер недоступен" in at.error[0].value
    assert channel(console_app, "whatsapp").connection_status == "error"


def test_gray_whatsapp_initiation_needs_the_risk_acknowledgement(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="team_lead", lang="en", ch_pick="whatsapp")
    assert "Off: writing first from this number is not allowed" in page_text(at)
    at.toggle(key="ch_r10_enable_whatsapp").set_value(True).run()
    at.button(key="ch_r10_apply_whatsapp").click().run()
    assert "may get the number banned for good" in at.error[0].value
    assert not channel(console_app, "whatsapp").initiation_enabled
    at.checkbox(key="ch_r10_ack_whatsapp").check().run()
    at.button(key="ch_r10_apply_whatsapp").click().run()
    row = channel(console_app, "whatsapp")
    assert row.initiation_enabled and row.risk_ack_by == "team_lead"
    assert "The ban risk was accepted by team_lead" in at.warning[0].value


def test_wa_business_default_template_params_and_send_after(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="team_lead", lang="en", ch_pick="wa-business")
    assert "Not ready" in at.warning[0].value
    at.selectbox(key="ch_r11_default_wa-business").select("hde_first_contact:ru").run()
    at.text_input(key="ch_r11_param_wa-business_hde_first_contact:ru_1").input("{{ contact.name }}")
    at.text_input(key="ch_r11_param_wa-business_hde_first_contact:ru_2").input("{{ ticket.id }}")
    at.radio(key="ch_r12_mode_wa-business").set_value("send")
    at.button(key="ch_r11_save_wa-business").click().run()
    assert not at.exception
    assert "default template hde_first_contact:ru" in at.success[0].value
    settings = get_wa_settings(console_app, "wa-business")
    assert settings.ready and settings.send_after_template
    assert settings.default_template_params == {"1": "{{ contact.name }}", "2": "{{ ticket.id }}"}
    assert (
        at.code[0].value
        == "Здравствуйте, {{ contact.name }}! По заявке №{{ ticket.id }} есть новости."
    )
    # a PENDING template is not offered as the default
    assert "black_friday:en" not in at.selectbox(key="ch_r11_default_wa-business").options


def test_department_smtp_url_is_masked_and_the_server_tried(console_app, seeded, smtp_sink):  # noqa: F811
    at = run_page(PAGE, role="admin", lang="en")
    depts = table(at, "SMTP server").set_index("Department")
    assert depts.loc["First line", "SMTP server"] == "smtp://bot:••••@127.0.0.1:9"
    host_port = smtp_sink.url.removeprefix("smtp://")
    at.text_input(key="dp_name_new").input("IT")
    at.text_input(key="dp_mailbox_new").input("IT@Company.com")
    at.text_input(key="dp_smtp_new").input(smtp_sink.url)
    at.button(key="dp_save_new").click().run()
    assert not at.exception
    assert "Department IT saved." in at.success[0].value
    assert f"The SMTP server answered: {host_port}" in at.success[0].value
    depts = table(at, "SMTP server").set_index("Department")
    assert depts.loc["IT", "Sender mailbox"] == "IT@company.com"
    assert depts.loc["IT", "SMTP server"] == smtp_sink.url
    assert SMTP_PASSWORD not in page_text(at)
    # a server that refuses is said so, and the department is still saved
    at.selectbox(key="dp_pick").select("First line").run()
    assert at.text_input(key="dp_smtp_First line").placeholder == "smtp://bot:••••@127.0.0.1:9"
    at.button(key="dp_save_First line").click().run()
    assert "The SMTP server did not answer" in at.warning[0].value
    assert SMTP_PASSWORD not in page_text(at)


def test_custom_fields_notifications_and_prices(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="team_lead", lang="en")
    at.text_input(key="cf_key_new").input("City!")
    at.button(key="cf_save_new").click().run()
    assert "Key: small Latin letters" in at.error[0].value
    at.text_input(key="cf_key_new").input("city")
    at.text_input(key="cf_label_new").input("City")
    at.button(key="cf_save_new").click().run()
    assert "Field city saved." in at.success[0].value
    with console_app.db.reader() as s:
        assert s.scalar(select(CustomField.label).where(CustomField.key == "city")) == "City"

    at.selectbox(key="nf_kind").select("agent_initiated").run()
    assert "**[#1024] Your order is ready**" in [m.value for m in at.markdown]
    at.text_area(key="nf_body_agent_initiated").input("Hello {{ contact.name }").run()
    assert any("cannot be rendered" in e.value for e in at.error)
    at.button(key="nf_save_agent_initiated").click().run()
    assert any("The template has a mistake in a tag" in e.value for e in at.error)

    at.selectbox(key="pr_category").select("marketing")
    at.text_input(key="pr_country").input("ru")
    at.text_input(key="pr_price").input("abc")
    at.button(key="pr_save").click().run()
    assert any("'abc' is not a price" in e.value for e in at.error)
    at.text_input(key="pr_price").input("0,09")
    at.button(key="pr_save").click().run()
    with console_app.db.reader() as s:
        assert str(s.scalar(select(Price.price).where(Price.country == "RU"))) == "0.0900"


def test_opt_out_list_for_every_reader(console_app, seeded):  # noqa: F811
    at = run_page(PAGE, role="viewer", lang="en")
    opt_outs = table(at, "Why")
    assert list(opt_outs["Recipient"]) == ["79120000004"]
    assert list(opt_outs["Why"]) == ["STOP"] and list(opt_outs["Name"]) == ["Пётр Сидоров"]
    assert at.get("download_button")


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("en", "saved under an old key — enter it again"),
        ("ru", "сохранено под старым ключом — введите заново"),
    ],
)
def test_secrets_saved_under_an_old_key_ask_to_be_entered_again(console_app, seeded, lang, words):  # noqa: F811
    """Issue 14.6: after HDE_SECRET_KEY changed, stored secrets are not "not set"."""
    old = SecretBox("an-older-secret-key-0123456789")
    with console_app.db.transaction() as s:
        tg = s.scalar(select(Channel).where(Channel.name == "telegram"))
        tg.credentials_enc = old.encrypt_json({"bot_token": "123:old-token-abcd"})
        tg.webhook_secret_enc = old.encrypt("old-hook-secret")
        dept = s.scalar(select(Department).where(Department.name == "First line"))
        dept.smtp_url_enc = old.encrypt("smtp://bot:pw@127.0.0.1:25")
    at = run_page(PAGE, role="admin", lang=lang, ch_pick="telegram", dp_pick="First line")
    assert not at.exception
    assert at.text_input(key="ch_cred_telegram_bot_token").placeholder == words
    assert at.text_input(key="ch_secret_telegram").placeholder == words
    assert at.text_input(key="dp_smtp_First line").placeholder == words
    assert words in page_text(at)  # the departments table says it too
    # a team lead sees the same in the read-only list
    at = run_page(PAGE, role="team_lead", lang=lang, ch_pick="telegram")
    assert words in page_text(at)
