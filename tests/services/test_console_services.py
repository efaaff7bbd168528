"""The services behind the console's monitoring and settings pages, on SQLite and PostgreSQL:
settings saved through provisioning's validation with secrets write-only and masked, role
checks, the window monitor, a campaign's recipients and its statuses over time, exports,
and user administration."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hde_core.db.models import AuditEvent, Channel, Department
from hde_core.errors import PermissionDenied, Refused
from hde_core.services.authz import SYSTEM
from hde_core.services.delivery import (
    campaign_recipients,
    explain_error,
    export_bytes,
    iter_campaign_recipients,
    statuses_over_time,
)
from hde_core.services.settings import (
    SettingsInvalid,
    list_channels,
    list_departments,
    list_opt_outs,
    preview_notification,
    save_channel,
    save_department,
    save_notification_template,
)
from hde_core.services.users import add_user, list_users, set_active, set_role
from hde_core.services.windows import CLOSING_SOON, held_messages, open_windows
from tests.console.seed import SMTP_PASSWORD, seed_console

TOKEN = "123456:TELEGRAM-SECRET-TOKEN-abcd"


@pytest.fixture
def seeded(app, tmp_path):
    for role in ("admin", "team_lead"):
        add_user(app, role, role, "password-1234", SYSTEM)
    return seed_console(app, tmp_path)


def stored(app, name):
    with app.db.reader() as s:
        c = s.scalar(select(Channel).where(Channel.name == name))
        return c, app.secrets.decrypt_json(c.credentials_enc)


# -- settings ---------------------------------------------------------------------------------


def test_channel_edit_keeps_blank_secrets_and_audits_names_not_values(app, seeded):
    saved = save_channel(
        app,
        {"name": "telegram", "credentials": {"bot_token": ""}, "rate_per_sec": 3, "burst": 2},
        "admin",
        check=False,
    )
    assert saved.changes == ["rate_per_sec", "burst"]  # the rest is kept, secrets too
    channel, creds = stored(app, "telegram")
    assert creds == {"bot_token": TOKEN} and channel.rate_per_sec == 3 and channel.burst == 2
    save_channel(
        app,
        {"name": "telegram", "credentials": {"bot_token": "999:NEW-TOKEN-zzzz"}},
        "admin",
        check=False,
    )
    assert stored(app, "telegram")[1] == {"bot_token": "999:NEW-TOKEN-zzzz"}
    with app.db.reader() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.event == "settings_changed")).all()
    dumped = json.dumps([e.data for e in events], ensure_ascii=False)
    assert "credentials.bot_token" in dumped
    assert "NEW-TOKEN" not in dumped and "TELEGRAM-SECRET" not in dumped


def test_kind_and_provider_of_a_channel_never_change(app, seeded):
    save_channel(
        app, {"name": "telegram", "kind": "viber", "provider": "viber"}, "admin", check=False
    )
    channel, _ = stored(app, "telegram")
    assert (channel.kind, channel.provider) == ("telegram", "telegram")


def test_bad_channel_is_refused_per_field_and_nothing_written(app, seeded):
    with pytest.raises(SettingsInvalid) as caught:
        save_channel(
            app,
            {"name": "new one", "kind": "wa_business", "api_base": "ftp://x", "rate_per_sec": 0},
            "admin",
            check=False,
        )
    assert [p.name for p in caught.value.problems] == ["name", "api_base", "rate_per_sec"]
    assert caught.value.lines("en")[1] == "API address: must start with http:// or https://."
    with pytest.raises(SettingsInvalid) as caught:
        save_channel(app, {"name": "wa2", "kind": "wa_business"}, "admin", check=False)
    assert caught.value.lines("en") == [
        "Provider: choose a provider that serves this kind of channel."
    ]
    assert {c.name for c in list_channels(app)} == {"email", "telegram", "whatsapp", "wa-business"}


@pytest.mark.parametrize("actor", ["team_lead", "nobody"])
def test_only_an_admin_creates_channels_and_departments(app, seeded, actor):
    with pytest.raises(PermissionDenied):
        save_channel(app, {"name": "x", "kind": "telegram"}, actor, check=False)
    with pytest.raises(PermissionDenied):
        save_department(app, {"name": "IT", "mailbox": "it@company.com"}, actor)


def test_secrets_are_listed_masked(app, seeded):
    views = {v.name: v for v in list_channels(app)}
    assert views["telegram"].credentials == {"bot_token": "••••abcd"}
    assert views["telegram"].webhook_secret == "••••t-42"
    assert views["wa-business"].credentials["verify_token"] == ""  # asked for, not set
    assert views["wa-business"].credentials["access_token"] == "••••9876"
    (dept,) = list_departments(app)
    assert dept.smtp_url == "smtp://bot:••••@127.0.0.1:9" and dept.channels == ["email"]
    assert SMTP_PASSWORD not in repr(views) + repr(dept)


def test_department_keeps_its_smtp_url_when_left_empty(app, seeded):
    saved = save_department(
        app, {"name": "First line", "mailbox": "help@company.com", "smtp_url": ""}, "admin"
    )
    assert saved.changes == ["mailbox"] and saved.smtp_ok is False
    with app.db.reader() as s:
        dept = s.scalar(select(Department))
        assert SMTP_PASSWORD in app.secrets.decrypt(dept.smtp_url_enc)
    with pytest.raises(SettingsInvalid) as caught:
        save_department(app, {"name": "IT", "mailbox": "not-an-email"}, "admin")
    assert [p.name for p in caught.value.problems] == ["mailbox"]


def test_notification_template_is_checked_and_previewed(app, seeded):
    with pytest.raises(SettingsInvalid) as caught:
        save_notification_template(
            app, {"kind": "agent_initiated", "subject": "S", "body": "{{ x"}, "team_lead"
        )
    assert caught.value.problems[0].name == "body"
    assert save_notification_template(
        app, {"kind": "ticket_received", "subject": "Got {{ ticket.id }}", "body": "B"}, "team_lead"
    )
    rendered = preview_notification(
        app, "[#{{ ticket.id }}] {{ ticket.subject }}", "Order {{ ticket.fields.order_id }}", "en"
    )
    assert rendered.subject == "[#1024] Your order is ready"
    assert rendered.text == "Order <Order number>"


def test_opt_outs_paginated_and_searched(app, seeded):
    page = list_opt_outs(app)
    assert page.total == 1 and page.rows[0].reason == "STOP"
    assert list_opt_outs(app, channel="telegram").total == 0
    assert list_opt_outs(app, search="сидоров").total == 1
    assert list_opt_outs(app, limit=0).rows == []


# -- the window monitor --------------------------------------------------------------------------


def test_open_windows_closing_first_with_counts(app, seeded):
    found = open_windows(app)
    assert (found.total, found.closing_soon) == (2, 1)
    first, second = found.rows
    assert (first.contact, first.closing_soon) == ("Анна Петрова", True)
    assert first.seconds_left == 45 * 60
    assert second.channel == "telegram" and second.seconds_left == 22 * 3600
    assert [w.contact for w in open_windows(app, closing_within=CLOSING_SOON).rows] == [
        "Анна Петрова"
    ]
    assert open_windows(app, ["telegram"]).total == 1
    assert open_windows(app, search="79120000001").total == 1
    assert open_windows(app, limit=1, offset=1).rows[0].contact == "Игорь Смирнов"


def test_held_message_with_its_template_and_window(app, seeded, clock):
    held = held_messages(app)
    assert held.total == 1
    (row,) = held.rows
    assert (row.contact, row.template_status, row.window_open) == (
        "Мария Иванова",
        "delivered",
        False,
    )
    clock.advance(hours=1)  # Анна's window has closed now
    assert open_windows(app).total == 1


# -- a campaign's recipients and charts ---------------------------------------------------------------


def test_recipients_page_filters_and_export_chunks(app, seeded):
    page = campaign_recipients(app, seeded.campaign_id, limit=2)
    assert page.total == 5 and [r.message_id for r in page.rows] == [1, 2]
    failed = campaign_recipients(app, seeded.campaign_id, statuses=["failed"])
    assert failed.total == 1
    assert failed.rows[0].error("en") == (
        "The client cannot be reached here (no account, blocked us or unsubscribed) "
        "(131026 Message undeliverable)"
    )
    assert campaign_recipients(app, seeded.campaign_id, channel="telegram").total == 1
    assert campaign_recipients(app, seeded.campaign_id, search="иванова").total == 2
    every = list(iter_campaign_recipients(app, seeded.campaign_id, chunk=2))
    assert [r.message_id for r in every] == [1, 2, 3, 4, 5]


def test_statuses_over_time_per_hour_in_utc_each_message_once(app, seeded):
    rows = statuses_over_time(app, seeded.campaign_id)
    sent_hour = (seeded.now - timedelta(minutes=149)).replace(minute=0, second=0, microsecond=0)
    by_status = {}
    for r in rows:
        assert r["time"].tzinfo is not None and r["time"].minute == 0
        by_status[r["status"]] = by_status.get(r["status"], 0) + r["count"]
    # five messages, each under the furthest status it reached (not once per event)
    assert by_status == {"sent": 1, "delivered": 1, "read": 1, "failed": 1, "held": 1}
    assert min(r["time"] for r in rows) == sent_hour.astimezone(UTC)
    days = statuses_over_time(app, seeded.campaign_id, bucket="day")
    assert {r["time"].hour for r in days} == {0}


def test_explain_error_and_excel_safe_export():
    assert explain_error(None, None, None) == ""
    assert explain_error("auth", "401", "Unauthorized", "en").startswith(
        "The channel's credentials"
    )
    data = export_bytes(["name", "n"], [["=cmd()", 1], ["+7 912", None]])
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert rows == [["name", "n"], ["'=cmd()", "1"], ["'+7 912", ""]]
    xlsx = export_bytes(["name"], [["=cmd()"]], "xlsx")
    assert xlsx[:2] == b"PK"


# -- users ------------------------------------------------------------------------------------------


def test_user_administration_guards(app):
    add_user(app, "boss", "admin", "password-1234", SYSTEM)
    add_user(app, "lead", "team_lead", "password-1234", SYSTEM)
    with pytest.raises(PermissionDenied):
        set_role(app, "boss", "agent", "lead")
    with pytest.raises(Refused):
        set_role(app, "boss", "agent", "boss")  # the last admin
    assert set_role(app, "lead", "admin", "boss") is True
    assert set_role(app, "boss", "agent", "lead") is True  # now someone else is an admin
    with pytest.raises(Refused):
        set_active(app, "lead", False, "lead")  # not oneself
    assert set_active(app, "boss", False, "lead") is True
    assert {u.login: u.is_active for u in list_users(app)} == {"boss": False, "lead": True}
    assert isinstance(list_users(app)[0].created_at, datetime)
