"""End to end over real HTTP for Telegram, Viber and unofficial WhatsApp (Green-API):
a simulated client writes → the simulator POSTs the webhook (registered through the
provider's real call, with its real secret or signature) → our receiver records it →
``hde ticket`` (a subprocess, as a user runs it) sends through the simulator.

Covers R3 (only clients who wrote), R10 (gray WhatsApp needs the risk acknowledgement),
R15 (opt-outs), and ``hde poll`` for deployments without a public URL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from hde_core.bootstrap import bootstrap
from hde_core.db.models import AuditEvent, ContactIdentity, Message
from hde_core.dispatch.immediate import initiate_ticket
from hde_core.errors import Refused
from hde_core.services.channel_checks import register_webhooks
from hde_core.services.tickets import TicketRequest
from tests.channels.messengers import control, messengers, sim_config, wait_until
from tests.conftest import TEST_SECRET, make_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(app, tmp_path):
    with messengers(app, tmp_path) as info:
        yield info


@pytest.fixture
def cli_app(sqlite_url, data_dir, clock):
    """The CLI tests run ``hde`` as a subprocess: SQLite only (the database behaviour is
    covered on both databases by the service-level tests here)."""
    application = bootstrap(make_settings(sqlite_url, data_dir), clock=clock)
    yield application
    application.close()


@pytest.fixture
def cli_env(cli_app, tmp_path):
    with messengers(cli_app, tmp_path) as info:
        yield info


@pytest.fixture
def cli_live(cli_app, cli_env):
    assert all(r.ok for r in register_webhooks(cli_app, cli_env["url"], actor="test"))
    return cli_env


@pytest.fixture
def live(app, env):
    """Webhooks registered for all three channels, simulated clients quick to answer."""
    for provider in ("telegram", "viber", "greenapi"):
        sim_config(env, provider, status_delay_s=0.05, reply_delay_s=0.05)
    assert all(r.ok for r in register_webhooks(app, env["url"], actor="test"))
    return env


def hde(app, data_dir, *args):
    """Run ``hde`` as a user would, against the same database as the test's receiver."""
    env = {
        **os.environ,
        "HDE_DATABASE_URL": app.settings.database_url,
        "HDE_SECRET_KEY": TEST_SECRET,
        "HDE_DATA_DIR": str(data_dir),
        "HDE_LANG": "en",
        "HDE_ACTOR": "lead",
    }
    return subprocess.run(
        [sys.executable, "-m", "hde_core", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def identity(app, channel_name, address):
    from hde_core.db.models import Channel

    with app.db.reader() as s:
        return s.scalar(
            select(ContactIdentity)
            .join(Channel, Channel.id == ContactIdentity.channel_id)
            .where(Channel.name == channel_name, ContactIdentity.address == address)
        )


def ticket(app, channel, to, body="Ваш заказ готов"):
    return initiate_ticket(
        app, TicketRequest(channel=channel, to=to, subject="Заказ", body=body), "agent"
    )


def refusal(app, channel, to):
    with pytest.raises(Refused) as exc:
        ticket(app, channel, to)
    return [e.code for e in exc.value.errors]


def message_status(app, message_id):
    with app.db.reader() as s:
        return s.get(Message, message_id).status


# -- Telegram ----------------------------------------------------------------------------


def test_telegram_start_then_hde_ticket_by_username(cli_app, cli_live, data_dir):
    app, live = cli_app, cli_live
    never = hde(
        app,
        data_dir,
        "ticket",
        "--channel",
        "telegram",
        "--to",
        "@ann_lee",
        "--subject",
        "Заказ",
        "--body",
        "Текст",
        "--json",
    )
    assert never.returncode == 1  # Ann has not written to the bot yet (R3)
    assert json.loads(never.stdout)["errors"][0]["code"] == "no_prior_contact"

    user = live["tg_bot_id"] * 100 + 1
    control(live["telegram"], f"users/{user}/write", text="/start", username="Ann_Lee")
    who = wait_until(lambda: identity(app, "telegram", str(user)))
    assert who is not None and who.username == "ann_lee"

    done = hde(
        app,
        data_dir,
        "ticket",
        "--channel",
        "telegram",
        "--to",
        "@ann_lee",
        "--subject",
        "Заказ",
        "--body",
        "Ваш заказ №17 готов",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["recipient"], result["action"], result["message_status"]) == (
        str(user),
        "send",
        "sent",
    )
    sent = httpx.get(f"{live['telegram']}/_control/bots/{live['tg_bot_id']}/sent").json()
    assert result["messages"][0]["provider_message_id"] == f"{user}:{sent[-1]['message_id']}"
    assert [m["text"] for m in sent] == ["Ваш заказ №17 готов"]  # nothing went out for R3


def test_telegram_block_is_an_opt_out_until_the_client_writes_again(app, live):
    user = live["tg_bot_id"] * 100 + 2
    control(live["telegram"], f"users/{user}/write")
    assert wait_until(lambda: identity(app, "telegram", str(user)))
    control(live["telegram"], f"users/{user}/block")
    assert wait_until(lambda: identity(app, "telegram", str(user)).opted_out_at)
    assert refusal(app, "telegram", str(user)) == ["opted_out"]
    # Telegram dates are whole seconds; only a message after the block lifts it (R15)
    time.sleep(1.05)
    control(live["telegram"], f"users/{user}/write", text="Извините, это снова я")
    assert wait_until(lambda: identity(app, "telegram", str(user)).opted_out_at is None)
    assert ticket(app, "telegram", str(user)).status == "sent"


def test_telegram_403_blocked_at_send_time_fails_and_opts_out(app, env):
    """The block update never reached us (webhook asked for messages only)."""
    user = env["tg_bot_id"] * 100 + 3
    token = env["tg_token"]
    answer = httpx.post(
        f"{env['telegram']}/bot{token}/setWebhook",
        json={
            "url": f"{env['url']}/webhooks/telegram",
            "secret_token": f"tg-secret-{env['n']}",
            "allowed_updates": ["message"],
        },
    )
    assert answer.json()["ok"]
    control(env["telegram"], f"users/{user}/write")
    assert wait_until(lambda: identity(app, "telegram", str(user)))
    control(env["telegram"], f"users/{user}/block")
    result = ticket(app, "telegram", str(user))
    assert result.status == "failed"
    assert "bot was blocked by the user" in result.messages[0].error_text
    assert identity(app, "telegram", str(user)).opted_out_at is not None
    assert refusal(app, "telegram", str(user)) == ["opted_out"]


def test_hde_poll_receives_updates_without_a_webhook(cli_app, cli_env, data_dir):
    app, env = cli_app, cli_env
    user = env["tg_bot_id"] * 100 + 4
    control(env["telegram"], "users", id=user, first_name="Oleg")  # bot known via the check
    from hde_core.services.channel_checks import check_channel

    assert check_channel(app, "telegram", "lead").ok
    control(env["telegram"], f"users/{user}/write", text="/start")
    control(env["telegram"], f"users/{user}/write", text="Где мой заказ?")
    first = hde(app, data_dir, "poll", "--channel", "telegram", "--once", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {"updates": 2, "recorded": {"inbound": 2}}
    assert identity(app, "telegram", str(user)).first_inbound_at is not None
    again = hde(app, data_dir, "poll", "--channel", "telegram", "--once", "--json")
    assert json.loads(again.stdout)["updates"] == 0  # confirmed by the offset


def test_hde_poll_explains_a_webhook_conflict_and_other_channels(cli_app, cli_live, data_dir):
    app = cli_app
    done = hde(app, data_dir, "poll", "--channel", "telegram", "--once")
    assert done.returncode == 1
    assert "--delete-webhook" in done.stderr
    fixed = hde(app, data_dir, "poll", "--channel", "telegram", "--once", "--delete-webhook")
    assert fixed.returncode == 0, fixed.stderr
    viber = hde(app, data_dir, "poll", "--channel", "viber", "--once")
    assert viber.returncode == 2 and "Telegram" in viber.stderr


# -- Viber -------------------------------------------------------------------------------


def test_viber_client_who_wrote_gets_the_message_and_statuses_arrive(app, live):
    user = f"e2eViber{live['n']:04d}A=="
    control(live["viber"], f"users/{user}/write", text="Здравствуйте")
    assert wait_until(lambda: identity(app, "viber", user))
    result = ticket(app, "viber", user)
    assert result.status == "sent"
    message_id = result.messages[0].id
    assert wait_until(lambda: message_status(app, message_id) == "read")


def test_viber_unsubscribed_opts_out_and_the_next_ticket_is_refused(app, live):
    user = f"e2eViber{live['n']:04d}B=="
    control(live["viber"], f"users/{user}/write")
    assert wait_until(lambda: identity(app, "viber", user))
    control(live["viber"], f"users/{user}/unsubscribe")
    assert wait_until(lambda: identity(app, "viber", user).opted_out_at)
    assert refusal(app, "viber", user) == ["opted_out"]


def test_viber_conversation_started_alone_is_not_prior_contact(app, live):
    user = f"e2eViber{live['n']:04d}C=="
    control(live["viber"], f"users/{user}/open")
    control(live["viber"], f"users/{user}/write")  # a marker that arrives after it
    assert wait_until(lambda: identity(app, "viber", user))
    other = f"e2eViber{live['n']:04d}D=="
    control(live["viber"], f"users/{other}/open")
    assert refusal(app, "viber", other) == ["no_prior_contact"]


# -- unofficial WhatsApp (Green-API), R10 ---------------------------------------------------


def test_gray_whatsapp_needs_the_risk_acknowledgement(cli_app, cli_live, data_dir):
    app, live = cli_app, cli_live
    for provider in ("telegram", "viber", "greenapi"):
        sim_config(live, provider, status_delay_s=0.05, reply_delay_s=0.05)
    phone = "+79123450001"
    control(live["greenapi"], f"contacts/{phone}/write", instance=live["instance"], text="Привет")
    assert wait_until(lambda: identity(app, "whatsapp", phone))
    assert refusal(app, "whatsapp", "8 912 345-00-01") == ["initiation_disabled"]

    refused = hde(app, data_dir, "channel", "initiation", "whatsapp", "--enable")
    assert refused.returncode == 1
    assert "--acknowledge-risk" in refused.stderr
    assert refusal(app, "whatsapp", phone) == ["initiation_disabled"]  # nothing changed

    enabled = hde(
        app,
        data_dir,
        "channel",
        "initiation",
        "whatsapp",
        "--enable",
        "--acknowledge-risk",
        "--json",
    )
    assert enabled.returncode == 0, enabled.stderr
    state = json.loads(enabled.stdout)
    assert (state["initiation_enabled"], state["risk_ack_by"]) == (True, "lead")
    with app.db.reader() as s:
        trail = s.scalars(
            select(AuditEvent).where(
                AuditEvent.event == "settings_changed", AuditEvent.actor == "lead"
            )
        ).all()
    assert any(a.data.get("setting") == "initiation" and a.data.get("enabled") for a in trail)

    result = ticket(app, "whatsapp", "8 912 345-00-01")
    assert result.status == "sent"
    assert result.messages[0].provider_message_id.startswith("79123450001@c.us_")
    assert wait_until(lambda: message_status(app, result.messages[0].id) == "read")


def test_gray_whatsapp_stop_reply_is_an_opt_out(app, live):
    from hde_core.services.channel_settings import set_initiation

    set_initiation(app, "whatsapp", True, "lead", acknowledge_risk=True)
    phone = "+79123450002"
    sim_config(live, "greenapi", opt_out_probability=1.0)
    control(live["greenapi"], f"contacts/{phone}/write", instance=live["instance"])
    assert wait_until(lambda: identity(app, "whatsapp", phone))
    assert ticket(app, "whatsapp", phone).status == "sent"
    assert wait_until(lambda: identity(app, "whatsapp", phone).opted_out_at)  # wrote "СТОП"
    assert refusal(app, "whatsapp", phone) == ["opted_out"]


def test_hde_channel_check_reports_each_channel(cli_app, cli_live, data_dir):
    app, live = cli_app, cli_live
    control(live["greenapi"], f"instances/{live['instance']}/state", state="notAuthorized")
    done = hde(app, data_dir, "channel", "check")
    assert done.returncode == 1
    assert "Channel 'telegram': connected" in done.stdout
    assert "Channel 'whatsapp': not connected" in done.stderr and "QR code" in done.stderr
