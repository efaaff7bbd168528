"""R14 connection checks and webhook registration, against the simulators over real HTTP."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from hde_core.db.models import AuditEvent, Channel, Message
from hde_core.dispatch.immediate import deliver_now, initiate_ticket
from hde_core.errors import NotFound
from hde_core.services.authz import DEMO, SYSTEM
from hde_core.services.channel_checks import (
    check_channel,
    check_channels,
    periodic_check,
    register_webhooks,
)
from hde_core.services.provision import provision
from hde_core.services.tickets import TicketRequest
from tests.channels.messengers import control, messengers, wait_until
from tests.staff import seed_staff


@pytest.fixture(autouse=True)
def english(monkeypatch):
    """Stored errors are in the deployment's language (HDE_LANG); these tests read English."""
    monkeypatch.setenv("HDE_LANG", "en")


@pytest.fixture
def env(app, tmp_path):
    with messengers(app, tmp_path) as info:
        yield info


def channel(app, name):
    with app.db.reader() as s:
        return s.scalar(select(Channel).where(Channel.name == name))


def audits(app, event, **data):
    with app.db.reader() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.event == event)).all()
    return [r for r in rows if all(r.data.get(k) == v for k, v in data.items())]


def test_every_channel_is_checked_and_the_result_stored(app, env, clock):
    results = check_channels(app, actor="lead")
    assert {r.channel: r.ok for r in results} == {"telegram": True, "viber": True, "whatsapp": True}
    by_name = {r.channel: r.detail for r in results}
    assert by_name["telegram"] == f"@hde_sandbox_{env['tg_bot_id']}_bot"
    assert by_name["viber"] == "HDE Sandbox"
    for name in ("telegram", "viber", "whatsapp"):
        row = channel(app, name)
        assert (row.connection_status, row.connection_error) == ("connected", None)
        assert row.status_checked_at == clock.now()
    assert len(audits(app, "channel_checked", ok=True)) == 3
    with app.db.reader() as s:
        assert set(
            s.scalars(select(AuditEvent.actor).where(AuditEvent.event == "channel_checked"))
        ) == {"lead"}


@pytest.mark.parametrize(
    ("name", "break_it", "words"),
    [
        (
            "telegram",
            lambda env: control(env["telegram"], f"bots/{env['tg_bot_id']}/revoke"),
            "@BotFather",
        ),
        (
            "whatsapp",
            lambda env: control(
                env["greenapi"], f"instances/{env['instance']}/state", state="notAuthorized"
            ),
            "QR",
        ),
        (
            "whatsapp",
            lambda env: control(
                env["greenapi"], f"instances/{env['instance']}/state", state="yellowCard"
            ),
            "spam",
        ),
    ],
)
def test_a_failed_check_stores_the_error_in_plain_words(app, env, name, break_it, words):
    assert check_channel(app, name, "lead").ok
    break_it(env)
    result = check_channel(app, name, "lead")
    assert not result.ok and words in result.detail
    row = channel(app, name)
    assert row.connection_status == "error" and words in row.connection_error
    assert audits(app, "channel_checked", ok=False)[-1].data["detail"] == result.detail


def test_viber_with_a_revoked_token_is_not_connected(app, env):
    assert check_channel(app, "viber", "lead").ok
    info = httpx.post(
        f"{env['viber']}/get_account_info",
        json={},
        headers={"X-Viber-Auth-Token": env["viber_token"]},
    ).json()
    control(env["viber"], f"bots/{info['id']}/revoke")
    result = check_channel(app, "viber", "lead")
    assert not result.ok and "invalidAuthToken" in result.detail


def test_a_check_that_succeeds_again_reconnects_a_disconnected_channel(app, env, clock):
    user = env["tg_bot_id"] * 10
    check_channel(app, "telegram", "lead")  # the bot exists at the simulator
    register_webhooks(app, env["url"], ["telegram"], actor="lead")
    control(env["telegram"], f"users/{user}/write", text="/start")
    assert wait_until(lambda: _has_identity(app, str(user)))
    control(env["telegram"], f"bots/{env['tg_bot_id']}/revoke")

    result = initiate_ticket(
        app, TicketRequest(channel="telegram", to=str(user), subject="S", body="Текст"), "agent"
    )
    assert result.status == "queued"  # not lost: back in the queue
    assert channel(app, "telegram").connection_status == "error"
    assert "@BotFather" in channel(app, "telegram").connection_error

    control(env["telegram"], f"bots/{env['tg_bot_id']}/revoke", revoked=False)
    periodic_check(app)
    assert channel(app, "telegram").connection_status == "connected"
    assert audits(app, "channel_checked", reconnected=True)

    clock.advance(minutes=2)
    deliver_now(app, [m.id for m in result.messages])
    with app.db.reader() as s:
        assert s.get(Message, result.messages[0].id).status == "sent"


def _has_identity(app, address):
    from hde_core.db.models import ContactIdentity

    with app.db.reader() as s:
        return s.scalar(select(ContactIdentity.id).where(ContactIdentity.address == address))


def test_the_periodic_check_audits_only_changes(app, env):
    periodic_check(app)
    periodic_check(app)
    with app.db.reader() as s:
        n = s.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.event == "channel_checked")
        )
    assert n == 3  # unknown → connected, once per channel
    assert {channel(app, c).connection_status for c in ("telegram", "viber", "whatsapp")} == {
        "connected"
    }


def test_an_unknown_channel_name_is_refused(app, env):
    with pytest.raises(NotFound):
        check_channel(app, "nope", "lead")


def test_webhooks_are_registered_with_each_providers_own_call(app, env):
    results = register_webhooks(app, env["url"] + "/", actor=DEMO)
    assert {(r.channel, r.ok, r.url) for r in results} == {
        (name, True, f"{env['url']}/webhooks/{name}") for name in ("telegram", "viber", "whatsapp")
    }
    assert len(audits(app, "settings_changed", setting="webhook", ok=True)) == 3
    # and the providers now deliver to the receiver: a Telegram /start is recorded
    control(env["telegram"], f"users/{env['tg_bot_id']}7/write")
    assert wait_until(lambda: _has_identity(app, f"{env['tg_bot_id']}7"))


def test_a_channel_that_cannot_verify_its_webhooks_is_not_registered(app, env, tmp_path):
    path = tmp_path / "nosecret.toml"
    path.write_text(
        f'[[channels]]\nname = "tg-open"\nkind = "telegram"\napi_base = "{env["telegram"]}"\n'
        'credentials = { bot_token = "99:NO-SECRET-TOKEN" }\n',
        encoding="utf-8",
    )
    provision(app, path, actor=SYSTEM)
    seed_staff(app)
    names = {r.channel for r in register_webhooks(app, env["url"], actor=DEMO)}
    assert "tg-open" not in names
    (named,) = register_webhooks(app, env["url"], ["tg-open"], actor=DEMO)
    assert not named.ok and "webhook_secret" in named.detail


def test_the_error_is_stored_in_the_deployments_language(app, env, monkeypatch):
    monkeypatch.setenv("HDE_LANG", "ru")  # the process default differs from the app's (en)
    assert check_channel(app, "whatsapp", "lead").ok
    control(env["greenapi"], f"instances/{env['instance']}/state", state="notAuthorized")
    result = check_channel(app, "whatsapp", "lead")
    assert result.detail.startswith("WhatsApp is not linked")
    assert channel(app, "whatsapp").connection_error == result.detail
